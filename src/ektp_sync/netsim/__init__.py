"""ektp-sync's user-space network simulator: a Toxiproxy-compatible TCP proxy with field links.

async with NetSim(api="127.0.0.1:0", seed=1) as sim:
    proxy = await sim.add_proxy("wan", "127.0.0.1:0", "127.0.0.1:8600")
    sim.apply_profile("wan", "vsat-rain")
    await sim.set_enabled("wan", False)  # link down
"""

from ektp_sync.netsim.client import NetSimClient
from ektp_sync.netsim.model import TOXIC_ATTRIBUTES, ApiError, ToxicSpec
from ektp_sync.netsim.profiles import PROFILES, profile_names, profile_toxics
from ektp_sync.netsim.proxy import Proxy
from ektp_sync.netsim.sim import DEFAULT_API, NetSim
from ektp_sync.netsim.toxics import Toxic

__all__ = [
    "DEFAULT_API",
    "PROFILES",
    "TOXIC_ATTRIBUTES",
    "ApiError",
    "NetSim",
    "NetSimClient",
    "Proxy",
    "Toxic",
    "ToxicSpec",
    "profile_names",
    "profile_toxics",
]
