"""What the console reads about residents beyond a record's state: their names and the fields a
correction form starts from, and the search by name.

A name lives only in the stored record (`records.payload_sealed`), so the search by name opens
the latest records' payloads (`NAME_SCAN` at most, newest first): the desk asks about people who
came in the last days, and a NIK finds anyone through its index. Payloads are sealed at rest
(see `sealed`), so they are opened and decoded here in Python: the database cannot read them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from local_server.store.sealed import NodeSealer
from local_server.store.tables import records

#: records whose names a search by name looks through, newest first
NAME_SCAN = 2000
#: rows read per round trip while scanning
_CHUNK = 200


@dataclass(frozen=True)
class Resident:
    """A record's id, NIK, state and its demographic fields (biometrics left out)."""

    record_id: str
    nik: str
    state: str
    fields: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.fields.get("full_name", ""))


def _fields(payload: str) -> dict[str, Any]:
    fields: dict[str, Any] = json.loads(payload)
    fields.pop("biometrics", None)
    return fields


#: what a resident is read from: the row's id, state and its sealed NIK and payload
_COLUMNS = (records.c.id, records.c.state, records.c.nik_sealed, records.c.payload_sealed)


class ResidentSearch:
    def __init__(self, engine: AsyncEngine, sealer: NodeSealer) -> None:
        self._engine = engine
        self._sealer = sealer

    def _resident(self, row: Any, fields: dict[str, Any]) -> Resident:
        return Resident(row.id, self._sealer.open_nik(row.id, row.nik_sealed), row.state, fields)

    def _fields_of(self, row: Any) -> dict[str, Any]:
        return _fields(self._sealer.open_payload(row.id, row.payload_sealed))

    async def residents(self, record_ids: Sequence[str]) -> dict[str, Resident]:
        """The residents of these records, by record id (unknown ids left out)."""
        if not record_ids:
            return {}
        query = select(*_COLUMNS).where(records.c.id.in_(list(record_ids)))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {r.id: self._resident(r, self._fields_of(r)) for r in rows}

    async def by_name(self, text: str, limit: int, scan: int = NAME_SCAN) -> list[Resident]:
        """Records whose full name contains `text` (any case), newest first."""
        needle = text.casefold()
        found: list[Resident] = []
        before: str | None = None
        async with self._engine.connect() as conn:
            for _ in range(-(-scan // _CHUNK)):
                query = select(*_COLUMNS).order_by(records.c.id.desc()).limit(_CHUNK)
                if before is not None:
                    query = query.where(records.c.id < before)
                rows = (await conn.execute(query)).all()
                for row in rows:
                    fields = self._fields_of(row)
                    if needle in str(fields.get("full_name", "")).casefold():
                        found.append(self._resident(row, fields))
                        if len(found) >= limit:
                            return found
                if len(rows) < _CHUNK:
                    break
                before = rows[-1].id
        return found
