"""Bad input gets a 4xx on both real servers, never a 500: nesting 1,000 deep, lone surrogates,
control characters in a record's text, cursors beyond 64 bits (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest

from ektp_sync.testing import CentreAdmin, DeploymentFactory, OfficeClient
from tests.security.support import (
    assert_refused,
    cursor,
    deep,
    item,
    office_client,
    resident,
)

pytestmark = pytest.mark.integration

JSON = {"Content-Type": "application/json"}


async def test_json_nested_1000_deep_is_422_on_both_servers(
    ektp_deployment: DeploymentFactory,
) -> None:
    d = await ektp_deployment()
    node = OfficeClient.of(d)
    async with node, office_client(d) as centre:
        for body in (deep(1000), b'{"nik": ' + deep(1000) + b"}"):
            answer = await node.http.post("/records", content=body, headers=JSON)
            assert_refused(answer, 422, "json_depth")
        answer = await node.http.put("/records/x", content=deep(1000), headers=JSON)
        assert_refused(answer, 422, "json_depth")
        batch = b'{"items": [' + deep(1000) + b"]}"
        answer = await centre.post("/enrollments", content=batch, headers=JSON)
        assert_refused(answer, 422, "json_depth")
        # a record's own depth (4 inside a batch) is far from the limit
        good = await centre.post("/enrollments", json={"items": [item(resident())]})
        assert good.status_code == 200, good.text
        assert good.json()["results"][0]["status"] == "accepted"
    # the routes whose body FastAPI parses refuse it too, without a 500
    async with CentreAdmin.of(d) as admin:
        for path in ("/reviews/6172-x", "/admin/faults"):
            answer = await admin.http.post(path, content=deep(1000), headers=JSON)
            assert_refused(answer, 422, "json_depth")


async def test_a_lone_surrogate_is_422_with_a_body_that_encodes(
    ektp_deployment: DeploymentFactory,
) -> None:
    d = await ektp_deployment()
    node = OfficeClient.of(d)
    async with node, office_client(d) as centre:
        for text in ('{"nik": "\\ud800"}', '{"full_name": "a\\udfffb"}', '{"\\udc00": 1}'):
            answer = await node.http.post("/records", content=text, headers=JSON)
            # a low surrogate alone is not even valid to yajl: refused as broken JSON then
            assert_refused(answer, 422, "string_surrogate", "json_invalid")
        batch = '{"items": [{"submission_id": "\\ud800", "record": {}}]}'
        answer = await centre.post("/enrollments", content=batch, headers=JSON)
        assert_refused(answer, 422, "string_surrogate")
        # a proper pair (an emoji, escaped) is text like any other: the record's rules decide
        paired = json.dumps({**resident(), "full_name": "Budi \U0001f600"}, ensure_ascii=True)
        answer = await node.http.post("/records", content=paired, headers=JSON)
        assert answer.status_code == 201, answer.text


async def test_control_characters_in_a_records_text_are_refused_not_stored(
    ektp_deployment: DeploymentFactory,
) -> None:
    d = await ektp_deployment()
    node = OfficeClient.of(d)
    async with node, office_client(d) as centre:
        for field, text in (("full_name", "Budi\x00Santoso"), ("address", "Jl. A\tNo. 1")):
            record = {**resident(), field: text}
            answer = await node.http.post("/records", json=record)
            body = assert_refused(answer, 422, "invalid")
            assert [e["type"] for e in body["detail"]] == ["text_control_character"], body
            assert body["detail"][0]["loc"] == ["body", field]
        listed = await node.http.get("/records")
        assert listed.json()["records"] == []
        # the centre answers such an item `invalid` (one bad item never fails the batch)
        bad = item({**resident(seed=4), "full_name": "Budi\x00Santoso"})
        answer = await centre.post("/enrollments", json={"items": [bad, item(resident())]})
        assert answer.status_code == 200, answer.text
        first, second = answer.json()["results"]
        assert first["status"] == "invalid" and "text_control_character" in first["errors"][0]
        assert second["status"] == "accepted"


@pytest.mark.postgres
async def test_cursors_beyond_the_log_are_422_with_a_detail_list(
    ektp_deployment: DeploymentFactory, db_factory: Callable[[], Awaitable[str]]
) -> None:
    d = await ektp_deployment(central_db=await db_factory())
    node = OfficeClient.of(d)
    async with node, office_client(d) as centre:
        for text in ("s" + "9" * 30, "s-1", "s" + "9" * 19, "s²", "s١٢"):
            answer = await centre.get("/decisions", params={"after": cursor(text)})
            body = assert_refused(answer, 422, "cursor")
            assert body["detail"][0]["loc"] == ["query", "after"]
        # the largest cursor that fits is simply past the end: an empty page
        largest = await centre.get("/decisions", params={"after": cursor("s" + "9" * 18)})
        assert largest.status_code == 200 and largest.json()["decisions"] == []
        answer = await node.http.get("/records", params={"cursor": "!!not-a-cursor"})
        body = assert_refused(answer, 422, "cursor_invalid")
        assert body["detail"][0]["loc"] == ["query", "cursor"]
