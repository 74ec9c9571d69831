"""What one central-server process holds while it runs, shared by routes and the worker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from central_server.body import BodyLimits
from central_server.dedup.gallery import Gallery
from central_server.faults import FaultInjector
from central_server.waiting import Pulse
from ektp_sync.config import CentralSettings
from ektp_sync.signing import Signer


@dataclass
class CentralState:
    settings: CentralSettings
    engine: AsyncEngine
    signer: Signer
    gallery: Gallery = field(default_factory=Gallery)
    faults: FaultInjector = field(default_factory=FaultInjector)
    body_limits: BodyLimits = field(default_factory=BodyLimits)
    #: set by intake after a commit so the dedup worker starts at once instead of polling
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: serialises this process's gallery users (worker and adjudication); the database lock
    #: does the same across processes
    dedup_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: pulsed after every commit of decisions: long polls of the feed answer at once
    decided: Pulse = field(default_factory=Pulse)
    #: set when the process is asked to exit: long polls answer now, not at their deadline
    closing: asyncio.Event = field(default_factory=asyncio.Event)
