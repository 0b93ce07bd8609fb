"""Labels on every sandbox, and the reaper that removes what a crash left behind."""

from __future__ import annotations

from collections.abc import Collection

import docker

from gosandbox.backends.docker.errors import docker_errors

LABEL = "gosandbox"
INSTANCE_LABEL = "gosandbox.instance"


def labels_for(instance: str) -> dict[str, str]:
    return {LABEL: "1", INSTANCE_LABEL: instance}


def list_sandboxes(client: docker.DockerClient, instance: str | None) -> list[str]:
    """Ids of labelled containers, of one instance or of all instances."""
    label = f"{INSTANCE_LABEL}={instance}" if instance is not None else LABEL
    with docker_errors("listing sandboxes"):
        return [c["Id"] for c in client.api.containers(all=True, filters={"label": label})]


def reap(client: docker.DockerClient, instance: str | None, *, spare: Collection[str] = ()) -> int:
    """Remove every labelled container of ``instance`` (all instances when None) but those in ``spare``;
    return the count."""
    removed = 0
    for container_id in list_sandboxes(client, instance):
        if container_id in spare:
            continue
        with docker_errors("removing a leftover sandbox"):
            try:
                client.api.remove_container(container_id, force=True, v=True)
                removed += 1
            except docker.errors.NotFound:
                pass  # gone meanwhile
            except docker.errors.APIError as exc:
                if exc.status_code != _CONFLICT:
                    raise  # 409: "removal already in progress" by someone else is just as good
    return removed


_CONFLICT = 409
