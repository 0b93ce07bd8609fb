"""The builds half of the Docker engine: one warm builder sandbox per installed toolchain, and their lifecycle.

Both engines compile here: the Docker backend runs programs in containers of the same engine, the OCI
backend runs them under runc/runsc directly but builds in these builders all the same: a build is a request to
the builder's build service over a unix socket (no engine call on the path), so the engine adds nothing to it.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path

import docker

from gosandbox import metrics
from gosandbox.backends.base import BuildJob, BuildOutcome
from gosandbox.backends.docker.builder import Builder, BuilderConfig
from gosandbox.backends.docker.engine import connect
from gosandbox.backends.docker.errors import docker_errors
from gosandbox.backends.docker.images import ImageNames, build_cache_volume, image_names, require_images
from gosandbox.backends.docker.race_image import race_cache_volume, race_names, require_race_builder
from gosandbox.backends.docker.reaper import INSTANCE_LABEL, labels_for, reap
from gosandbox.errors import SandboxFailure, UnknownToolchain
from gosandbox.policy import Policy

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildsConfig:
    """What the builders need: ``DockerConfig`` extends it, ``OciConfig`` holds one."""

    state_dir: Path
    instance: str = "default"
    base_image: str | None = None
    #: The run sandboxes' policy in ``DockerConfig`` and ``OciConfig``; :class:`Builds` applies it to the builders
    #: as it is given, so each engine hands it a copy on runc (the builder runs the toolchain, never user code).
    policy: Policy = field(default_factory=Policy)
    builder_memory_mb: int = 2048
    builder_cpus: float = 2.0
    module_proxy_dir: Path | None = None
    #: More toolchains beside the pinned one: name (e.g. "go1.26") -> an image with Go at /usr/local/go.
    toolchains: dict[str, str] = field(default_factory=dict)
    #: Leave the builders running at close for the next process of this instance, which adopts each one that is
    #: the builder it would start (the command line's warm builder); ``gosandbox reap`` removes them.
    keep_builders: bool = False
    #: Builds go to the build service that stays in the builder (its socket); False: one ``docker exec`` each.
    build_service: bool = True
    #: A plain build of one ``main`` package of the standard library is compiled and linked directly.
    direct_builds: bool = True
    #: Each builder's build cache volume's cap (least recently used entries go beyond it; 0: no cap).
    build_cache_max_mb: int = 2048


def own_directory(directory: Path) -> Path:
    """Create ``directory`` (and its parent) traversable to reach one's own uuid directory, not listable."""
    directory.mkdir(parents=True, exist_ok=True)
    for level in (directory, directory.parent):
        level.chmod(0o711)
    return directory


class Builds:
    """The builders of every toolchain of one instance, on one engine; started lazily, removed by :meth:`close`."""

    def __init__(self, config: BuildsConfig, client: docker.DockerClient | None = None) -> None:
        self.config = config
        self.client = client or connect()
        self.images = image_names(config.base_image)
        self.toolchain_images = {self.images.go_version: self.images} | {
            name: image_names(base, go_version=name) for name, base in config.toolchains.items()
        }
        self.labels = labels_for(config.instance)
        # Per instance, so that start() can sweep what a crash left of its own.
        self.builds_dir = own_directory(config.state_dir / "builds" / config.instance)
        self.builders = {
            name: Builder(self.client, self._builder_config(names), config.policy)
            for name, names in self.toolchain_images.items()
        }
        #: The pinned toolchain's race builder (-race builds only; it holds a C toolchain), started on first use.
        self.race_images = race_names(self.images)
        race_config = replace(self._builder_config(self.race_images), cache_volume=race_cache_volume(self.race_images))
        self.race_builder = Builder(self.client, race_config, config.policy)

    @property
    def every_builder(self) -> list[Builder]:
        """The toolchains' builders and the race builder."""
        return [*self.builders.values(), self.race_builder]

    @property
    def go_version(self) -> str:
        return self.images.go_version

    @property
    def go_versions(self) -> list[str]:
        return list(self.builders)

    @property
    def build_identity(self) -> str:
        """Every builder image: a binary cache keyed by this is never served across toolchain images."""
        return "|".join(sorted(names.builder for names in self.toolchain_images.values()))

    def _builder_config(self, images: ImageNames) -> BuilderConfig:
        c = self.config
        return BuilderConfig(
            image=images.builder,
            labels=self.labels,
            builds_dir=self.builds_dir,
            cache_volume=build_cache_volume(images),
            memory_mb=c.builder_memory_mb,
            cpus=c.builder_cpus,
            module_proxy_dir=c.module_proxy_dir,
            module_cache_volume=f"gosandbox-gomodcache-{c.instance}",
            build_service=c.build_service,
            direct_builds=c.direct_builds,
            cache_max_mb=c.build_cache_max_mb,
        )

    def reap(self) -> None:
        """Remove every container of this instance a crashed predecessor left, and its builds' directories.

        Every container: the Docker backend's run sandboxes carry the same instance label. With ``keep_builders``,
        the builders the last process kept are adopted instead where they are the ones this process would start.
        """
        kept, passed_over = self._adopt() if self.config.keep_builders else (set(), set())
        # A kept builder of another configuration is replaced, not a leftover of a crash.
        removed = max(0, reap(self.client, self.config.instance, spare=kept) - len(passed_over))
        metrics.sandboxes_reaped(removed)
        if removed:
            logger.warning("removed %d sandbox(es) left behind by an earlier process", removed)
        # Their containers are gone now (close() may have removed the directory); the adopted keep their markers.
        empty(own_directory(self.builds_dir), keep=self._markers())

    def _adopt(self) -> tuple[set[str], set[str]]:
        """The ids of the kept builders some builder of this process took over, and of those none did."""
        filters = {"label": [f"{INSTANCE_LABEL}={self.config.instance}", "gosandbox.role=builder"]}
        with docker_errors("listing the builders an earlier process kept"):
            found = self.client.api.containers(all=True, filters=filters)
        adopted = {c["Id"] for c in found if any(builder.adopt(c) for builder in self.every_builder)}
        passed_over = {c["Id"] for c in found} - adopted
        if passed_over:
            logger.info("replacing %d kept builder(s) of another image or configuration", len(passed_over))
        return adopted, passed_over

    def _markers(self) -> set[str]:
        """The names of the markers of the builders this process holds (:meth:`Builder.marker`), and of their build
        services' directories."""
        held = {builder.marker(held).name for builder in self.every_builder if (held := builder.current_id)}
        return held | {builder.config.service_dir for builder in self.every_builder if builder.current_id}

    def check_ready(self) -> None:
        with docker_errors("pinging the Docker engine"):
            self.client.ping()
        for names in self.toolchain_images.values():
            require_images(self.client, names)

    def builder_for(self, go_version: str | None, *, race: bool = False) -> Builder:
        """The builder of ``go_version`` (None: the pinned toolchain); :class:`UnknownToolchain` if none.

        ``race``: the race builder, which only the pinned toolchain has (:class:`ImageMissing` until it is built).
        """
        if race:
            if (go_version or self.go_version) != self.go_version:
                raise UnknownToolchain(f"race builds use the pinned toolchain {self.go_version} only")
            require_race_builder(self.client, self.race_images)
            return self.race_builder
        builder = self.builders.get(go_version or self.go_version)
        if builder is None:
            raise UnknownToolchain(f"no builder for {go_version!r}; installed: {', '.join(self.builders)}")
        return builder

    def build(self, job: BuildJob) -> BuildOutcome:
        return self.builder_for(job.go_version, race=job.race).build(job)

    def close(self) -> None:
        """Stop the builders, remove every container of this instance left, and the builds' directory.

        With ``keep_builders`` the builders stay, and so does the directory: it is their ``/builds``.
        """
        if self.config.keep_builders:
            kept = {kept_id for builder in self.every_builder if (kept_id := builder.current_id) is not None}
            reap(self.client, self.config.instance, spare=kept)
            if self.builds_dir.is_dir():
                empty(self.builds_dir, keep=self._markers())
            return
        for builder in self.every_builder:
            try:
                builder.stop()
            except SandboxFailure as exc:  # a busy engine can fail one removal: the reap below retries it
                logger.warning("could not remove a builder sandbox: %s", exc)
        reap(self.client, self.config.instance)
        shutil.rmtree(self.builds_dir, ignore_errors=True)


def empty(directory: Path, keep: Collection[str] = ()) -> None:
    """Remove everything in ``directory`` but the names in ``keep``; the directory stays."""
    for leftover in directory.iterdir():
        if leftover.name in keep:
            continue
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
