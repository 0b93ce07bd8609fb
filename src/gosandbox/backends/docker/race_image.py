"""The race builder image: the builder image and a C toolchain, from Debian's packages, for ``-race`` builds only.

Go's race runtime needs cgo, so a race build needs gcc, binutils and glibc's static libraries; every other
build runs in a builder without them. The image build fetches the packages (gcc and libc6-dev, and what they
depend on) with ``apt-get download`` on the host, once, into a cache directory, unpacks them with
``dpkg-deb`` into the image's context, and builds ``FROM`` the builder image with no network. The race
standard library is pre-built into the image's build cache, as the builder's is.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import docker

from gosandbox.backends.docker.errors import docker_errors
from gosandbox.backends.docker.images import (
    ImageNames,
    Progress,
    _add_bytes,
    _docker_build,
    content_tag,
    image_exists,
)
from gosandbox.errors import ImageMissing, SandboxFailure
from gosandbox.policy import BUILDER_UID
from gosandbox.toolchain import RACE_BUILD_FLAGS, RACE_NO_CLONE3

logger = logging.getLogger(__name__)

REPOSITORY = "gosandbox-race-builder"
#: What the race build needs from Debian: gcc (the compiler, binutils' linker) and glibc's headers and
#: static libraries (libc6-dev); ``apt-cache depends --recurse`` adds what they depend on.
PACKAGES = ("gcc", "libc6-dev")
#: Unpacked but never needed to compile or link: documentation, manuals, translations.
_LEFT_OUT = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian",
             "usr/share/bug", "usr/share/gdb")  # fmt: skip
_STAMP = "packages.txt"


def race_builder_name(names: ImageNames) -> str:
    """The race builder of the builder ``names.builder`` as this code would build it."""
    tag = content_tag(names.builder, Path(__file__).read_bytes(), *PACKAGES)
    return f"{REPOSITORY}:{names.go_version}-{tag}"


def race_names(names: ImageNames) -> ImageNames:
    """``names`` with the race builder in place of the builder (the runner is the same)."""
    return ImageNames(race_builder_name(names), names.runner, names.go_version)


def debs_directory() -> Path:
    """Where the packages are kept between image builds (root: a system cache; others: their own)."""
    if os.geteuid() == 0:
        return Path("/var/cache/gosandbox/race-debs")
    return Path.home() / ".cache" / "gosandbox" / "race-debs"


def require_race_builder(client: docker.DockerClient, names: ImageNames) -> None:
    if not image_exists(client, names.builder):
        raise ImageMissing(f"race builds need the image {names.builder}: run `gosandbox image build`")


def build_race_builder(client: docker.DockerClient, names: ImageNames, progress: Progress) -> str:
    """Build the race builder of ``names`` unless it is current; its name."""
    tag = race_builder_name(names)
    if image_exists(client, tag):
        progress(f"race builder is current: {tag}")
        return tag
    if not image_exists(client, names.builder):  # never a pull: the build is offline
        raise ImageMissing(f"the race builder is built on {names.builder}, which is not built")
    debs = fetch_debs(debs_directory(), progress)
    with tempfile.TemporaryDirectory(prefix="gosandbox-race-image-") as tmp:
        work = Path(tmp)
        progress(f"unpacking {len(debs)} Debian packages for {tag}")
        root = unpack(debs, work / "root")
        _race_context(work / "race.tar", root, names.builder)
        progress(f"building {tag} (the race standard library is pre-built)")
        _docker_build(client, work / "race.tar", tag, {"gosandbox.go-version": names.go_version}, progress)
    prune_race_builders(client, keep=tag, progress=progress)
    return tag


def fetch_debs(directory: Path, progress: Progress) -> list[Path]:
    """The .deb files of :data:`PACKAGES` and their dependencies, downloaded once into ``directory``."""
    stamp = directory / _STAMP
    if stamp.is_file():
        listed = [directory / name for name in stamp.read_text().split()]
        if listed and all(path.is_file() for path in listed):
            return listed
    directory.mkdir(parents=True, exist_ok=True)
    progress(f"downloading {', '.join(PACKAGES)} and their dependencies from Debian's packages")
    closure = _apt(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
                    "--no-breaks", "--no-replaces", "--no-enhances", *PACKAGES], directory)  # fmt: skip
    wanted = sorted({line for line in closure.splitlines() if line[:1].isalnum()})
    before = set(directory.glob("*.deb"))
    _apt(["apt-get", "download", "-q", *wanted], directory)
    debs = sorted(set(directory.glob("*.deb")) - before) or sorted(before)
    stamp.write_text("".join(f"{path.name}\n" for path in debs))
    return debs


def _apt(command: list[str], directory: Path) -> str:
    if shutil.which(command[0]) is None:
        raise SandboxFailure(f"the race builder is made from Debian's packages: {command[0]} is not installed")
    result = subprocess.run(command, cwd=directory, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise SandboxFailure(f"{' '.join(command[:2])} failed: {result.stderr.strip()[-1500:]}")
    return result.stdout


def unpack(debs: list[Path], root: Path) -> Path:
    """Every package's files under ``root`` (``dpkg-deb -x``: no maintainer script runs), less :data:`_LEFT_OUT`."""
    if shutil.which("dpkg-deb") is None:
        raise SandboxFailure("the race builder is made from Debian's packages: dpkg-deb is not installed")
    root.mkdir(parents=True)
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, capture_output=True)  # noqa: S603, S607
    for left_out in _LEFT_OUT:
        shutil.rmtree(root / left_out, ignore_errors=True)
    return root


#: Linked into every race program in place of glibc's clone3 (see :data:`gosandbox.toolchain.RACE_NO_CLONE3`).
NO_CLONE3_C = """/* gosandbox: glibc's pthread_create falls back to clone when clone3 fails with ENOSYS. */
#include <errno.h>
struct clone_args;
int __wrap___clone3(struct clone_args *args, unsigned long size, int (*func)(void *), void *arg) {
\t(void)args; (void)size; (void)func; (void)arg;
\terrno = ENOSYS;
\treturn -1;
}
"""


def _race_dockerfile(builder: str) -> str:
    flags = ", ".join(json.dumps(flag) for flag in RACE_BUILD_FLAGS)
    source = RACE_NO_CLONE3.removesuffix(".o") + ".c"
    return (
        f"FROM {builder}\n"
        "COPY ctoolchain/ /\n"
        f"COPY noclone3.c {source}\n"
        "USER 0:0\n"
        f'RUN ["/usr/bin/gcc", "-O2", "-c", "-o", "{RACE_NO_CLONE3}", "{source}"]\n'
        f"USER {BUILDER_UID}:{BUILDER_UID}\n"
        # The race runtime is cgo's: the go command calls gcc (for runtime/cgo and the external link).
        "ENV CGO_ENABLED=1 CC=gcc\n"
        "WORKDIR /tmp/warm\n"
        f'RUN ["/usr/local/go/bin/go", "build", {flags}, "-o", "/dev/null", "."]\n'
        f'RUN ["/usr/local/go/bin/go", "test", "-c", {flags}, "-o", "/dev/null", "."]\n'
        "WORKDIR /tmp\n"
    )


def _race_context(out: Path, root: Path, builder: str) -> None:
    with tarfile.open(out, "w") as tar:
        _add_bytes(tar, "Dockerfile", _race_dockerfile(builder).encode())
        _add_bytes(tar, "noclone3.c", NO_CLONE3_C.encode())
        tar.add(root, arcname="ctoolchain", filter=_root_owned)


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def race_cache_volume(names: ImageNames) -> str:
    """The race builder's build-cache volume (not ``gosandbox-gocache-*``: the builders' pruning spares it)."""
    return f"gosandbox-racecache-{names.builder.rsplit('-', 1)[-1]}"


def prune_race_builders(client: docker.DockerClient, keep: str, progress: Progress) -> None:
    """Remove older race builders and their build-cache volumes (those no container uses)."""
    with docker_errors("pruning old race builders"):
        for image in client.images.list(name=REPOSITORY):
            for stale in [tag for tag in image.tags if tag != keep]:
                with contextlib.suppress(docker.errors.APIError):  # still used by a container
                    client.images.remove(stale)
                    progress(f"removed old image {stale}")
        kept_volume = f"gosandbox-racecache-{keep.rsplit('-', 1)[-1]}"
        for volume in client.volumes.list(filters={"name": "gosandbox-racecache-"}):
            if volume.name != kept_volume:
                with contextlib.suppress(docker.errors.APIError):
                    volume.remove()
