"""Run the chaos soak alone: `python -m tests.chaos --seed 1 --records 2000 --db sqlite`.

With `--db postgresql` the centre and the office each get a fresh database on the server named
by EKTP_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/test), dropped afterwards.
Prints the summary; exits 0 when every guarantee held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from .soak import SoakConfig, SoakFailed, SoakReport, run_soak

PG_URL = os.environ.get("EKTP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextlib.asynccontextmanager
async def databases(kind: str, base_dir: Path) -> AsyncIterator[tuple[str, str]]:
    """(centre URL, office URL): SQLite files under `base_dir`, or fresh PostgreSQL databases."""
    if kind == "sqlite":
        yield f"sqlite:///{base_dir / 'central.db'}", f"sqlite:///{base_dir / 'local.db'}"
        return
    admin = await asyncpg.connect(PG_URL, timeout=5)
    names = [f"ektp_chaos_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    try:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
        prefix = PG_URL.rsplit("/", 1)[0]
        yield f"{prefix}/{names[0]}", f"{prefix}/{names[1]}"
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _main(args: argparse.Namespace) -> SoakReport:
    config = SoakConfig(
        seed=args.seed,
        records=args.records,
        profile=args.profile,
        office_kills=args.kills,
        centre_restarts=args.centre_restarts,
        centre_workers=args.centre_workers,
        timeout=args.timeout,
        attachment_bytes=args.attachment_bytes,
        heavy_every=args.heavy_every,
    )
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="ektp-chaos-"))
    print(f"chaos soak in {base} (logs in {base / 'logs'})", flush=True)
    async with databases(args.db, base) as (central_db, local_db):
        return await run_soak(config, base, central_db, local_db, args.db)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--profile", default="4g", help="link profile under the faults")
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs of the office node")
    parser.add_argument("--centre-restarts", type=int, default=1)
    parser.add_argument("--centre-workers", type=int, default=1, help="PostgreSQL only")
    parser.add_argument(
        "--attachment-bytes",
        type=int,
        default=0,
        help="heavy records: a photo of N bytes (over 64 KiB: a tus upload) for some residents",
    )
    parser.add_argument("--heavy-every", type=int, default=2, help="every Nth resident is heavy")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for the whole run")
    parser.add_argument("--dir", help="where processes keep data and logs (default: a temp dir)")
    args = parser.parse_args()
    try:
        report = asyncio.run(_main(args))
    except SoakFailed as exc:
        print(f"soak did not finish: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
