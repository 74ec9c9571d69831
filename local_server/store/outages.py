"""The link's outages as the node keeps them: one row each, open (no end) while it lasts.

Only one sync worker writes per database, so at most one outage is open at a time; rows older
than the kept history are pruned as new ones begin.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from local_server.store.tables import link_outages


@dataclass(frozen=True)
class Outage:
    started_at: dt.datetime
    ended_at: dt.datetime | None
    cause: str | None


class OutageStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def since(self, when: dt.datetime) -> list[Outage]:
        """Outages still open or ended after `when`, oldest first."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(link_outages.c.started_at, link_outages.c.ended_at, link_outages.c.cause)
                    .where(or_(link_outages.c.ended_at.is_(None), link_outages.c.ended_at > when))
                    .order_by(link_outages.c.started_at, link_outages.c.id)
                )
            ).all()
        return [Outage(*row) for row in rows]

    async def begin(self, outage: Outage, forget_before: dt.datetime) -> None:
        """Store a new outage (unless one is open already) and drop those that ended before
        `forget_before`."""
        async with self._engine.begin() as conn:
            await conn.execute(delete(link_outages).where(link_outages.c.ended_at < forget_before))
            still_open = await conn.scalar(
                select(link_outages.c.id).where(link_outages.c.ended_at.is_(None)).limit(1)
            )
            if still_open is None:
                await conn.execute(
                    insert(link_outages).values(
                        started_at=outage.started_at, ended_at=None, cause=outage.cause
                    )
                )

    async def end(self, ended_at: dt.datetime) -> None:
        """The open outage (if any) ended at `ended_at`."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(link_outages)
                .where(link_outages.c.ended_at.is_(None))
                .values(ended_at=ended_at)
            )
