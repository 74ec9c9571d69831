"""Helpers of the security tests: clients of a deployment's two servers, and what they send."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

import httpx

from ektp_sync.launch import Deployment
from ektp_sync.synth import generate


def office_client(d: Deployment, office: str | None = None) -> httpx.AsyncClient:
    """The centre's API as an office (its key), over the deployment's TLS."""
    code = office or d.offices[0]
    return httpx.AsyncClient(
        base_url=f"{d.central_url}/api/v1",
        headers={"Authorization": f"Bearer {d.office_keys[code]}"},
        verify=d.verify,
        timeout=60,
    )


def resident(seed: int = 3) -> dict[str, Any]:
    """A valid record, as the node takes it."""
    return dict(next(r.record for r in generate(5, seed=seed) if r.phase == 1))


def item(record: dict[str, Any], office: str = "6172") -> dict[str, Any]:
    """An intake item of `record`, as the node sends it."""
    return {
        "submission_id": f"{office}-{uuid.uuid4().hex}",
        "office_code": office,
        "recorded_at": dt.datetime.now(dt.UTC).isoformat(),
        "record": record,
    }


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def cursor(text: str) -> str:
    """A decisions cursor made the centre's way (base64 of "s<position>"), of any text."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def assert_refused(
    response: httpx.Response, status: int, rule: str, *or_rules: str
) -> dict[str, Any]:
    """`status` with `rule` (or one of `or_rules`), and a body that is JSON in the shape of
    every other refusal."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["rule"] in (rule, *or_rules), body
    if status == 422:
        assert isinstance(body["detail"], list) and body["detail"], body
        assert all({"type", "loc", "msg"} <= set(e) for e in body["detail"]), body
    return body
