"""`ektp-sync netsim`: run the network simulator (proxies + Toxiproxy-style API) until signalled."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ektp_sync.cli.options import Command, env
from ektp_sync.netsim import DEFAULT_API, PROFILES, ApiError, NetSim

#: Name of the proxy made from --listen/--upstream (the office's WAN link).
CLI_PROXY = "wan"


def register(app: typer.Typer) -> None:
    @app.command("netsim", cls=Command)
    def netsim(
        listen: Annotated[
            str | None,
            typer.Option(
                envvar=env("listen"), metavar="HOST:PORT", help="Where the office connects to."
            ),
        ] = None,
        upstream: Annotated[
            str | None,
            typer.Option(envvar=env("upstream"), metavar="HOST:PORT", help="The real server."),
        ] = None,
        profile: Annotated[
            str | None,
            typer.Option(
                envvar=env("profile"),
                metavar="NAME",
                help=f"Link profile: {', '.join(PROFILES)}.",
            ),
        ] = None,
        api: Annotated[
            str,
            typer.Option(
                envvar=env("api"),
                metavar="HOST:PORT",
                help="Where the Toxiproxy-style control API listens.",
            ),
        ] = DEFAULT_API,
        config: Annotated[
            Path | None,
            typer.Option(
                envvar=env("config"),
                metavar="PATH",
                help="JSON list of proxies as for Toxiproxy's /populate "
                '(an entry may add "profile").',
            ),
        ] = None,
        seed: Annotated[
            int | None,
            typer.Option(envvar=env("seed"), metavar="N", help="Seed for every random draw."),
        ] = None,
    ) -> None:
        """TCP proxy simulating the office's WAN link; control API follows Toxiproxy's."""
        if (listen is None) != (upstream is None):
            raise typer.BadParameter("--listen and --upstream go together")
        if profile is not None and profile not in PROFILES:
            raise typer.BadParameter(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
        entries = _read_config(config) if config else []
        for entry in entries:
            # --profile without --listen applies to config proxies that name none themselves.
            entry.setdefault("profile", None if listen else profile)
        if listen and upstream:
            entries.append(
                {"name": CLI_PROXY, "listen": listen, "upstream": upstream, "profile": profile}
            )
        try:
            asyncio.run(_serve(entries, api, seed))
        except (ApiError, OSError) as exc:
            typer.echo(f"netsim: {exc}", err=True)
            raise typer.Exit(1) from exc


def _read_config(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise typer.BadParameter(f"{path}: expected a JSON list of proxy objects")
    return data


async def _serve(entries: list[dict[str, Any]], api: str, seed: int | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sim = NetSim(api=api, seed=seed)
    try:
        await sim.start()
        await sim.populate([{k: v for k, v in e.items() if k != "profile"} for e in entries])
        for entry in entries:
            if entry.get("profile"):
                sim.apply_profile(entry["name"], entry["profile"])
        _announce(sim, entries)
        await stop.wait()
    finally:
        await sim.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _announce(sim: NetSim, entries: list[dict[str, Any]]) -> None:
    print(f"netsim: control API on {sim.api_url}, seed {sim.seed}", file=sys.stderr)
    for entry in entries:
        proxy = sim.get_proxy(entry["name"])
        print(
            f"netsim: proxy {proxy.name} {proxy.listen} -> {proxy.upstream}"
            f" profile={entry.get('profile') or 'none'}",
            file=sys.stderr,
            flush=True,
        )
