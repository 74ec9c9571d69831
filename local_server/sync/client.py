"""The office node's HTTP client for the centre.

Every failure becomes a `CentreExchangeError` (`local_server.errors`) whose message is a sentence
an operator can act on ("connection refused by centre", "centre answered 503"); the sync loops
decide what to do with it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import gzip
import json
import logging
import ssl
from collections.abc import Sequence
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from ektp_sync.config import LocalSettings
from ektp_sync.wire import DecisionsPage, IntakeResponse, PublicKey
from local_server.errors import (
    BatchTooLarge,
    CentreAuthRefused,
    CentreBusy,
    CentreProtocolError,
    CentreStatusError,
    CentreUnreachable,
)

logger = logging.getLogger(__name__)

M = TypeVar("M", IntakeResponse, DecisionsPage, PublicKey)

#: bodies above this are compressed in a worker thread (~1 ms of zlib at level 5)
GZIP_IN_THREAD_BYTES = 64 * 1024


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Retry-After as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):  # the OS error sits a few links down httpx's and httpcore's chain
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _describe_transport_error(exc: httpx.TransportError) -> str:
    text = str(exc).lower()
    if isinstance(exc, httpx.ConnectTimeout):
        return "connection to centre timed out"
    if isinstance(exc, httpx.TimeoutException):
        return "centre did not answer in time"
    if isinstance(exc, httpx.ConnectError):
        if _caused_by(exc, ssl.SSLCertVerificationError):
            return f"centre's TLS certificate not trusted ({_tls_reason(exc)}); check --central-ca"
        if _caused_by(exc, ssl.SSLError):
            return f"TLS handshake with centre failed ({_tls_reason(exc)})"
        if "refused" in text or _caused_by(exc, ConnectionRefusedError):
            return "connection refused by centre"
        if "name" in text or "resolve" in text:
            return "centre's host name could not be resolved"
        return f"could not connect to centre ({exc or type(exc).__name__})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection to centre dropped mid-answer"
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)):
        return "connection to centre broke off"
    return f"network error talking to centre ({type(exc).__name__})"


def _tls_reason(exc: BaseException) -> str:
    """OpenSSL's reason, e.g. "certificate verify failed: self-signed certificate in chain"."""
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, ssl.SSLError):
        seen = seen.__cause__ or seen.__context__
    if isinstance(seen, ssl.SSLCertVerificationError) and seen.verify_message:
        return f"certificate verify failed: {seen.verify_message}"
    if isinstance(seen, ssl.SSLError) and seen.reason:
        return str(seen.reason).lower().replace("_", " ")
    return str(exc) or type(exc).__name__


def centre_tls(settings: LocalSettings) -> ssl.SSLContext:
    """What an https:// centre must prove: a certificate for its host name that chains to
    `--central-ca` if given (that CA alone), else to the system's trusted CAs."""
    if settings.central_ca is not None:
        return ssl.create_default_context(cafile=settings.central_ca)
    return ssl.create_default_context()


def _error_for(response: httpx.Response) -> CentreStatusError:
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if status in (429, 503):
        wait = f", asks to retry after {retry_after:g}s" if retry_after is not None else ""
        return CentreBusy(f"centre answered {status} (busy){wait}", status, retry_after)
    if status in (401, 403):
        return CentreAuthRefused(
            f"centre answered {status}: the office API key is wrong or not allowed", status
        )
    if status == 413:
        return BatchTooLarge("centre answered 413: batch too large", status)
    return CentreStatusError(f"centre answered {status}", status, retry_after)


class CentreClient:
    """One keep-alive connection pool to the centre, shared by pusher and puller."""

    def __init__(self, settings: LocalSettings, transport: httpx.AsyncBaseTransport | None = None):
        self._gzip_min = settings.gzip_min_bytes
        self.base_url = settings.central_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/api/v1",
            headers={"Authorization": f"Bearer {settings.api_key}"},
            timeout=httpx.Timeout(settings.request_timeout, connect=settings.connect_timeout),
            limits=httpx.Limits(max_connections=settings.max_in_flight + 2),
            verify=centre_tls(settings),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def closed(self) -> bool:
        return self._http.is_closed

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise CentreUnreachable(_describe_transport_error(exc)) from exc
        except httpx.HTTPError as exc:
            raise CentreUnreachable(f"exchange with centre failed ({exc})") from exc
        except Exception as exc:
            # the transport's internals can fail in other ways when a connection dies at the
            # wrong moment (seen: httpcore's AttributeError on a reset socket): still the link,
            # said in the operator's words; the internal detail goes to the log only
            logger.debug("exchange with centre failed inside the transport", exc_info=exc)
            raise CentreUnreachable("connection to centre broke off") from exc
        if response.status_code >= 300:
            error = _error_for(response)
            error.detail, error.rule = _detail_of(response)
            raise error
        return response

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One exchange (a path under /api/v1, or an absolute URL); an answer of 300 or more,
        or none, raises a `CentreExchangeError` (the tus client's way in)."""
        return await self._request(method, url, **kwargs)

    async def submit(self, items: Sequence[str]) -> IntakeResponse:
        """POST /enrollments of items already in JSON (`item_json`); the body is gzipped when
        it is big enough to be worth it."""
        body = ('{"items":[' + ",".join(items) + "]}").encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if len(body) > self._gzip_min:
            # zlib lets go of the GIL: off the event loop, the node keeps answering meanwhile
            if len(body) > GZIP_IN_THREAD_BYTES:
                body = await asyncio.to_thread(gzip.compress, body, 5)
            else:
                body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        response = await self._request("POST", "/enrollments", content=body, headers=headers)
        return _parse(IntakeResponse, response)

    async def decisions(self, after: str | None, limit: int, wait: float = 0.0) -> DecisionsPage:
        """One page of the feed; `wait` lets the centre hold an empty answer that long."""
        params: dict[str, str | int | float] = {"limit": limit}
        if after is not None:
            params["after"] = after
        if wait > 0:
            params["wait"] = wait
        response = await self._request("GET", "/decisions", params=params)
        return _parse(DecisionsPage, response)

    async def keys(self) -> PublicKey:
        """The centre's /keys: the key it signs with, and the next one if it announces one."""
        response = await self._request("GET", "/keys")
        return _parse(PublicKey, response)


def item_json(
    submission_id: str, office_code: str, recorded_at: dt.datetime, record_json: str
) -> str:
    """One item of POST /enrollments, with the record spliced in as stored: a batch of records
    is sent without parsing and re-serialising each of them."""
    envelope = json.dumps(
        {
            "submission_id": submission_id,
            "office_code": office_code,
            "recorded_at": recorded_at.isoformat(),
        },
        separators=(",", ":"),
    )
    return envelope[:-1] + ',"record":' + record_json + "}"


def _detail_of(response: httpx.Response) -> tuple[str | None, str | None]:
    """`detail` and `rule` of an error body ({"detail", "rule"}); a HEAD's answer has no body,
    its rule comes in the Ektp-Rule header."""
    rule = response.headers.get("ektp-rule")
    try:
        body = response.json()
    except ValueError:
        return None, rule
    if not isinstance(body, dict):
        return None, rule
    detail, said = body.get("detail"), body.get("rule")
    return (
        detail if isinstance(detail, str) else None,
        said if isinstance(said, str) else rule,
    )


def _parse(model: type[M], response: httpx.Response) -> M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise CentreProtocolError(
            f"centre's answer to {response.request.url.path} does not follow the contract: "
            f"{exc.errors()[0]['msg']}"
        ) from exc
