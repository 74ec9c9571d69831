"""The running centre's parts, built once per process and split by concern.

Each route or loop is handed only the parts it uses (see deps.py), never the whole: the store's
engine, the signer, the API keys, intake (with the `arrived` wake-up of the dedup worker), the
feed (with the `decided` pulse and the `closing` flag of long polls), the views, the dedup engine
(with its gallery and lock), the injected faults, the body limits, the metrics, and the
packets (resumable uploads).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from central_server.auth import ApiKeys
from central_server.dedup.engine import DedupEngine
from central_server.dedup.gallery import INITIAL_CAPACITY
from central_server.dedup.rows import rows_from_env
from central_server.dedup.worker import DedupWorker
from central_server.faults import FaultInjector
from central_server.feed import Feed
from central_server.intake import Intake
from central_server.metrics import CentreMetrics
from central_server.packets import Packets
from central_server.store import CentreStore
from central_server.views import Views
from central_server.waiting import Pulse
from ektp_sync.body import BodyLimits
from ektp_sync.config import CentralSettings
from ektp_sync.rotation import RotatingSigner
from ektp_sync.signing import Signer


@dataclass
class CentreParts:
    store: CentreStore
    signer: Signer
    keys: ApiKeys
    intake: Intake
    feed: Feed
    views: Views
    dedup: DedupEngine
    faults: FaultInjector
    body_limits: BodyLimits
    worker: DedupWorker  # the dedup loop of this process, run by the app's lifespan
    metrics: CentreMetrics
    packets: Packets  # the resumable uploads of heavy packets
    upload_expiry_seconds: float

    @classmethod
    def build(cls, settings: CentralSettings, body_limits: BodyLimits | None = None) -> CentreParts:
        """Every part for `settings`; the signing key is read (or created) now, the database is
        not touched until the first statement."""
        store = CentreStore.open(settings.database_url, settings.data_key())
        signer = Signer.load_or_create(settings.signing_key_file)
        next_from = settings.next_key_valid_from
        if settings.next_signing_key is not None and next_from is not None:
            signer = RotatingSigner(
                signer, Signer.load_or_create(settings.next_signing_key), next_from
            )
        decided = Pulse()
        metrics = CentreMetrics()
        intake = Intake(store.intake, settings.max_backlog, asyncio.Event(), metrics)
        dedup = DedupEngine(
            store.decisions,
            signer,
            settings.thresholds,
            on_commit=decided.pulse,
            metrics=metrics,
            rows=rows_from_env(INITIAL_CAPACITY),  # shared by the workers of `serve --workers N`
        )
        faults = FaultInjector()
        return cls(
            store=store,
            signer=signer,
            keys=ApiKeys(settings.offices, settings.admin_key),
            intake=intake,
            feed=Feed(store.feed, decided, closing=asyncio.Event(), signer=signer),
            views=Views(store.views, settings.offices),
            dedup=dedup,
            faults=faults,
            body_limits=body_limits
            or BodyLimits(raw_bytes=settings.max_body_bytes, decoded_bytes=settings.max_body_bytes),
            worker=DedupWorker(dedup, intake.arrived, settings.dedup_batch_size, faults),
            metrics=metrics,
            packets=Packets(
                store.uploads,
                dedup,
                store.key,  # the one data key, read once
                settings.upload_expiry_seconds,
                metrics,
            ),
            upload_expiry_seconds=settings.upload_expiry_seconds,
        )
