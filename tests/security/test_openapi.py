"""Both servers' OpenAPI documents are valid and complete: every `$ref` resolves (the node's
`POST /records` body pointed at a `$defs/Biometrics` nothing held), every body is described,
and every error status a route answers is listed with its shape."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from openapi_spec_validator import validate

from central_server.app import create_app as create_centre
from ektp_sync.config import CentralSettings, LocalSettings
from local_server.app import create_app as create_node

_REF = re.compile(r'"\$ref": "([^"]*)"')


def centre(tmp_path: Path) -> FastAPI:
    return create_centre(CentralSettings(offices={"6172": "key"}, data_dir=tmp_path))


def node(tmp_path: Path) -> FastAPI:
    return create_node(LocalSettings(data_dir=tmp_path, trust_first_key=True))


@pytest.fixture(params=["centre", "node"])
def document(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    app = centre(tmp_path) if request.param == "centre" else node(tmp_path)
    made: dict[str, Any] = app.openapi()
    return made


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def test_every_reference_resolves_within_the_document(document: dict[str, Any]) -> None:
    refs = set(_REF.findall(json.dumps(document)))
    assert refs, "no references at all: the check would prove nothing"
    for ref in refs:
        assert ref.startswith("#/"), ref
        target: Any = document
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and part in target, f"{ref} does not resolve"
            target = target[part]
    assert "$defs" not in json.dumps(document)


def test_every_json_body_is_described(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        # tus creation (POST /uploads) carries its request in headers, by that protocol
        bodiless = path.endswith(("/print", "/retry")) or path.startswith("/api/v1/uploads")
        if method in ("POST", "PUT") and not bodiless:
            body = operation.get("requestBody", {}).get("content", {})
            assert "application/json" in body, f"{method} {path} has no documented body"


def test_every_error_status_is_listed_with_its_shape(document: dict[str, Any]) -> None:
    shapes = {"ErrorBody", "ValidationErrorBody"}
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if not status.startswith("4"):
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema["$ref"].rsplit("/", 1)[1] in shapes, (method, path, status)
        listed = set(operation["responses"])
        if operation.get("requestBody"):
            assert {"413", "422"} <= listed, (method, path, listed)
        if "{" in path:
            assert "404" in listed, (method, path, listed)
        if path.startswith("/api/v1/records") and method != "GET":
            assert "409" in listed, (method, path, listed)


def test_the_centre_lists_its_auth_and_load_shedding_answers(tmp_path: Path) -> None:
    document = centre(tmp_path).openapi()
    intake = document["paths"]["/api/v1/enrollments"]["post"]["responses"]
    # gzip is the intake's alone: the only body with a Content-Encoding to refuse
    assert {"401", "403", "413", "415", "422", "503"} <= set(intake)
    review = document["paths"]["/api/v1/reviews/{submission_id}"]["post"]["responses"]
    assert {"401", "403", "404", "409", "422"} <= set(review)
