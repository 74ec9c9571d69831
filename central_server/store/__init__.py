"""The centre's store: every SQL statement of the centre, behind a narrow async API.

No module of the centre outside this package builds SQL (the revisions in `migrations/` aside).
One `CentreStore` per process holds the engine; each concern uses its own part of it:
`intake` (idempotent intake, the backlog), `decisions` (de-duplication's transaction under the
cross-process lock), `feed` (the decision log after a position), `views` (one submission,
the counts) and `uploads` (the resumable uploads of heavy packets and their sealed chunks).
Where SQLite and PostgreSQL differ, `ektp_sync.storage` decides.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from central_server.store.decisions import DecisionStore
from central_server.store.feed import FeedStore
from central_server.store.intake import IntakeStore
from central_server.store.sealed import CentreSealer
from central_server.store.tables import SCHEMA
from central_server.store.uploads import UploadStore
from central_server.store.views import ViewStore
from ektp_sync.migrations import Upgrade, upgrade
from ektp_sync.sealing import DataKey
from ektp_sync.storage import create_engine


class CentreStore:
    def __init__(self, engine: AsyncEngine, key: DataKey) -> None:
        self.engine = engine
        self.key = key
        sealer = CentreSealer(key)
        self.intake = IntakeStore(engine, sealer)
        self.decisions = DecisionStore(engine, sealer)
        self.feed = FeedStore(engine, sealer)
        self.views = ViewStore(engine, sealer)
        self.uploads = UploadStore(engine, self.decisions)

    @classmethod
    def open(cls, url: str, key: DataKey) -> CentreStore:
        """A store over the database at `url`, personal data sealed under `key`; nothing
        connects until the first statement."""
        return cls(create_engine(url), key)

    async def migrate(self) -> Upgrade:
        """Bring the schema to head (creating it when empty); see ektp_sync.migrations.

        Safe with several processes starting at once: they take turns on an advisory lock.
        Then checks that the data key opens the data already there (SealError if not).
        """
        done = await upgrade(self.engine, SCHEMA, data_key=self.key)
        await self.views.check_key()
        return done

    async def close(self) -> None:
        await self.engine.dispose()
