"""One data key for the node's store tests that write rows themselves (a fixed key: the rows
are made up, and a failing test can be re-run against the same bytes)."""

from __future__ import annotations

from ektp_sync.sealing import DataKey
from local_server.store.sealed import NodeSealer

KEY = DataKey(bytes(range(32)))
SEALER = NodeSealer(KEY)
