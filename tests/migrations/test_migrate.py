"""Both servers' migrations from an empty database: the CLI, idempotence, and the result.

The comparison with the tables in code is what makes a model change without a migration fail
here: add a column or an index to a table, and `schema_diff` is no longer empty.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from ektp_sync.migrations import Schema, current_revision, head, schema_diff, upgrade

from .support import SCHEMAS, ddl_fingerprint, migrate_cli

Engines = Callable[[str], AsyncEngine]


async def test_cli_migrates_an_empty_database_and_a_second_run_changes_nothing(
    schema: Schema, db_url: str, engines: Engines
) -> None:
    first = migrate_cli(schema, db_url)
    assert first.returncode == 0, first.stderr
    assert f"upgraded an empty database → {head(schema)}" in first.stdout

    engine = engines(db_url)
    async with engine.connect() as conn:
        before = await conn.run_sync(ddl_fingerprint, set(schema.metadata.tables))
    second = migrate_cli(schema, db_url)
    assert second.returncode == 0, second.stderr
    assert f"already at {head(schema)} (head), nothing to do" in second.stdout
    async with engine.connect() as conn:
        assert await conn.run_sync(ddl_fingerprint, set(schema.metadata.tables)) == before
    assert await current_revision(engine, schema) == head(schema)
    assert await schema_diff(engine, schema) == []


async def test_both_schemas_migrated_into_one_database_equal_the_tables_in_code(
    db_url: str, engines: Engines
) -> None:
    # one PostgreSQL database may hold both servers: separate version tables, disjoint tables
    engine = engines(db_url)
    for schema in SCHEMAS.values():
        done = await upgrade(engine, schema)
        assert (done.before, done.after, done.stamped) == (None, head(schema), None)
    for schema in SCHEMAS.values():
        assert await schema_diff(engine, schema) == [], schema.name
        assert await current_revision(engine, schema) == head(schema)


async def test_migrations_make_exactly_what_create_all_makes(
    schema: Schema, db_factory: Callable[[], asyncio.Future[str]], engines: Engines
) -> None:
    migrated, created = engines(await db_factory()), engines(await db_factory())
    await upgrade(migrated, schema)
    async with created.begin() as conn:
        await conn.run_sync(schema.metadata.create_all)
    tables = set(schema.metadata.tables)
    async with migrated.connect() as a, created.connect() as b:
        by_migrations = await a.run_sync(ddl_fingerprint, tables)
        by_create_all = await b.run_sync(ddl_fingerprint, tables)
    assert by_migrations == by_create_all
    assert {row[0] for row in by_migrations} == tables  # the fingerprint did look at them


async def test_both_schemas_upgraded_at_once_in_one_process(db_url: str, engines: Engines) -> None:
    # different schemas take different database locks; Alembic's global state still needs turns
    central, local = SCHEMAS["central"], SCHEMAS["local"]
    done = await asyncio.wait_for(
        asyncio.gather(upgrade(engines(db_url), central), upgrade(engines(db_url), local)),
        timeout=120,
    )
    assert [d.after for d in done] == [head(central), head(local)]
    for schema in (central, local):
        assert await schema_diff(engines(db_url), schema) == []


async def test_upgrades_started_at_once_take_turns(
    schema: Schema, db_url: str, engines: Engines
) -> None:
    # four engines (pools) on one fresh database: one creates the schema, three find it at head
    results = await asyncio.gather(*(upgrade(engines(db_url), schema) for _ in range(4)))
    assert sorted((r.before or "", r.after) for r in results) == [
        ("", head(schema)),
        *[(head(schema), head(schema))] * 3,
    ]
    assert await schema_diff(engines(db_url), schema) == []
