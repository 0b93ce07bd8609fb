"""The OCI backend: run sandboxes started by ``runc`` or ``runsc`` directly, builds in the Docker builder.

No daemon is on the run path: each run is one ``<runtime> run`` of a bundle of its own whose PID 1 is the
program itself under runc (its supervisor under runsc), with stdout and stderr read straight from the runtime's
pipes. Under runc the sandboxes are created ahead of need (``ahead.py``): the program is launched into one that
waits, by a message on its stdin, and becomes its PID 1 by exec; a run whose limits size a sandbox differently
gets one started for it. Compiling is the builder's (``docker/builds.py``: a build service in warm builder
sandboxes).

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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import docker

from gosandbox import metrics
from gosandbox.backends.base import BuildJob, BuildOutcome, ExecJob, ExecOutcome, Outcomes
from gosandbox.backends.cgroups import (
    CgroupPlaces,
    SandboxUsage,
    cpu_time_ns_at,
    merge_usage,
    peak_can_restart,
    read_usage_at,
    reset_peak_memory_at,
)
from gosandbox.backends.docker.builds import Builds, BuildsConfig
from gosandbox.backends.handover import hand_over
from gosandbox.backends.host_ids import check_host_range
from gosandbox.backends.live import PipeStdin, StdinSink, feed
from gosandbox.backends.oci.ahead import AheadSandbox, LaunchPipe, NotLaunched, launch_message
from gosandbox.backends.oci.bundle import (
    Bundle,
    BundlePlace,
    sized_alike,
    write_ahead_bundle,
    write_bundle,
    write_series_bundle,
)
from gosandbox.backends.oci.deathwatch import DeathWatch
from gosandbox.backends.oci.outcome import outcome, run_end
from gosandbox.backends.oci.rootfs import remove_unfinished, rootfs_for
from gosandbox.backends.oci.runtime import OciRuntime, find_runtime, pipe_chunks, runtime_failure
from gosandbox.backends.oci.separation import Separation, remove_leftover_views, views_of
from gosandbox.backends.oci.series import SeriesPlace, SeriesSandbox, run_series, same_program
from gosandbox.backends.oci.usage import UsageSampler, remove_instance_cgroups, sandbox_places
from gosandbox.backends.oci.userns import NamespacesAhead
from gosandbox.backends.pool import SandboxPool
from gosandbox.backends.streams import BoundedOutput
from gosandbox.backends.supervisor import SocketChannel, SupervisorLink, SupervisorStdin
from gosandbox.backends.watch import SandboxKiller, stop_flood, watch
from gosandbox.errors import BackendUnavailable, SandboxFailure
from gosandbox.limits import Limits

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
    #: runc: sandboxes created ahead of need (ahead.py), sized for ``default_limits``; 0: each run starts its own
    ahead: int = 2
    default_limits: Limits = field(default_factory=Limits)
    #: an ahead sandbox's first process exits unlaunched after this; none older than half of it is handed out
    lease_s: float = 120.0
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
        self._ahead: SandboxPool[AheadSandbox] | None = None
        self._idle: set[str] = set()  # the ahead sandboxes no run has taken yet, from before their creation
        self._idle_lock = threading.Lock()
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
            if self.runtime.name == "runc" and self.config.ahead > 0:
                self._ahead = SandboxPool(self._create_ahead, self._destroy_ahead, self.config.ahead,
                                          self.config.lease_s / 2)  # fmt: skip
                metrics.watch_pool(self._ahead.ready_count)

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
        message = launch_message(job)
        if self._ahead is not None and message is not None and sized_alike(job.limits, self.config.default_limits):
            return self._execute_ahead(job, message)
        return self._execute_fresh(job)

    def execute_series(self, jobs: Sequence[ExecJob]) -> Outcomes:
        """Each job's outcome in order; the runs of one program share sandboxes, one case after another (series.py)."""
        self.start()
        # Each case's memory peak needs the cgroup's started over before it (v1). Under runsc the Sentry keeps the
        # memory a case freed for the next, and a case past the memory limit takes the whole sandbox down.
        # There each case starts a sandbox of its own.
        series = self.runtime.name == "runc" and peak_can_restart()
        if len(jobs) < 2 or not same_program(jobs) or not series:
            return (self.execute(job) for job in jobs)
        return run_series(jobs, self._start_series)

    def _start_series(self, job: ExecJob) -> SeriesSandbox:
        """Start a sandbox whose first process is the series supervisor of ``job``'s program (series.py)."""
        assert self._place is not None
        bundle = Bundle(self._bundles_dir / uuid.uuid4().hex, uuid.uuid4().hex)
        separation, channel, report = None, SocketChannel(), None
        try:
            separation = self._separation(bundle.sandbox_id)
            assert separation is not None  # runc's
            rlimits, fifo = write_series_bundle(self._place, bundle, job, separation)
            # Read and write: the FIFO never reads as ended, the runtime's stdout does when the sandbox ends.
            report = os.open(fifo, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            process = self.runtime.run(bundle.directory, bundle.sandbox_id, channel.sandbox_end(), rlimits)
        except BaseException:
            channel.close()
            if report is not None:
                os.close(report)
            self._remove_files(bundle, separation)
            raise
        channel.runtime_started()
        metrics.sandbox_created("run")

        def end(process: subprocess.Popen[bytes]) -> None:
            self._pending_removals.acquire()
            self._cleanup.submit(self._end_series, bundle, separation, process)

        places = sandbox_places(self.config.builds.instance, bundle.sandbox_id)
        where = SeriesPlace(bundle.sandbox_dir, places, lambda: self.runtime.kill(bundle.sandbox_id), end)
        return SeriesSandbox(process, channel, where, report)

    def _end_series(self, bundle: Bundle, separation: Separation | None, process: subprocess.Popen[bytes]) -> None:
        """Wait for a series sandbox's runtime (its supervisor ends at our hang-up), then remove it."""
        try:
            _reap_runtime(process)
            failure = runtime_failure(bundle.runtime_log)
            if failure is not None:
                logger.warning("%s failed to run a series sandbox: %s", self.runtime.name, failure)
        finally:
            self._remove(bundle, separation)

    def _execute_fresh(self, job: ExecJob) -> ExecOutcome:
        """Run ``job`` in a sandbox started for it, whose first process is the program (or its supervisor)."""
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

    def _execute_ahead(self, job: ExecJob, message: bytes) -> ExecOutcome:
        """Run ``job`` in a sandbox created ahead (one created now when none is ready); see ahead.py."""
        assert self._ahead is not None
        sandbox = self._ahead.acquire()
        self._set_idle(sandbox.bundle.sandbox_id, False)
        try:
            hand_over(sandbox.bundle.sandbox_dir, job)
            return self._launch(sandbox, job, message)
        except NotLaunched as exc:
            # Its launcher was gone (killed, or past its lease): the idle ones may be too; this run starts its own.
            logger.warning("sandbox %s created ahead could not be launched: %s", sandbox.bundle.sandbox_id[:12], exc)
            self._ahead.discard_idle()
            return self._execute_fresh(job)
        finally:
            self._pending_removals.acquire()
            self._cleanup.submit(self._end_ahead, sandbox)

    def _create_ahead(self) -> AheadSandbox:
        """Start a sandbox whose first process waits for its program (ahead.py), sized for the default limits."""
        assert self._place is not None
        started = time.monotonic()
        bundle = Bundle(self._bundles_dir / uuid.uuid4().hex, uuid.uuid4().hex)
        separation = None
        read_fd, write_fd = os.pipe()
        self._set_idle(bundle.sandbox_id, True)
        try:
            separation = self._separation(bundle.sandbox_id)
            limits = self.config.default_limits  # sized_alike() sends only runs of these limits here
            rlimits = write_ahead_bundle(self._place, bundle, limits, self.config.lease_s, separation)
            process = self.runtime.run(bundle.directory, bundle.sandbox_id, read_fd, rlimits)
        except BaseException:
            os.close(write_fd)
            self._remove_files(bundle, separation)
            self._set_idle(bundle.sandbox_id, False)
            raise
        finally:
            os.close(read_fd)  # the runtime holds the sandbox's end now
        metrics.sandbox_created("run")
        return AheadSandbox(bundle, separation, process, LaunchPipe(write_fd), started)

    def _destroy_ahead(self, sandbox: AheadSandbox) -> None:
        """Remove an ahead sandbox no run took (too old, or the backend closes); the pool's thread must go on."""
        self._pending_removals.acquire()
        try:
            self._end_ahead(sandbox)
        except Exception as exc:  # its removal failed: the next start's reaper removes what is left
            logger.warning("could not remove sandbox %s created ahead: %s", sandbox.bundle.sandbox_id[:12], exc)

    def _set_idle(self, sandbox_id: str, idle: bool) -> None:
        with self._idle_lock:
            if idle:
                self._idle.add(sandbox_id)
            else:
                self._idle.discard(sandbox_id)

    def idle_sandbox_ids(self) -> frozenset[str]:
        """The sandboxes created ahead (or being created) that no run has taken: no run is in them."""
        with self._idle_lock:
            return frozenset(self._idle)

    def _end_ahead(self, sandbox: AheadSandbox) -> None:
        """End an ahead sandbox, run in or not, and remove it; the removal permit the caller took is released
        whatever fails before."""
        try:
            sandbox.pipe.close()  # an unlaunched launcher exits at the hang-up
            if sandbox.process.poll() is None:
                self.runtime.kill(sandbox.bundle.sandbox_id)  # what still runs in it (a run not read to its end)
            _reap_runtime(sandbox.process)
        finally:
            self._set_idle(sandbox.bundle.sandbox_id, False)
            self._remove(sandbox.bundle, sandbox.separation)

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
            self._remove_files(bundle, separation)
            metrics.sandbox_removed("run")
        finally:
            self._pending_removals.release()

    def _remove_files(self, bundle: Bundle, separation: Separation | None) -> None:
        if separation is not None:
            separation.close()
        shutil.rmtree(bundle.directory, ignore_errors=True)

    def _run(self, bundle: Bundle, job: ExecJob, rlimits: dict[str, int] | None = None) -> ExecOutcome:
        places = sandbox_places(self.config.builds.instance, bundle.sandbox_id)
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
        return self._follow(_Running(bundle, job, process, places, started, link, sink))

    def _launch(self, sandbox: AheadSandbox, job: ExecJob, message: bytes) -> ExecOutcome:
        """Make the waiting sandbox's first process the program; its CPU and peak so far are not the program's."""
        bundle = sandbox.bundle
        places = sandbox_places(self.config.builds.instance, bundle.sandbox_id)
        reset_peak_memory_at(places)
        cpu_before_ns = cpu_time_ns_at(places) or 0
        started = time.monotonic()
        try:
            if sandbox.process.poll() is not None:  # its first process, the launcher, has ended
                raise OSError(f"its runtime exited with {sandbox.process.returncode}")
            sandbox.pipe.send(message)
        except OSError as exc:  # its launcher is gone: its lease ended, or something killed it
            raise NotLaunched(str(exc)) from exc
        sink: StdinSink | None = None
        if job.live is not None:  # the input follows the message on the same pipe
            fd = sandbox.pipe.take()
            assert fd is not None
            sink = PipeStdin(fd, lambda number: self.runtime.signal(bundle.sandbox_id, number))
        else:
            sandbox.pipe.close()
        return self._follow(_Running(bundle, job, sandbox.process, places, started, None, sink, cpu_before_ns))

    def _follow(self, running: _Running) -> ExecOutcome:
        """Read a started run to its end, within its limits; its outcome."""
        bundle, job, places = running.bundle, running.job, running.places
        killer = OciKiller(self.runtime, bundle.sandbox_id, places)
        finished = threading.Event()
        output = BoundedOutput(job.limits.output_bytes, lambda: stop_flood(killer, output, finished), job.on_output)
        link, sink = running.link, running.sink
        if job.live is not None and sink is not None:
            feed(job.live, sink, finished)
        sampler = UsageSampler(places).start()
        # Under runc the cgroup's CPU time is the program's; under runsc the supervisor's figures tell it.
        watch(killer, job, finished, running.started, link.cpu_used_ns if link is not None else running.cgroup_cpu_ns)
        try:
            status = _read_until_exit(running.process, output)
        finally:
            finished.set()
            if isinstance(sink, PipeStdin):
                sink.end()
            usage = sampler.stop()
            supervised = link.finish(_RUNTIME_EXIT_S) if link is not None else None
        duration = time.monotonic() - running.started
        failure = runtime_failure(bundle.runtime_log)
        if failure is not None and killer.reason is None:
            logger.warning("%s failed to run a sandbox: %s", self.runtime.name, failure)
            raise SandboxFailure(f"{self.runtime.name} could not run the sandbox; the server log has its answer")
        if killer.usage is not None:
            usage = merge_usage(usage, killer.usage)
        usage = running.programs_share(usage)
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
        if self._ahead is not None:
            self._ahead.close()  # the idle ones, before the cleanup workers stop
            self._ahead = None
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


@dataclass(frozen=True)
class _Running:
    """A run whose sandbox runs: what reading it to its end needs."""

    bundle: Bundle
    job: ExecJob
    process: subprocess.Popen[bytes]
    places: CgroupPlaces
    started: float
    link: SupervisorLink | None = None
    sink: StdinSink | None = None
    #: the cgroup's CPU time before the program (an ahead sandbox's launcher used it)
    cpu_before_ns: int = 0

    def cgroup_cpu_ns(self) -> int | None:
        """The program's CPU time so far by the cgroup (runc: the program's processes only, after the launch)."""
        total = cpu_time_ns_at(self.places)
        return None if total is None else max(0, total - self.cpu_before_ns)

    def programs_share(self, usage: SandboxUsage) -> SandboxUsage:
        if usage.cpu_ns is None or not self.cpu_before_ns:
            return usage
        return replace(usage, cpu_ns=max(0, usage.cpu_ns - self.cpu_before_ns))


def _reap_runtime(process: subprocess.Popen[bytes]) -> None:
    """Wait for an ahead sandbox's runtime process (its sandbox killed or ended); close our ends of its pipes."""
    try:
        process.wait(timeout=_RUNTIME_EXIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


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
