"""With the real servers: a centre signing with a key other than the one the office pinned
gets nothing applied, approved or printed; an operator's role decides what it may do."""

from __future__ import annotations

import pytest

from ektp_sync.domain.operators import Role
from ektp_sync.signing import Signer, fingerprint
from ektp_sync.testing import FAST_RETRY, DeploymentFactory, OfficeClient, eventually

from .link_support import new_people, record_all

pytestmark = pytest.mark.integration


async def test_a_centre_with_another_key_approves_nothing_on_the_office(
    ektp_deployment: DeploymentFactory,
) -> None:
    d = await ektp_deployment(start=False, local_env=FAST_RETRY)
    other = d.base_dir / "central" / "other_signing_key.pem"  # the office pinned the usual one
    d.central.args = [*d.central.args, "--signing-key", str(other)]
    await d.start()
    pinned = d.central_public_key_file.read_text().strip()
    async with OfficeClient.of(d) as office:
        ids = await record_all(office, new_people(2, seed=41))

        async def refused() -> bool:
            return bool((await office.status())["centre_key"]["key_refused"])

        await eventually(refused, timeout=60)
        status = await office.status()
        assert status["centre_key"]["pinned_key_fingerprint"] == fingerprint(pinned)
        offered = Signer.load_or_create(other).public_key_b64
        assert fingerprint(offered) in status["centre_key"]["key_refused"]
        for view in await office.records(ids):
            assert view["state"] in ("queued", "uploading", "awaiting_decision")
            answer = await office.http.post(f"/records/{view['id']}/print")
            assert (answer.status_code, answer.json()["rule"]) == (409, "not_approved")


async def test_roles_on_the_running_node(ektp_deployment: DeploymentFactory) -> None:
    d = await ektp_deployment(local_env=FAST_RETRY)
    async with OfficeClient.of(d, role=Role.CLERK) as clerk, OfficeClient.of(d) as supervisor:
        (record_id,) = await record_all(clerk, new_people(1, seed=42))
        await eventually(lambda: supervisor.all_in([record_id], {"approved"}), timeout=60)
        refused = await clerk.http.post(f"/records/{record_id}/print")
        assert (refused.status_code, refused.json()["rule"]) == (403, "role_too_small")
        assert (await supervisor.http.post(f"/records/{record_id}/print")).status_code == 200
        entries = (await clerk.http.get("/audit")).json()["entries"]
        assert [(e["operator"], e["action"], e["record_id"]) for e in entries] == [
            (d.operators[Role.SUPERVISOR].name, "print", record_id)
        ]
