"""Rewriting the rows of a table inside a revision, a page at a time: how revisions that seal
personal data convert the rows an older version wrote in clear.

A page is read by key order, converted in Python (where the data key is) and written back by
one executemany UPDATE, so memory stays bounded whatever the table's size and the revision's
transaction (see `ektp_sync.migrations.upgrade`) still covers every row: a failure leaves the
database as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

PAGE_ROWS = 500


def count_rows(table: str, where: str | None = None) -> int:
    """Rows of `table` (those matching the SQL condition `where`, when given)."""
    sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
    return int(op.get_bind().execute(sa.text(sql)).scalar_one())


def rewrite_rows(
    table: sa.TableClause,
    key: str | Sequence[str],
    read: Sequence[str],
    convert: Callable[[tuple[Any, ...]], dict[str, Any]],
    where: sa.ColumnElement[bool] | None = None,
) -> int:
    """Set, on every row of `table` (matching `where`, when given), the columns `convert(row)`
    returns (row: the `key` column(s), then the columns `read`); returns how many rows were
    rewritten. A key of several columns (e.g. a composite primary key) pages in their order."""
    bind = op.get_bind()
    names = [key] if isinstance(key, str) else list(key)
    keys = [table.c[name] for name in names]
    query = sa.select(*keys, *(table.c[name] for name in read)).order_by(*keys)
    if where is not None:
        query = query.where(where)
    width = len(keys)
    matches = sa.and_(*(column == sa.bindparam(f"k_{i}") for i, column in enumerate(keys)))
    done = 0
    after: tuple[Any, ...] | None = None
    while True:
        page_query = query if after is None else query.where(_beyond(keys, after))
        rows = bind.execute(page_query.limit(PAGE_ROWS)).all()
        if not rows:
            return done
        changes = [
            {**{f"k_{i}": row[i] for i in range(width)}, **_bound(convert(tuple(row)))}
            for row in rows
        ]
        columns = [name[2:] for name in changes[0] if name.startswith("b_")]
        bind.execute(
            sa.update(table)
            .where(matches)
            .values({name: sa.bindparam(f"b_{name}") for name in columns}),
            changes,
        )
        done += len(rows)
        after = tuple(rows[-1][:width])


def _beyond(keys: Sequence[sa.ColumnClause[Any]], after: tuple[Any, ...]) -> Any:
    """The rows after `after` in key order (a row-value comparison when the key has several
    columns: SQLite and PostgreSQL both have it)."""
    if len(keys) == 1:
        return keys[0] > after[0]
    return sa.tuple_(*keys) > sa.tuple_(*(sa.literal(value) for value in after))


def _bound(values: dict[str, Any]) -> dict[str, Any]:
    return {f"b_{name}": value for name, value in values.items()}
