"""The office node's store: its tables, migrations and every SQL statement it runs.

No module of the node outside this package builds SQL (the revisions in `migrations/` aside).
One `NodeStore` per process holds the engine; each concern uses its own part of it: `records`
(what the service asks for), `queue(owner)` (uploads, leased to one sync worker), `decisions`
(the centre's answers), `packets` (attachments sent apart, heavy packets), `figures` (what the
operator's estimates read), `outages` (the link's history), `audit` (what operators did) and
`search` (residents' names, for the console); `tables` is the schema and `transitions` every
change of a record's state. Where SQLite and PostgreSQL differ, `ektp_sync.storage` decides.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from ektp_sync.migrations import Upgrade
from ektp_sync.sealing import DataKey
from ektp_sync.storage import create_engine
from local_server.store.audit import AuditTrail
from local_server.store.decisions import Inbox
from local_server.store.figures import FigureStore
from local_server.store.group_commit import GroupCommit
from local_server.store.outages import OutageStore
from local_server.store.packets import PacketStore
from local_server.store.queue import Outbox
from local_server.store.records import RecordStore
from local_server.store.sealed import NodeSealer
from local_server.store.search import ResidentSearch
from local_server.store.tables import create_tables


class NodeStore:
    def __init__(self, engine: AsyncEngine, key: DataKey) -> None:
        self.engine = engine
        self.key = key
        self.sealer = NodeSealer(key)
        #: new recordings share durable commits (see group_commit)
        self.commits = GroupCommit(engine)
        self.records = RecordStore(engine, self.commits, self.sealer)
        self.decisions = Inbox(engine, self.sealer)
        self.figures = FigureStore(engine)
        self.outages = OutageStore(engine)
        self.audit = AuditTrail(engine)
        self.search = ResidentSearch(engine, self.sealer)
        self.packets = PacketStore(engine, self.sealer)

    @classmethod
    def open(cls, url: str, key: DataKey) -> NodeStore:
        """A store over the database at `url`, personal data sealed under `key`; nothing
        connects until the first statement."""
        return cls(create_engine(url), key)

    def queue(self, owner: str) -> Outbox:
        """The upload queue as seen by the worker `owner` (the holder of its leases)."""
        return Outbox(self.engine, owner, self.sealer)

    async def migrate(self) -> Upgrade:
        """Bring the schema to head (creating it when empty; see ektp_sync.migrations), then
        check that the data key opens the data already there (SealError if not)."""
        done = await create_tables(self.engine, self.key)
        await self.records.check_key()
        return done

    async def close(self) -> None:
        await self.commits.close()
        await self.engine.dispose()
