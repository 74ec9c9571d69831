"""Byte counters per proxy and direction, exposed at /metrics under Toxiproxy's metric names.

Pipes add to plain integers on every chunk (no lock, one event loop); a prometheus-client
collector turns them into `toxiproxy_proxy_received_bytes_total` / `..._sent_bytes_total`
with Toxiproxy's labels (direction, listener, proxy, upstream) only when /metrics is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

LABELS = ["direction", "listener", "proxy", "upstream"]  # the order Toxiproxy prints them in
CONTENT_TYPE = CONTENT_TYPE_LATEST


@dataclass
class ByteCounts:
    """Bytes one direction of a proxy read from its source and wrote to its destination."""

    received: int = 0
    sent: int = 0


class ProxyMetrics(Collector):
    """The counters of every proxy of one NetSim, and their Prometheus text rendering."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, str, str], ByteCounts] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(self)

    def counts(self, direction: str, listener: str, proxy: str, upstream: str) -> ByteCounts:
        """The counters a pipe adds to; shared by every connection with the same labels."""
        return self._counts.setdefault((direction, listener, proxy, upstream), ByteCounts())

    def collect(self) -> Iterator[CounterMetricFamily]:
        received = CounterMetricFamily(
            "toxiproxy_proxy_received_bytes",
            "Bytes the proxy read from the sending side of a link",
            labels=LABELS,
        )
        sent = CounterMetricFamily(
            "toxiproxy_proxy_sent_bytes",
            "Bytes the proxy wrote to the receiving side of a link",
            labels=LABELS,
        )
        for labels, counts in sorted(self._counts.items()):
            received.add_metric(list(labels), counts.received)
            sent.add_metric(list(labels), counts.sent)
        yield received
        yield sent

    def render(self) -> bytes:
        return generate_latest(self.registry)
