"""Run the real servers as child processes on free loopback ports (for `demo` and tests).

Children get their own session (a terminal's Ctrl-C reaches only the parent, which then stops
them in order) and die with the parent even if it is SIGKILLed (PR_SET_PDEATHSIG), so nothing
is ever left behind. A `Deployment` runs on TLS unless told otherwise: it makes a throwaway CA
and a certificate for 127.0.0.1 in its directory (`ektp_sync.certs`), serves both servers with
it, and has the offices verify the centre against that CA, through the simulated link too (a
TCP proxy: TLS passes through it untouched). Its directory and logs are their owner's only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ektp_sync.certs import TlsFiles, make_certificates
from ektp_sync.domain.operators import Grant, Role, format_grant
from ektp_sync.keyfiles import private_dir
from ektp_sync.prefork import die_with_parent
from ektp_sync.signing import Signer, public_key_path

LOOPBACK = "127.0.0.1"


class ProcessFailed(RuntimeError):
    """A child process exited or never became healthy; the message carries its log's tail."""


class NoSimulatedLink(RuntimeError):
    """The deployment was made without a network simulator between offices and centre."""

    def __init__(self) -> None:
        super().__init__(
            "this deployment has no simulated link (the offices talk to the centre directly); "
            "make it with profile=NAME for a link profile, or link=True for a link with no "
            "toxics that a test can change"
        )


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


_handed_out: set[int] = set()


def free_port(host: str = LOOPBACK) -> int:
    """A port that is free now and outside the kernel's ephemeral range.

    Outside, because a port the kernel picked for us (bind to 0) is one it may hand to any
    outgoing connection of this machine before our server binds it (seen in CI: `address
    already in use` at start); ports below the ephemeral range are only ever taken on purpose.
    """
    low, _ = _ephemeral_range()
    top = max(low, 12000)
    for _ in range(200):
        port = random.randrange(10000, top)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """One `python -m ektp_sync …` child with a health URL and a log file."""

    name: str
    args: Sequence[str]
    health_url: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    ca: Path | None = None  # the CA an https health URL is verified with
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        if self.running:
            raise ProcessFailed(f"{self.name} is already running")
        private_dir(self.log_path.parent)
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(log_fd, "ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "ektp_sync", *self.args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0, verify=verifier(self.ca)) as client:
            while True:
                if not self.running:
                    raise ProcessFailed(f"{self.name} exited early:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.health_url)).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise ProcessFailed(
                        f"{self.name} not healthy after {timeout}s:\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.1)

    def wait(self, timeout: float) -> int:
        """Its exit status, once it ends by itself (subprocess.TimeoutExpired after `timeout`)."""
        assert self._proc is not None
        return self._proc.wait(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it does not end within `timeout`."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL to the whole process group: the crash case, no chance to clean up.

        The group, not just the pid, because with `--workers N` the worker processes are our
        child's children: they ask for SIGTERM when it dies (prefork.py), but a SIGKILL is the
        crash case, so they go at once too.
        """
        if self._proc is None or self._proc.poll() is not None:
            return
        # start_new_session made the child the leader of a group of its own: only ours die
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()

    async def restart(
        self, down_for: float = 0.0, hard: bool = True, timeout: float = 60.0
    ) -> None:
        """Crash (SIGKILL, `hard`) or stop (SIGTERM), stay down `down_for` s, start, await health.

        `down_for` is the scenario's outage length (an input), not a wait for some condition.
        """
        if hard:
            self.kill()
        else:
            await asyncio.to_thread(self.stop)
        if down_for > 0:
            await asyncio.sleep(down_for)
        self.start()
        await self.wait_ready(timeout)


def central_process(
    base_dir: Path,
    port: int,
    offices: dict[str, str],
    admin_key: str,
    db_url: str | None = None,
    workers: int = 1,
    extra: Sequence[str] = (),
    tls: TlsFiles | None = None,
) -> ServerProcess:
    args = ["central", "serve", "--host", LOOPBACK, "--port", str(port)]
    args += ["--data-dir", str(base_dir / "central"), "--admin-key", admin_key]
    args += ["--workers", str(workers), *serving(tls), *extra]
    for code, key in offices.items():
        args += ["--office", f"{code}={key}"]
    if db_url:
        args += ["--db", db_url]
    return ServerProcess(
        "central",
        args,
        f"{base_url(tls, port)}/healthz",
        base_dir / "logs" / "central.log",
        ca=tls.ca if tls else None,
    )


def local_process(
    base_dir: Path,
    port: int,
    office_code: str,
    api_key: str,
    central_url: str,
    db_url: str | None = None,
    extra: Sequence[str] = (),
    tls: TlsFiles | None = None,
    central_public_key: Path | None = None,
    operators: Sequence[Grant] = (),
) -> ServerProcess:
    """An office node; with `tls` it serves HTTPS and verifies the centre against `tls.ca`.
    It pins the centre's key from the file `central_public_key` (None: --trust-first-key)."""
    args = ["local", "serve", "--host", LOOPBACK, "--port", str(port)]
    args += ["--data-dir", str(base_dir / f"local-{office_code}"), "--office-code", office_code]
    args += ["--api-key", api_key, "--central-url", central_url, *serving(tls)]
    if tls:
        args += ["--central-ca", str(tls.ca)]
    if central_public_key is not None:
        args += ["--central-public-key", f"@{central_public_key}"]
    else:
        args += ["--trust-first-key"]
    for grant in operators:
        args += ["--operator", format_grant(grant)]
    args += extra  # last, so that a test's option wins over the same one above
    if db_url:
        args += ["--db", db_url]
    return ServerProcess(
        f"local-{office_code}",
        args,
        f"{base_url(tls, port)}/healthz",
        base_dir / "logs" / f"local-{office_code}.log",
        ca=tls.ca if tls else None,
    )


def serving(tls: TlsFiles | None) -> list[str]:
    """A server's options to serve HTTPS with `tls` (none: plain HTTP)."""
    return ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)] if tls else []


def base_url(tls: TlsFiles | None, port: int) -> str:
    return f"{'https' if tls else 'http'}://{LOOPBACK}:{port}"


def verifier(ca: Path | None) -> ssl.SSLContext | bool:
    """httpx's `verify=` for a server whose certificate `ca` signed (None: the default)."""
    return ssl.create_default_context(cafile=ca) if ca else True


def netsim_process(
    base_dir: Path,
    listen_port: int,
    upstream_port: int,
    api_port: int,
    profile: str | None,
    seed: int | None = None,
) -> ServerProcess:
    args = ["netsim", "--listen", f"{LOOPBACK}:{listen_port}"]
    args += ["--upstream", f"{LOOPBACK}:{upstream_port}", "--api", f"{LOOPBACK}:{api_port}"]
    if profile:
        args += ["--profile", profile]
    if seed is not None:
        args += ["--seed", str(seed)]
    return ServerProcess(
        "netsim", args, f"http://{LOOPBACK}:{api_port}/version", base_dir / "logs" / "netsim.log"
    )


@dataclass
class Deployment:
    """A centre, optionally a simulated link in front of it, and one local node per office.

    Ports, keys and certificates are fixed when the object is made, so any part can be killed
    and started again on the same port and database. `tls=False`: plain HTTP everywhere (for a
    test that must read the bytes on the wire). The centre's signing key is made here too (the
    centre finds it in its data dir), so every office pins its public key from the first start;
    each office has a supervisor and a clerk (`operator_token(role)`).
    """

    base_dir: Path
    offices: Sequence[str] = ("6172",)
    #: the link profile of a network simulator between offices and centre; None: no profile
    profile: str | None = None
    #: a network simulator even without a profile (no toxics until a test adds some); with
    #: neither, the offices talk to the centre directly
    link: bool = False
    central_db: str | None = None
    local_dbs: dict[str, str] = field(default_factory=dict)
    central_workers: int = 1
    seed: int | None = None
    local_extra: Sequence[str] = ()
    central_extra: Sequence[str] = ()
    #: extra environment of the office nodes, e.g. {"EKTP_BACKOFF_CAP": "2"} for quick tests
    local_env: dict[str, str] = field(default_factory=dict)
    tls: bool = True

    def __post_init__(self) -> None:
        private_dir(self.base_dir)
        self.tls_files = make_certificates(self.base_dir / "tls") if self.tls else None
        self._verify: ssl.SSLContext | bool | None = None
        self.admin_key = "admin-" + os.urandom(8).hex()
        self.office_keys = {code: f"key-{code}-" + os.urandom(8).hex() for code in self.offices}
        self.operators = {
            role: Grant(f"{role}-1", f"{role}-" + os.urandom(16).hex(), role) for role in Role
        }
        # what `central serve` would create on first start: made now, so the offices can pin it
        signing_key = self.base_dir / "central" / "central_signing_key.pem"
        Signer.load_or_create(signing_key)
        self.central_public_key_file = public_key_path(signing_key)
        self.central_port = free_port()
        self.central = central_process(
            self.base_dir,
            self.central_port,
            self.office_keys,
            self.admin_key,
            self.central_db,
            self.central_workers,
            self.central_extra,
            self.tls_files,
        )
        self.netsim: ServerProcess | None = None
        link_port = self.central_port
        self._netsim_api_port: int | None = None
        if self.profile is not None or self.link:
            link_port = free_port()
            self._netsim_api_port = free_port()
            self.netsim = netsim_process(
                self.base_dir,
                link_port,
                self.central_port,
                self._netsim_api_port,
                self.profile,
                self.seed,
            )
        # where the offices reach the centre: through the simulated link when there is one
        self.link_url = base_url(self.tls_files, link_port)
        self.locals = {
            code: local_process(
                self.base_dir,
                free_port(),
                code,
                self.office_keys[code],
                self.link_url,
                self.local_dbs.get(code),
                self.local_extra,
                self.tls_files,
                self.central_public_key_file,
                list(self.operators.values()),
            )
            for code in self.offices
        }
        for process in self.locals.values():
            process.env.update(self.local_env)

    def operator_token(self, role: Role = Role.SUPERVISOR) -> str:
        """The bearer token of the offices' operator of `role`."""
        return self.operators[role].token

    def operator_headers(self, role: Role = Role.SUPERVISOR) -> dict[str, str]:
        """The Authorization header of the offices' operator of `role`, for an httpx client."""
        return {"Authorization": f"Bearer {self.operator_token(role)}"}

    @property
    def central_url(self) -> str:
        return base_url(self.tls_files, self.central_port)

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """httpx's `verify=` for this deployment's servers: its CA when on TLS."""
        if self._verify is None:
            self._verify = verifier(self.tls_files.ca if self.tls_files else None)
        return self._verify

    @property
    def netsim_api_port(self) -> int:
        if self._netsim_api_port is None:
            raise NoSimulatedLink()
        return self._netsim_api_port

    @property
    def netsim_api_url(self) -> str:
        """The simulator's control API (Toxiproxy's); NoSimulatedLink without a simulator."""
        return f"http://{LOOPBACK}:{self.netsim_api_port}"

    def local_url(self, office: str | None = None) -> str:
        return self.locals[office or self.offices[0]].health_url.removesuffix("/healthz")

    @property
    def processes(self) -> list[ServerProcess]:
        return [self.central, *([self.netsim] if self.netsim else []), *self.locals.values()]

    async def start(self, timeout: float = 60.0) -> None:
        try:
            for process in self.processes:
                process.start()
            for process in self.processes:
                await process.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        # offices first, so they release their leases while the link is still there
        for process in reversed(self.processes):
            process.stop()
