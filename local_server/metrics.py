"""The office node's `/metrics`: the operator's figures in Prometheus text, for monitoring.

Read at scrape time from the same figures as `GET /status` (so the two never disagree) and the
link's exchange counters; counts, bytes and seconds only, never a NIK, a name or an id. One
process serves a node, so no multiprocess handling is needed. A figure not known yet (the rate
before the first upload, the link's state before the first exchange) is left out rather than
shown as 0.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from ektp_sync.wire import NodeStatus
from local_server.service import RecordService
from local_server.sync.meters import ExchangeCounts

CONTENT_TYPE = CONTENT_TYPE_LATEST

#: every kind of failed exchange, listed at 0 too so that rate() has a series from the start
FAILURE_KINDS = ("unreachable", "busy", "auth", "too_large", "protocol", "status", "internal")


class _Snapshot(Collector):
    def __init__(self, status: NodeStatus, counts: ExchangeCounts) -> None:
        self._status = status
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        status, counts = self._status, self._counts
        records = GaugeMetricFamily(
            "ektp_records", "Records on this node by state", labels=["state"]
        )
        for state, n in sorted(status.counts.items()):
            records.add_metric([state], n)
        yield records
        yield _gauge(
            "ektp_upload_pending", "Records not yet accepted by the centre", status.pending
        )
        yield _gauge(
            "ektp_upload_pending_bytes",
            "Bytes still to send (record bytes before gzip)",
            status.pending_bytes,
        )
        yield _gauge(
            "ektp_upload_oldest_pending_seconds",
            "Age of the oldest record not yet accepted by the centre (0: none waits)",
            status.oldest_pending_seconds or 0.0,
        )
        link = status.link
        if link.up is not None:
            yield _gauge("ektp_link_up", "1 while the link to the centre works", int(link.up))
        if link.rate_bytes_per_s is not None:
            yield _gauge(
                "ektp_link_rate_bytes_per_second",
                "Measured upload rate in record bytes per second",
                link.rate_bytes_per_s,
            )
        if link.rtt_ms is not None:
            yield _gauge(
                "ektp_link_rtt_seconds", "Measured round trip to the centre", link.rtt_ms / 1000
            )
        if status.eta_seconds is not None:
            yield _gauge(
                "ektp_upload_eta_seconds",
                "Estimated seconds until the backlog is sent",
                status.eta_seconds,
            )
        yield CounterMetricFamily(
            "ektp_upload_attempts",
            "Records offered to the centre, each try counted",
            value=counts.upload_attempts,
        )
        failures = CounterMetricFamily(
            "ektp_link_failures", "Failed exchanges with the centre by kind", labels=["kind"]
        )
        for kind in sorted({*FAILURE_KINDS, *counts.failures}):
            failures.add_metric([kind], counts.failures.get(kind, 0))
        yield failures


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


async def render(service: RecordService) -> bytes:
    """The Prometheus text of the node's figures as they are now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(await service.status(), service.exchange_counts()))
    return generate_latest(registry)
