"""`ektp-sync certs`: a throwaway CA and a server certificate, to try the servers on TLS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ektp_sync.certs import LOOPBACK_NAMES, VALID_DAYS, make_certificates
from ektp_sync.cli.options import Command, env


def register(app: typer.Typer) -> None:
    @app.command("certs", cls=Command)
    def certs(
        out: Annotated[
            Path,
            typer.Option(
                envvar=env("out"),
                metavar="DIR",
                help="Where to write ca.pem, server.pem and server-key.pem.",
            ),
        ] = Path("var/tls"),
        host: Annotated[
            list[str] | None,
            typer.Option(
                "--host",
                envvar=env("host"),
                metavar="NAME",
                help="A DNS name or IP address the certificate is for; repeat the flag "
                f"(default: {', '.join(LOOPBACK_NAMES)}).",
            ),
        ] = None,
        days: Annotated[
            int,
            typer.Option(
                envvar=env("days"), min=1, metavar="N", help="Days the certificates are valid."
            ),
        ] = VALID_DAYS,
    ) -> None:
        """Make a private CA and a server certificate signed by it (EC P-256, key 0600), for
        trials and development; a real centre takes a certificate from the ministry's CA.
        Serve with --tls-cert DIR/server.pem --tls-key DIR/server-key.pem; trust
        DIR/ca.pem (local serve --central-ca, status --ca). The CA's key is not kept."""
        files = make_certificates(out, host or LOOPBACK_NAMES, days)
        typer.echo(f"CA certificate:     {files.ca}")
        typer.echo(f"server certificate: {files.cert}")
        typer.echo(f"server key (0600):  {files.key}")
