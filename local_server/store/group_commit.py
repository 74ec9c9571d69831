"""Group commit: concurrent writes share one durable transaction; each succeeds or fails alone.

A caller hands `GroupCommit.write` its statements (with their parameters) and is answered
once the transaction holding them is committed — on SQLite in WAL with `synchronous=FULL`, once
it is fsynced. While one group is being written, the writes that arrive meanwhile wait and go
together into the next: one commit (one fsync) for all of them, and no timer: a lone write is
committed at once. A member that fails (say a NIK already in flight: the unique index) is
rolled back alone (savepoints, see `apply_group`) and its caller gets its error, while the
others of the group are committed. Should the commit itself fail, every caller of the group
gets that error and nothing of the group is written. A caller that goes away (a dropped
request) before its group begins writes nothing; once its group has begun, it is written all
the same, like a request cut off by a crash (docs/guarantees.md, "Durability").

On SQLite the group runs on a thread of its own over a blocking connection: one hand-off per
group, where aiosqlite hands each statement to its thread and back (each hand-off waits for the
GIL and, on a busy machine, for a core). On PostgreSQL it runs on the async engine
(`run_sync`: asyncpg needs no thread).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Executable
from sqlalchemy.ext.asyncio import AsyncEngine

from ektp_sync.storage import is_sqlite, sqlite_writer_engine

#: a member's statements in order, each with its parameters (one row)
Write = Sequence[tuple[Executable, dict[str, Any]]]
#: at most this many writes per transaction (a burst beyond it is committed in several)
MAX_GROUP = 500


def apply_group(conn: Connection, writes: Sequence[Write]) -> list[Exception | None]:
    """Write the group; each member that fails is rolled back alone. Outcomes in order.

    First all together: when every member runs the same statements (the common case: new
    recordings), each statement once for all of them (one executemany), in one savepoint. Should
    that fail, the savepoint is rolled back and each member is written in a savepoint of its own,
    so only the members that fail by themselves fail. A write alone needs no savepoint: its error
    rolls back the transaction, which holds nothing else.
    """
    if len(writes) == 1:
        _run(conn, writes[0])
        return [None]
    together = _together(writes)
    if together is not None:
        try:
            with conn.begin_nested():
                _run(conn, together)
            return [None] * len(writes)
        except Exception:  # someone in the group failed: find out who, one by one
            pass
    outcomes: list[Exception | None] = []
    for write in writes:
        try:
            with conn.begin_nested():
                _run(conn, write)
        except Exception as exc:  # the member's own failure: its caller gets it, the rest go on
            outcomes.append(exc)
        else:
            outcomes.append(None)
    return outcomes


def _run(conn: Connection, steps: Sequence[tuple[Executable, Any]]) -> None:
    for statement, parameters in steps:
        conn.execute(statement, parameters)


def _together(writes: Sequence[Write]) -> list[tuple[Executable, list[dict[str, Any]]]] | None:
    """The group as one executemany per statement, if all members run the same statements."""
    shape = [statement for statement, _ in writes[0]]
    if any([statement for statement, _ in write] != shape for write in writes[1:]):
        return None
    return [(statement, [write[k][1] for write in writes]) for k, statement in enumerate(shape)]


@dataclass(frozen=True)
class _Member:
    write: Write
    done: asyncio.Future[None]


class _OnThread:
    """SQLite: the group's transaction on a thread of its own, over a blocking connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = sqlite_writer_engine(engine)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="group-commit")
        # held for the thread's life: a checkout and check-in (with its reset) per transaction
        # cost about as much CPU as the transaction's statements
        self._conn: Connection | None = None

    async def run(self, writes: Sequence[Write]) -> list[Exception | None]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._transaction, writes)

    def _transaction(self, writes: Sequence[Write]) -> list[Exception | None]:
        if self._conn is None:
            self._conn = self._engine.connect()
        with self._conn.begin():
            return apply_group(self._conn, writes)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._engine.dispose()

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown()


class _OnLoop:
    """PostgreSQL: the group's transaction on the async engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def run(self, writes: Sequence[Write]) -> list[Exception | None]:
        async with self._engine.begin() as conn:
            return await conn.run_sync(apply_group, writes)

    async def close(self) -> None:
        pass  # the engine is its owner's


class GroupCommit:
    """Durable writes of concurrent callers, committed in groups (one per process and database)."""

    def __init__(self, engine: AsyncEngine, max_group: int = MAX_GROUP) -> None:
        self._runner = _OnThread(engine) if is_sqlite(engine) else _OnLoop(engine)
        self._max_group = max_group
        self._waiting: list[_Member] = []
        self._leader: asyncio.Task[None] | None = None
        #: transactions committed and writes in them so far (how the writes grouped)
        self.groups = 0
        self.writes = 0

    async def write(self, write: Write) -> None:
        """Return once `write`'s statements are committed; raise its own error (or the commit's),
        in which case nothing of it was written."""
        loop = asyncio.get_running_loop()
        member = _Member(write, loop.create_future())
        self._waiting.append(member)
        if self._leader is None or self._leader.done():
            self._leader = loop.create_task(self._lead())
        await member.done

    async def _lead(self) -> None:
        """Commit the waiting writes group after group, until none waits."""
        while self._waiting:
            group = self._waiting[: self._max_group]
            del self._waiting[: self._max_group]
            # a caller gone before its group began (a dropped request) writes nothing
            group = [m for m in group if not m.done.cancelled()]
            if not group:
                continue
            try:
                outcomes = await self._runner.run([m.write for m in group])
            except Exception as exc:  # the commit failed: nothing of the group was written
                outcomes = [exc] * len(group)
            except BaseException:  # the loop is going away: nobody may wait forever
                for member in group:
                    member.done.cancel()
                raise
            else:
                self.groups += 1
                self.writes += sum(o is None for o in outcomes)
            for member, outcome in zip(group, outcomes, strict=True):
                if member.done.done():
                    continue
                if outcome is None:
                    member.done.set_result(None)
                else:
                    member.done.set_exception(outcome)

    async def close(self) -> None:
        """Finish the groups under way, then let go of the writer's connection and thread."""
        if self._leader is not None:
            await asyncio.gather(self._leader, return_exceptions=True)
        await self._runner.close()
