"""The OpenAPI documents of both servers, complete: bodies read by hand and every error status.

Routes that read their JSON body themselves (size caps, gzip, streaming checks) describe it in
`openapi_extra`; a model's JSON schema keeps its sub-models under `$defs`, which means nothing
inside an OpenAPI document. `json_body` refers to the model among the components instead, and
`install` puts it (and its sub-models) there. `errors` lists error statuses with their shape
(`ErrorBody`; 422 is `ValidationErrorBody`), so generated clients and fuzzers know every answer.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from ektp_sync.wire import ErrorBody, ValidationErrorBody

_REF = "#/components/schemas/{model}"

_WHY = {
    400: "Malformed request (e.g. the body ended early)",
    401: "No valid credentials",
    403: "Credentials valid, but not for this route",
    404: "No such resource (for the caller)",
    409: "The resource's state does not allow it",
    410: "Gone: the upload expired, is not needed, or must be sent again (`rule` says which)",
    412: "Precondition failed: a tus version this server does not speak",
    413: "Body (or its decompressed form, or the attachments) too large",
    415: "Content-Encoding other than gzip or none",
    421: "Misdirected: the Host header does not name this server (DNS rebinding guard)",
    422: "Invalid input: `detail` lists each failed check, `rule` names the first",
    429: "Too many requests; retry after Retry-After",
    460: "Checksum mismatch: the chunk was not stored; send it again (tus checksum extension)",
    503: "Not taking work now; retry after Retry-After",
}

Responses = dict[int | str, dict[str, Any]]


def errors(*statuses: int) -> Responses:
    """Responses of these error statuses, each with its body's model."""
    return {
        status: {
            "model": ValidationErrorBody if status == 422 else ErrorBody,
            "description": _WHY[status],
        }
        for status in statuses
    }


def json_body(model: type[BaseModel], name: str | None = None) -> dict[str, Any]:
    """`openapi_extra` of a route that reads `model` as its JSON body by hand (under `name`
    among the components; `install` must be given the same name and schema)."""
    ref = {"$ref": _REF.format(model=name or model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema for `install`: references point into the components, where its
    sub-models (`$defs`) go too."""
    return model.model_json_schema(ref_template=_REF)


def install(app: FastAPI, schemas: dict[str, dict[str, Any]]) -> None:
    """Make `app.openapi()` carry `schemas` (name → JSON schema, `$defs` hoisted) among its
    components, for the bodies `json_body` refers to."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in schemas.items():
                schema = dict(schema)
                components.update(schema.pop("$defs", {}))
                components[name] = schema
            app.openapi_schema = document
        return app.openapi_schema

    setattr(app, "openapi", openapi)  # noqa: B010 (FastAPI's documented way to customise it)
