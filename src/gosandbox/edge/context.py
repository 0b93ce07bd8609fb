"""What every route that runs jobs is built with: one value, made once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass

from gosandbox.edge.parsing import ParsingGate
from gosandbox.edge.shutdown import Shutdown
from gosandbox.jobs.service import JobService
from gosandbox.settings import Settings


@dataclass(frozen=True)
class RouteContext:
    """The server's settings, its job service, its "stop now" switch and the parsing slots every body goes through."""

    settings: Settings
    service: JobService
    shutdown: Shutdown
    parsing: ParsingGate
