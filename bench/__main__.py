"""`python -m bench [--quick] [--only NAME ...] [--json PATH]`: run the suite, print, save JSON."""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from bench import backlog, bigcentre, dedup, drain, eta, packets, queueops, realdrain, uploads
from bench.report import Result, render, write_json

#: name → (what it measures, how to run it in a scratch directory)
BENCHES: dict[str, tuple[str, Callable[[Path, bool], Result]]] = {
    "drain": ("1. backlog drain on loopback, default vs naive", drain.run_loopback),
    "slowlink": ("2. slow link goodput vs physical limit", drain.run_slow_link),
    "queue": (
        "3. storing a record (POST /records) vs persist-queue, sqlite3, the disk",
        queueops.run,
    ),
    "dedup": (
        "4. de-duplication vs the machine's sgemm peak and read bandwidth",
        lambda _dir, quick: dedup.run(quick),
    ),
    "workers": ("4b. one gallery for all centre workers: memory", bigcentre.run),
    "realdrain": ("4c. drain against a centre holding a big register", realdrain.run),
    "backlog": ("5. 137,533-record backlog: memory and claim latency", backlog.run),
    "eta": ("6. the operator's estimates vs what then happens, on VSAT", eta.run),
    "uploads": ("7. the centre taking heavy packets in as tus uploads", uploads.run),
    "packets": ("8. heavy packets over a link that keeps breaking", packets.run),
    "smallfirst": ("9. a small record behind 100 MB of packets", packets.run_small_first),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under 5 minutes")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHES),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHES)}",
    )
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"))
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy the centre and node during drain/slowlink (collapsed stacks into DIR)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument(
        "--plain-http",
        action="store_true",
        help="drain/slowlink without TLS (the servers' real path is TLS), to see what TLS costs",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    drain.PROFILE_DIR = args.profile
    drain.TLS = not args.plain_http
    console = Console()
    names = args.only or list(BENCHES)
    results: list[Result] = []
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="ektp-bench-"))
    for name in names:
        title, bench = BENCHES[name]
        console.print(f"[bold]{title}[/] …")
        t = time.perf_counter()
        try:
            result = bench(scratch / name, args.quick)
        except Exception as exc:  # one broken benchmark must not cost the others' results
            console.print_exception()
            result = Result(name, title, notes=[f"failed: {type(exc).__name__}: {exc}"])
        result.details["seconds"] = round(time.perf_counter() - t, 1)
        results.append(result)
        console.print(f"  done in {result.details['seconds']:.0f}s")
        write_json(results, args.json, args.quick, time.perf_counter() - started)
    if not args.keep:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    else:
        console.print(f"scratch kept in {scratch}")
    elapsed = time.perf_counter() - started
    render(results, console)
    write_json(results, args.json, args.quick, elapsed)
    console.print(f"{len(results)} benchmarks in {elapsed:.0f}s; JSON in {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
