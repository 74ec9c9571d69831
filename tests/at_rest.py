"""What a database keeps in clear, looked at from outside the servers: every value of every
table (`columns_holding`), and on SQLite every byte of its files (`files_holding`). The at-rest
tests ask them for personal data that must only ever be stored sealed."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData, select

from ektp_sync.storage import create_engine


async def columns_holding(url: str, needles: dict[str, bytes]) -> list[str]:
    """ "table.column: needle" for every value of every table of the database that contains one
    of `needles` (text as UTF-8, binary as is)."""
    engine = create_engine(url)
    hits = []
    try:
        async with engine.connect() as conn:
            meta = MetaData()
            await conn.run_sync(meta.reflect)
            for table in meta.sorted_tables:
                for row in await conn.execute(select(table)):
                    for column, value in row._mapping.items():
                        raw = value if isinstance(value, bytes) else str(value).encode()
                        hits += [
                            f"{table.name}.{column}: {n}" for n, v in needles.items() if v in raw
                        ]
    finally:
        await engine.dispose()
    return hits


def files_holding(paths: list[Path], needles: dict[str, bytes]) -> list[str]:
    """`strings` on the files: "file: needle" for each needle found anywhere in their bytes."""
    return [
        f"{path.name}: {name}"
        for path in paths
        if path.exists()
        for name, needle in needles.items()
        if needle in path.read_bytes()
    ]
