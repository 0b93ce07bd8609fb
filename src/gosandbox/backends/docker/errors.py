"""Every call into the Docker SDK goes through :func:`docker_errors`, which maps its failures to ours."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import docker.errors
import requests.exceptions

from gosandbox.errors import EngineUnreachable, ImageMissing, SandboxFailure

logger = logging.getLogger(__name__)


@contextmanager
def docker_errors(doing: str) -> Iterator[None]:
    """Raise :mod:`gosandbox.errors` types, with the SDK's error as the cause, for ``doing``."""
    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise ImageMissing(f"{doing}: image not found ({exc.explanation})") from exc
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        if _is_connection_problem(exc):
            raise EngineUnreachable(f"{doing}: the Docker engine is unreachable") from exc
        # The engine's text can name host paths (mount sources): the log gets it, the caller does not.
        logger.warning("%s: %s", doing, _short(exc))
        raise SandboxFailure(f"{doing} failed; the server log has the engine's answer") from exc


def _is_connection_problem(exc: Exception) -> bool:
    if isinstance(exc, requests.exceptions.ConnectionError):
        return True
    text = str(exc)
    return "Connection aborted" in text or "Error while fetching server API version" in text


def _short(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)[:300]
