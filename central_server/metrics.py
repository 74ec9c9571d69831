"""The centre's `/metrics`: Prometheus text of intake, decisions, de-duplication and uploads.

Counters and the histogram are counted where things happen (intake, the dedup engine) by the
process that did them. With `--workers N` every worker is its own process, so they use
prometheus-client's multiprocess mode: `serve` points `PROMETHEUS_MULTIPROC_DIR` at a directory
of its own under the data dir, emptied at each start, before the workers are forked; each worker
writes its values to files there, and whichever worker answers a scrape sums them all. Figures
the database holds (identities, submissions waiting for de-duplication) are read from it at
scrape time, so they need no multiprocess handling, and the centre has no live gauge that would.
No personal data: counts and seconds only.
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: seconds one de-duplication batch may take: from a handful of submissions to a full batch
DEDUP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# one worker or several, the same series: multiprocess mode has no `_created` timestamps
disable_created_metrics()  # type: ignore[no-untyped-call]


def use_multiprocess_dir(data_dir: Path) -> None:
    """Put this process, and the workers `serve --workers N` forks from it, in multiprocess
    mode, with the values in a directory of the deployment's, emptied now (files of an earlier
    run's processes would be summed with this run's).

    prometheus-client picks its value class from PROMETHEUS_MULTIPROC_DIR when it is first
    imported, and the command line has imported it (the demo's network simulator) before the
    data dir is known: so the choice is made again here, before any of the centre's metrics
    exists; forked workers inherit it (each writes files of its own pid).
    """
    directory = data_dir / "prometheus"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def multiprocess() -> bool:
    """Whether this process's metric values live in files (decided by prometheus-client when it
    is first imported, from PROMETHEUS_MULTIPROC_DIR): one worker of several."""
    return values.ValueClass is not values.MutexValue and bool(os.environ.get(MULTIPROC_ENV))


class _FromDatabase(Collector):
    """Gauges whose values the scrape reads from the database just before it renders."""

    def __init__(self) -> None:
        self.identities = 0
        self.pending = 0

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "ektp_identities", "Distinct persons enrolled at the centre", value=self.identities
        )
        yield GaugeMetricFamily(
            "ektp_dedup_pending",
            "Submissions stored and waiting for de-duplication",
            value=self.pending,
        )


class _WorkersCollector(MultiProcessCollector):
    """Every worker's values files summed, leaving out a file a starting worker has created but
    not yet sized (0 bytes: it holds nothing yet). prometheus-client reads every file and fails
    the whole scrape (a 500) on such a one; workers start together, and again whenever one
    dies and is replaced, so a scrape can meet one at any time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        files = [f for f in glob.glob(os.path.join(self._path, "*.db")) if _sized(f)]
        return self.merge(files, accumulate=True)  # type: ignore[no-any-return,no-untyped-call]


def _sized(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except FileNotFoundError:  # gone since the glob: nothing to sum
        return False


class CentreMetrics:
    """The centre's counters, and their rendering for one scrape."""

    def __init__(self) -> None:
        self.multiprocess = multiprocess()
        # per-instance registries (several centres may live in one test process); in
        # multiprocess mode the values are in files and the collector below reads them all
        own = None if self.multiprocess else CollectorRegistry(auto_describe=True)
        self._enrollments = Counter(
            "ektp_enrollments",
            "Submissions taken in, by result: accepted (stored to decide), invalid (stored, "
            "refused), repeat (a submission_id sent again, answered as the first time)",
            ["result"],
            registry=own,
        )
        self._decisions = Counter(
            "ektp_decisions",
            "Decisions made, by status and reason",
            ["status", "reason"],
            registry=own,
        )
        self._dedup_seconds = Histogram(
            "ektp_dedup_seconds",
            "Seconds one de-duplication batch took (match and write), per batch that decided "
            "at least one submission",
            buckets=DEDUP_BUCKETS,
            registry=own,
        )
        self._upload_bytes = Counter(
            "ektp_upload_bytes",
            "Attachment bytes of resumable uploads committed (chunks acknowledged)",
            registry=own,
        )
        self._uploads = Counter(
            "ektp_uploads",
            "Uploads that ended, by result: complete (whole and verified), resend_requested "
            "(SHA-256 not the manifest's: discarded, asked again), upload_expired, terminated",
            ["result"],
            registry=own,
        )
        self._database = _FromDatabase()
        # the shared registry without auto_describe, as prometheus-client's multiprocess
        # example has it: auto_describe would collect at registration, reading every worker's
        # files while the others, started at the same moment, are still creating theirs (a file
        # of 0 bytes fails that read, and the worker's start with it)
        self._registry = own or CollectorRegistry()
        if self.multiprocess:
            _WorkersCollector(self._registry)
        self._registry.register(self._database)

    def took_in(self, results: Iterable[str]) -> None:
        for result in results:
            self._enrollments.labels(result).inc()

    def decided(self, decisions: Iterable[tuple[str, str]], seconds: float | None = None) -> None:
        """Decisions (status, reason) just committed; `seconds` the batch took, if a batch."""
        for status, reason in decisions:
            self._decisions.labels(status, reason).inc()
        if seconds is not None:
            self._dedup_seconds.observe(seconds)

    def uploaded(self, chunk_bytes: int, ended: str | None = None) -> None:
        """A committed chunk of `chunk_bytes` (0 for none), and how an upload ended, if it did."""
        if chunk_bytes:
            self._upload_bytes.inc(chunk_bytes)
        if ended is not None:
            self._uploads.labels(ended).inc()

    def render(self, identities: int, pending: int) -> bytes:
        self._database.identities, self._database.pending = identities, pending
        return generate_latest(self._registry)
