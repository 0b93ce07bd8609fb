"""The OCI backend: run sandboxes started by ``runc`` or ``runsc`` directly, builds in the Docker builder.

No daemon is on the run path: each run is one ``<runtime> run`` of a fresh bundle whose PID 1 is the
program itself (no agent, no exec), with stdout and stderr read straight from the runtime's pipes.
Compiling stays in the Docker engine's warm builder sandboxes (``docker/builds.py``: a ``docker exec``
costs a few tens of milliseconds against a compile's hundreds). No sandbox is started ahead of need: a start costs tens
of milliseconds, and a started sandbox's argv and exit status could not be handed to a run.

A server that dies mid-run has its sandboxes killed and deleted by a watcher process of its own
(``deathwatch``: nothing inside the sandbox holds the deadline, and runsc ignores RLIMIT_CPU), and the
next :meth:`OciBackend.start` of the same instance removes whatever is left: every sandbox is under a
state root (``--root``) of this instance's own, so reaping is exact.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import docker

from gosandbox import metrics
from gosandbox.backends.base import BuildJob, BuildOutcome, ExecJob, ExecOutcome
from gosandbox.backends.cgroups import CgroupPlaces, cpu_time_ns_at, merge_usage, read_usage_at
from gosandbox.backends.docker.builds import Builds, BuildsConfig
from gosandbox.backends.host_ids import check_host_range
from gosandbox.backends.live import PipeStdin, StdinSink, feed
from gosandbox.backends.oci.bundle import Bundle, BundlePlace, write_bundle
from gosandbox.backends.oci.deathwatch import DeathWatch
from gosandbox.backends.oci.outcome import outcome, run_end
from gosandbox.backends.oci.rootfs import remove_unfinished, rootfs_for
from gosandbox.backends.oci.runtime import OciRuntime, find_runtime, pipe_chunks, runtime_failure
from gosandbox.backends.oci.separation import Separation, remove_leftover_views, views_of
from gosandbox.backends.oci.usage import UsageSampler, remove_instance_cgroups, sandbox_places
from gosandbox.backends.oci.userns import NamespacesAhead
from gosandbox.backends.streams import BoundedOutput
from gosandbox.backends.supervisor import SocketChannel, SupervisorLink, SupervisorStdin
from gosandbox.backends.watch import SandboxKiller, stop_flood, watch
from gosandbox.errors import BackendUnavailable, SandboxFailure

logger = logging.getLogger(__name__)

#: After the program's pipes closed, the runtime exits at once; past this it is stuck and killed.
_RUNTIME_EXIT_S = 10.0
_CLEANUP_WORKERS = 2


@dataclass(frozen=True)
class OciConfig:
    #: the builders' configuration, and the state directory, instance and policy of every run
    builds: BuildsConfig
    runtime: str = "runc"
    #: runsc only: its binary (None: found on PATH) and gVisor platform (runtime.RUNSC_PLATFORMS)
    runsc_binary: str | None = None
    runsc_platform: str = "auto"
    state_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state_dir", self.builds.state_dir / "oci")


class OciKiller(SandboxKiller):
    """Kills an OCI sandbox: SIGKILL to its PID 1 ends its pid namespace, so every process in it."""

    def __init__(self, runtime: OciRuntime, sandbox_id: str, places: CgroupPlaces) -> None:
        super().__init__()
        self.runtime, self.sandbox_id, self.places = runtime, sandbox_id, places

    def _kill(self) -> None:
        self.usage = read_usage_at(self.places)  # runsc's cgroup goes with the sandbox
        self.runtime.kill(self.sandbox_id)


class OciBackend:
    def __init__(self, config: OciConfig, client: docker.DockerClient | None = None) -> None:
        if os.geteuid() != 0:
            raise BackendUnavailable(
                "the OCI backend needs root: it creates namespaces and cgroups itself",
                hint="run gosandbox as root, or set GOSANDBOX_BACKEND=docker",
            )
        self.config = config
        instance = _own_segment(config.builds.instance)
        binary = config.runsc_binary if config.runtime == "runsc" else None
        root = config.state_dir / "state" / config.runtime / instance
        self.runtime = find_runtime(config.runtime, root, binary, config.runsc_platform)
        # The builder runs under the engine's runc whatever the run runtime is: it never runs user code.
        builder_policy = replace(config.builds.policy, runtime="runc")
        self.builds = Builds(replace(config.builds, policy=builder_policy), client)
        self._bundles_dir = config.state_dir / "bundles" / instance
        self._start_lock = threading.Lock()
        self._place: BundlePlace | None = None
        self._namespaces: NamespacesAhead | None = None  # runc: user namespaces made ahead (userns.py)
        self._watch: DeathWatch | None = None
        self._cleanup = ThreadPoolExecutor(max_workers=_CLEANUP_WORKERS, thread_name_prefix="oci-cleanup")
        self._pending_removals = threading.BoundedSemaphore(2 * _CLEANUP_WORKERS)

    @property
    def go_version(self) -> str:
        return self.builds.go_version

    @property
    def go_versions(self) -> list[str]:
        return self.builds.go_versions

    @property
    def build_identity(self) -> str:
        """The builder images: the run image's root filesystem does not shape the binary."""
        return self.builds.build_identity

    def start(self) -> None:
        """Remove what a crashed predecessor of this instance left, unpack the run image's root once."""
        with self._start_lock:
            if self._place is not None:
                return
            if self.runtime.name == "runc":
                check_host_range()  # the host ids of the sandboxes' user namespaces are no one else's
                self._namespaces = NamespacesAhead()
            self.builds.reap()  # builders a crashed predecessor left
            self._reap()
            # From here on, a dead server's sandboxes (and their root views) go with it.
            self._watch = DeathWatch(self.runtime, views_of(_own_segment(self.config.builds.instance)))
            state_dir = self.config.state_dir
            remove_unfinished(state_dir)
            rootfs = rootfs_for(self.builds.client, self.builds.images.runner, state_dir)
            self._place = BundlePlace(rootfs, self.config.builds.instance, self.config.builds.policy, self.runtime.name)

    def _reap(self) -> None:
        leftovers = self.runtime.list_ids()
        for sandbox_id in leftovers:
            self.runtime.kill(sandbox_id)
            self.runtime.delete(sandbox_id)
        metrics.sandboxes_reaped(len(leftovers))
        if leftovers:
            logger.warning("removed %d OCI sandbox(es) left behind by an earlier process", len(leftovers))
        remove_leftover_views(_own_segment(self.config.builds.instance))
        shutil.rmtree(self._bundles_dir, ignore_errors=True)
        self._bundles_dir.mkdir(parents=True, mode=0o700, exist_ok=True)

    def check_ready(self) -> None:
        self.builds.check_ready()

    def build(self, job: BuildJob) -> BuildOutcome:
        self.start()
        return self.builds.build(job)

    def execute(self, job: ExecJob) -> ExecOutcome:
        self.start()
        assert self._place is not None
        bundle = Bundle(self._bundles_dir / uuid.uuid4().hex, uuid.uuid4().hex)
        separation = self._separation(bundle.sandbox_id)
        try:
            rlimits = write_bundle(self._place, bundle, job, separation)
            metrics.sandbox_created("run")
            return self._run(bundle, job, rlimits)
        finally:
            # The program is dead and its counters read: removal need not delay the result, only the next
            # run when removals fall behind (backpressure, not a backlog).
            self._pending_removals.acquire()
            self._cleanup.submit(self._remove, bundle, separation)

    def _separation(self, sandbox_id: str) -> Separation | None:
        """Under runc, the sandbox's own root view and user namespace (separation.py); gVisor needs neither."""
        if self.runtime.name != "runc":
            return None
        assert self._place is not None
        assert self._namespaces is not None
        return Separation.open(self._place.rootfs, _own_segment(self._place.instance), sandbox_id, self._namespaces)

    def _remove(self, bundle: Bundle, separation: Separation | None = None) -> None:
        try:
            self.runtime.delete(bundle.sandbox_id)
            if separation is not None:
                separation.close()
            shutil.rmtree(bundle.directory, ignore_errors=True)
            metrics.sandbox_removed("run")
        finally:
            self._pending_removals.release()

    def _run(self, bundle: Bundle, job: ExecJob, rlimits: dict[str, int] | None = None) -> ExecOutcome:
        places = sandbox_places(self.config.builds.instance, bundle.sandbox_id)
        killer = OciKiller(self.runtime, bundle.sandbox_id, places)
        finished = threading.Event()
        output = BoundedOutput(job.limits.output_bytes, lambda: stop_flood(killer, output, finished), job.on_output)
        # Under runsc the sandbox's stdin is its supervisor's socket (it opens the program's stdin file itself).
        channel = SocketChannel() if self.runtime.name == "runsc" else None
        # A live run under runc: the program's stdin is a pipe we feed.
        pipe = os.pipe() if channel is None and job.live is not None else None
        with bundle.stdin.open("rb") as stdin_file:
            stdin = stdin_file if channel is None else channel.sandbox_end()
            started = time.monotonic()
            process = self.runtime.run(bundle.directory, bundle.sandbox_id, stdin if pipe is None else pipe[0], rlimits)
        link = None
        if channel is not None:
            channel.runtime_started()
            link = SupervisorLink(places, channel)
            link.start()
        sink = self._live_sink(bundle, pipe, link)
        if job.live is not None and sink is not None:
            feed(job.live, sink, finished)
        sampler = UsageSampler(places).start()
        # Under runc the cgroup's CPU time is the program's; under runsc the supervisor's figures tell it.
        watch(killer, job, finished, started, link.cpu_used_ns if link is not None else lambda: cpu_time_ns_at(places))
        try:
            status = _read_until_exit(process, output)
        finally:
            finished.set()
            if isinstance(sink, PipeStdin):
                sink.end()
            usage = sampler.stop()
            supervised = link.finish(_RUNTIME_EXIT_S) if link is not None else None
        duration = time.monotonic() - started
        failure = runtime_failure(bundle.runtime_log)
        if failure is not None and killer.reason is None:
            logger.warning("%s failed to run a sandbox: %s", self.runtime.name, failure)
            raise SandboxFailure(f"{self.runtime.name} could not run the sandbox; the server log has its answer")
        if killer.usage is not None:
            usage = merge_usage(usage, killer.usage)
        return outcome(killer, output, run_end(status, duration, usage, supervised, killer.reason is not None))

    def _live_sink(self, bundle: Bundle, pipe: tuple[int, int] | None, link: SupervisorLink | None) -> StdinSink | None:
        """Where a live run's input goes: the supervisor's channel under runsc, the pipe under runc."""
        if link is not None:
            return SupervisorStdin(link)
        if pipe is None:
            return None
        os.close(pipe[0])  # the runtime holds the program's end now
        return PipeStdin(pipe[1], lambda number: self.runtime.signal(bundle.sandbox_id, number))

    def close(self) -> None:
        """Remove every sandbox of this instance, its bundles, its state root and cgroups; stop the builders."""
        self._cleanup.shutdown(wait=True)
        self._cleanup = ThreadPoolExecutor(max_workers=_CLEANUP_WORKERS, thread_name_prefix="oci-cleanup")
        for sandbox_id in self.runtime.list_ids():
            self.runtime.delete(sandbox_id)
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        if self._namespaces is not None:
            self._namespaces.close()
            self._namespaces = None
        remove_leftover_views(_own_segment(self.config.builds.instance))
        shutil.rmtree(self._bundles_dir, ignore_errors=True)
        shutil.rmtree(self.runtime.root, ignore_errors=True)
        remove_instance_cgroups(self.config.builds.instance)
        self.builds.close()
        self._place = None


def _own_segment(instance: str) -> str:
    """The instance as one path segment of its own: it names the state root, bundles and cgroups that reaping removes.

    "." or ".." would make those the parent's (every instance's bundles; under ``..``, the cgroup root).
    """
    if instance in ("", ".", "..") or "/" in instance or "\0" in instance:
        raise BackendUnavailable(
            f"the OCI backend cannot name its sandboxes' places after the instance {instance!r}",
            hint="set GOSANDBOX_INSTANCE to letters, digits, '_', '-' and '.' (not '.' or '..')",
        )
    return instance


def _read_until_exit(process: subprocess.Popen[bytes], output: BoundedOutput) -> int:
    """Feed the pipes to ``output`` (then drain them, past the cap), wait for the runtime; its exit status."""
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        chunks = pipe_chunks(process.stdout, process.stderr)
        output.feed(chunks)
        for _ in chunks:  # after an overflow kill: drain what is left, keep nothing
            pass
        return process.wait(timeout=_RUNTIME_EXIT_S)
    except BaseException:
        process.kill()  # the runtime only: the sandbox itself goes with the delete that follows
        process.wait()
        raise
    finally:
        process.stdout.close()
        process.stderr.close()
