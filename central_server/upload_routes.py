"""The tus 1.0.0 routes of heavy packets under /api/v1/uploads (office key required; OPTIONS,
which tells a client what the server speaks, is open)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from central_server import tus
from central_server.deps import Office, PacketsPart, injected_faults
from central_server.errors import PastUploadLength, WrongContentType
from central_server.packets import UploadState
from ektp_sync.body import read_limited
from ektp_sync.openapi import errors

UPLOADS = "/uploads"


async def tus_resumable(
    tus_resumable: Annotated[
        str | None,
        # documented as the one value spoken; any other (or none) is tus's 412, checked below
        Header(alias="Tus-Resumable", json_schema_extra={"enum": [tus.VERSION]}),
    ] = None,
) -> None:
    tus.check_version(tus_resumable)


uploads_router = APIRouter(
    dependencies=[Depends(injected_faults), Depends(tus_resumable)],
    responses=errors(400, 401, 403, 404, 409, 410, 412, 413, 415, 422, 460),
)


def _header(name: str, pattern: str, required: bool = True) -> dict[str, object]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "schema": {"type": "string", "pattern": pattern},
    }


# tus's headers, documented as the protocol requires them; the handlers read them as optional
# (include_in_schema=False) so that a missing or malformed one gets tus's answer (400, 415),
# not a generic 422
_DIGITS = r"^[0-9]{1,19}$"
_CREATION = {
    "parameters": [_header("Upload-Length", _DIGITS), _header("Upload-Metadata", r"^[ -~]*$")]
}
_CHUNK = {
    "parameters": [
        _header("Upload-Offset", _DIGITS),
        _header("Upload-Checksum", r"^(sha1|sha256) [A-Za-z0-9+/]+=*$", required=False),
    ],
    "requestBody": {
        "required": True,
        "content": {tus.OFFSET_STREAM: {"schema": {"type": "string", "format": "binary"}}},
    },
}
uploads_public_router = APIRouter()


@uploads_public_router.options(UPLOADS, status_code=204)
async def tus_options() -> Response:
    return Response(status_code=204, headers=tus.server_headers())


@uploads_router.post(UPLOADS, status_code=201, openapi_extra=_CREATION)
async def create_upload(
    request: Request,
    office: Office,
    packets: PacketsPart,
    upload_length: Annotated[
        str | None, Header(alias="Upload-Length", include_in_schema=False)
    ] = None,
    upload_metadata: Annotated[
        str | None, Header(alias="Upload-Metadata", include_in_schema=False)
    ] = None,
) -> Response:
    """tus creation of one manifest entry; again for the same entry: the same upload."""
    length = tus.parse_offset(upload_length, "Upload-Length")
    if length > tus.MAX_SIZE:
        raise PastUploadLength(length, tus.MAX_SIZE)
    meta = tus.parse_metadata(upload_metadata)
    state = await packets.create(
        office, meta["submission_id"], meta["name"], length, meta["sha256"]
    )
    location = str(request.url_for("upload_offset", upload_id=state.upload_id))
    return Response(
        status_code=201,
        headers={"Location": location, **tus.expiry_headers(state.expires_at)},
    )


@uploads_router.head(UPLOADS + "/{upload_id}", name="upload_offset")
async def upload_offset(upload_id: str, office: Office, packets: PacketsPart) -> Response:
    state = await packets.state(office, upload_id)
    return Response(status_code=200, headers={**_offsets(state), "Cache-Control": "no-store"})


@uploads_router.patch(UPLOADS + "/{upload_id}", status_code=204, openapi_extra=_CHUNK)
async def upload_chunk(
    request: Request,
    upload_id: str,
    office: Office,
    packets: PacketsPart,
    content_type: Annotated[
        str | None, Header(alias="Content-Type", include_in_schema=False)
    ] = None,
    upload_offset: Annotated[
        str | None, Header(alias="Upload-Offset", include_in_schema=False)
    ] = None,
    upload_checksum: Annotated[
        str | None, Header(alias="Upload-Checksum", include_in_schema=False)
    ] = None,
) -> Response:
    """One chunk: verified (Upload-Checksum), sealed and committed before the 204."""
    if (content_type or "").split(";")[0].strip().lower() != tus.OFFSET_STREAM:
        raise WrongContentType()
    offset = tus.parse_offset(upload_offset, "Upload-Offset")
    chunk = await read_limited(request, tus.MAX_SIZE)
    tus.verify_checksum(upload_checksum, chunk)
    state = await packets.append(office, upload_id, offset, chunk)
    return Response(status_code=204, headers=_offsets(state, length=False))


@uploads_router.delete(UPLOADS + "/{upload_id}", status_code=204)
async def terminate_upload(upload_id: str, office: Office, packets: PacketsPart) -> Response:
    await packets.terminate(office, upload_id)
    return Response(status_code=204)


def _offsets(state: UploadState, length: bool = True) -> dict[str, str]:
    headers = {"Upload-Offset": str(state.offset), **tus.expiry_headers(state.expires_at)}
    if length:
        headers["Upload-Length"] = str(state.length)
    return headers
