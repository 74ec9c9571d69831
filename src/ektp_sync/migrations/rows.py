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


def count_rows(table: str) -> int:
    return int(op.get_bind().execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def rewrite_rows(
    table: sa.TableClause,
    key: str,
    read: Sequence[str],
    convert: Callable[[tuple[Any, ...]], dict[str, Any]],
) -> int:
    """Set, on every row of `table`, the columns `convert(row)` returns (row: `key`, then the
    columns `read`); returns how many rows were rewritten."""
    bind = op.get_bind()
    key_column = table.c[key]
    query = sa.select(key_column, *(table.c[name] for name in read)).order_by(key_column)
    done = 0
    after: Any = None
    while True:
        page_query = query if after is None else query.where(key_column > after)
        rows = bind.execute(page_query.limit(PAGE_ROWS)).all()
        if not rows:
            return done
        changes = [{"b_key": row[0], **_bound(convert(tuple(row)))} for row in rows]
        names = [name[2:] for name in changes[0] if name != "b_key"]
        bind.execute(
            sa.update(table)
            .where(key_column == sa.bindparam("b_key"))
            .values({name: sa.bindparam(f"b_{name}") for name in names}),
            changes,
        )
        done += len(rows)
        after = rows[-1][0]


def _bound(values: dict[str, Any]) -> dict[str, Any]:
    return {f"b_{name}": value for name, value in values.items()}
