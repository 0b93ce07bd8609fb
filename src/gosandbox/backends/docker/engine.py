"""The client for the local Docker engine, made in one place."""

from __future__ import annotations

import docker

from gosandbox.backends.docker.errors import docker_errors

#: Docker 20.10's API; pinned so that building a client never needs the engine.
DOCKER_API_VERSION = "1.41"


def connect(timeout_s: float = 60) -> docker.DockerClient:
    """A client for the engine named by DOCKER_HOST (default: the local socket)."""
    with docker_errors("connecting to the Docker engine"):
        return docker.from_env(version=DOCKER_API_VERSION, timeout=int(timeout_s), max_pool_size=64)
