"""Heavy packets: a recorded resident split into the core that travels in the intake batch and
the attachments that follow it as resumable uploads.

The core carries `biometrics.manifest` (name → size and SHA-256) instead of the inline base64
`attachments`; the attachments are decoded and sealed with the node's data key (never in clear
on disk), bound to their record and name, ready for `RecordStore.add` to store in the
transaction that stores the record.
"""

from __future__ import annotations

import base64
import hashlib

from ektp_sync.sealing import DataKey
from ektp_sync.wire import ManifestEntry, ResidentRecord
from local_server.errors import ManifestFromOperator
from local_server.store.packets import SealedFile


def context(record_id: str, name: str) -> bytes:
    """What a sealed attachment is bound to: it opens for this record and name only."""
    return f"packet_files.content:{record_id}:{name}".encode()


def split(
    resident: ResidentRecord, record_id: str, key: DataKey, min_bytes: int = 0
) -> tuple[ResidentRecord, list[SealedFile]]:
    """The core to send (manifest instead of attachments) and the sealed files to upload;
    attachments under `min_bytes` in all stay inline (the record as it is, no files)."""
    if resident.biometrics.manifest:
        raise ManifestFromOperator()
    attachments = resident.biometrics.attachments
    if not attachments or _decoded_size(attachments) < min_bytes:
        return resident, []
    files: list[SealedFile] = []
    manifest: dict[str, ManifestEntry] = {}
    for name, encoded in attachments.items():
        raw = base64.b64decode(encoded)  # validated by the wire schema already
        digest = hashlib.sha256(raw).hexdigest()
        manifest[name] = ManifestEntry(size=len(raw), sha256=digest)
        files.append(SealedFile(name, len(raw), digest, key.seal(raw, context(record_id, name))))
    biometrics = resident.biometrics.model_copy(update={"attachments": {}, "manifest": manifest})
    return resident.model_copy(update={"biometrics": biometrics}), files


def split_correction(
    corrected: ResidentRecord, record_id: str, key: DataKey, min_bytes: int = 0
) -> tuple[ResidentRecord, list[SealedFile] | None]:
    """A corrected record: new inline attachments replace the stored files; a manifest kept
    from the stored core keeps them (None); neither removes them."""
    biometrics = corrected.biometrics
    if biometrics.manifest and not biometrics.attachments:
        return corrected, None
    return split(corrected, record_id, key, min_bytes)


def _decoded_size(attachments: dict[str, str]) -> int:
    """Decoded bytes of base64 values (validated already), from their lengths."""
    return sum(len(v) * 3 // 4 - v[-2:].count("=") for v in attachments.values())
