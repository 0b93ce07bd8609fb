"""The Docker backend: a warm builder sandbox and single-use run sandboxes on the local engine."""

from __future__ import annotations

import logging
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import docker

from gosandbox import metrics
from gosandbox.backends.base import BuildJob, BuildOutcome, ExecJob, ExecOutcome
from gosandbox.backends.cgroups import SandboxUsage, cpu_time_ns, docker_places, read_usage, reset_peak_memory
from gosandbox.backends.docker.builder import KILLED_EXIT, Builder
from gosandbox.backends.docker.builds import Builds, BuildsConfig, empty, own_directory
from gosandbox.backends.docker.engine import connect
from gosandbox.backends.docker.errors import docker_errors
from gosandbox.backends.docker.gvisor import builder_policy, starts_program_itself, usage_after_death
from gosandbox.backends.docker.images import AGENT, ImageNames
from gosandbox.backends.docker.options import SandboxShape, container_options, resource_update
from gosandbox.backends.docker.pool import RunSandbox
from gosandbox.backends.handover import (
    PROGRAM_PATH,
    SANDBOX_DIR,
    STDIN_PATH,
    hand_over,
    program_environment,
    working_dir,
)
from gosandbox.backends.host_ids import check_host_range, slot_range, take_slot
from gosandbox.backends.live import feed
from gosandbox.backends.pool import SandboxPool
from gosandbox.backends.streams import BoundedOutput
from gosandbox.backends.supervisor import (
    REPORT_NAME,
    REPORT_PATH,
    SUPERVISOR_CAPABILITIES,
    ReportFileChannel,
    SupervisorLink,
    SupervisorStdin,
    create_report,
    supervisor_args,
)
from gosandbox.backends.watch import Killer, stop_flood, watch
from gosandbox.errors import SandboxFailure
from gosandbox.limits import Limits
from gosandbox.policy import INIT_UID, PROGRAM_UID

#: ``connect`` too: the CLI, the benchmarks and the tests reach the engine through here.
__all__ = ["DockerBackend", "DockerConfig", "connect"]

logger = logging.getLogger(__name__)

_CLEANUP_WORKERS = 2
#: How long a pre-started run sandbox waits for a run before its init exits (the server may be gone).
SANDBOX_LEASE_S = 120.0
#: The agent inside the sandbox kills the run this long after the server's own wall-clock kill should have:
#: the server's kill comes first and decides the verdict; the agent's holds when the server is gone.
AGENT_DEADLINE_GRACE_S = 1.0
#: After the sandbox is gone, its supervisor's last lines are read within this.
_SUPERVISOR_END_S = 5.0


@dataclass(frozen=True)
class DockerConfig(BuildsConfig):
    """The builders' configuration and the run sandboxes': their default size, the pool of pre-started ones."""

    default_limits: Limits = field(default_factory=Limits)
    pool_size: int = 2
    #: A pre-started run sandbox stops by itself this long after its start unless a run claimed it;
    #: the pool hands out none older than half of it.
    sandbox_lease_s: float = SANDBOX_LEASE_S

    def __post_init__(self) -> None:
        if not self.sandbox_lease_s > 0:
            raise ValueError(f"sandbox_lease_s must be positive, not {self.sandbox_lease_s}")


class DockerBackend:
    def __init__(self, config: DockerConfig, client: docker.DockerClient | None = None) -> None:
        self.config = config
        self.builds = Builds(replace(config, policy=builder_policy(config.policy)), client)
        self.client = self.builds.client
        self.images: ImageNames = self.builds.images
        self.labels = self.builds.labels
        # Per instance, so that start() can sweep what a crash left of its own.
        self._sandboxes_dir = own_directory(config.state_dir / "sandboxes" / config.instance)
        self._cleanup = ThreadPoolExecutor(max_workers=_CLEANUP_WORKERS, thread_name_prefix="sandbox-cleanup")
        # Used sandboxes waiting for removal still hold whatever their leftover processes took:
        # past this many, a finishing run waits for one removal (backpressure, not a backlog).
        self._pending_removals = threading.BoundedSemaphore(2 * _CLEANUP_WORKERS)
        self._start_lock = threading.Lock()
        self.pool: SandboxPool[RunSandbox] | None = None
        self._direct = starts_program_itself(config.policy.runtime)
        # Under runc the sandboxes share the engine's users: each program runs as a host uid of its own (host_ids.py)
        # so that no per-user count of the kernel (inotify instances, RLIMIT_NPROC) is shared between runs. gVisor
        # keeps those counts in each sandbox's own kernel.
        self._own_uids = config.policy.runtime == "runc"
        self._uid_slots: dict[str, int] = {}  # a sandbox's container id -> the lock of its uid's slot
        self._uid_slots_lock = threading.Lock()

    @property
    def go_version(self) -> str:
        return self.builds.go_version

    @property
    def go_versions(self) -> list[str]:
        return self.builds.go_versions

    @property
    def build_identity(self) -> str:
        return self.builds.build_identity

    @property
    def builders(self) -> dict[str, Builder]:
        """The builder of each toolchain, by name."""
        return self.builds.builders

    def start(self) -> None:
        """Remove what a crashed predecessor left, then start pre-creating run sandboxes.

        Idempotent; every build and run calls it first, so the reaper only ever runs before
        this process has a container of its own.
        """
        with self._start_lock:
            if self.pool is not None:
                return
            if self._own_uids:
                check_host_range()  # the programs' host uids are no one else's
            self.builds.reap()  # the run sandboxes too: they carry the instance's label
            empty(self._sandboxes_dir)  # their containers are gone now
            self.pool = SandboxPool(
                self._create_sandbox,
                self._destroy_sandbox,
                0 if self._direct else self.config.pool_size,  # each run starts its own sandbox
                self.config.sandbox_lease_s / 2,
            )
            metrics.watch_pool(self.pool.ready_count)

    def check_ready(self) -> None:
        self.builds.check_ready()

    def build(self, job: BuildJob) -> BuildOutcome:
        builder = self.builds.builder_for(job.go_version, race=job.race)
        self.start()
        return builder.build(job)

    def _create_sandbox(self, limits: Limits | None = None) -> RunSandbox:
        limits = limits or self.config.default_limits
        host_dir = self._sandboxes_dir / uuid.uuid4().hex
        host_dir.mkdir(mode=0o755, parents=True)
        shape = SandboxShape(
            image=self.images.runner,
            # After the image's entrypoint, "gosandbox-agent init": its init stops unclaimed at the lease's end.
            command=[f"--lease={math.ceil(self.config.sandbox_lease_s * 1000)}"],
            user=f"{INIT_UID}:{INIT_UID}",
            memory_mb=limits.memory_mb,
            cpus=limits.cpus,
            pids=limits.pids,
            tmpfs_mb=self.config.policy.tmpfs_mb,
            labels={**self.labels, "gosandbox.role": "run"},
            binds={str(host_dir): SANDBOX_DIR},
        )
        started = time.monotonic()  # no later than its lease starts
        try:
            with docker_errors("starting a run sandbox"):
                container = self.client.containers.run(**container_options(shape, self.config.policy))
        except BaseException:
            shutil.rmtree(host_dir, ignore_errors=True)
            raise
        metrics.sandbox_created("run")
        return RunSandbox(container.id, host_dir, limits, started)

    def _destroy_sandbox(self, sandbox: RunSandbox) -> None:
        try:
            with docker_errors("removing a run sandbox"):
                self.client.api.remove_container(sandbox.container_id, force=True, v=True)
            metrics.sandbox_removed("run")
        except Exception as exc:  # the reaper removes it at the next start
            if "No such container" not in str(exc):
                # Its processes may live on: its uid's slot stays taken (until this process ends).
                logger.warning("could not remove sandbox %s: %s", sandbox.container_id[:12], exc)
                return
        finally:
            shutil.rmtree(sandbox.host_dir, ignore_errors=True)
        self._free_uid(sandbox.container_id)

    def _take_uid(self) -> tuple[int, int | None]:
        """The uid a program runs as, and the lock that holds it for its sandbox (None: PROGRAM_UID, shared)."""
        if not self._own_uids:
            return PROGRAM_UID, None
        slot, lock_fd = take_slot()
        return slot_range(slot).host_id(PROGRAM_UID), lock_fd

    def _hold_uid(self, container_id: str, taken: tuple[int, int | None]) -> int:
        uid, lock_fd = taken
        if lock_fd is not None:
            with self._uid_slots_lock:
                self._uid_slots[container_id] = lock_fd
        return uid

    def _free_uid(self, container_id: str) -> None:
        """Its sandbox is gone, and every process of it: the uid may be another's."""
        with self._uid_slots_lock:
            lock_fd = self._uid_slots.pop(container_id, None)
        if lock_fd is not None:
            os.close(lock_fd)

    def _acquire(self) -> RunSandbox:
        self.start()
        assert self.pool is not None
        return self.pool.acquire()

    def _prepare(self, sandbox: RunSandbox, job: ExecJob) -> str:
        """Size the sandbox for the job, hand the binary over, create the exec; return its id."""
        if _shape_of(sandbox.limits) != _shape_of(job.limits):
            self._resize(sandbox, job.limits)
        hand_over(sandbox.host_dir, job)
        # The agent's own deadline, armed as the program starts: it holds when this process is gone.
        deadline_ms = math.ceil((job.limits.wall_s + AGENT_DEADLINE_GRACE_S) * 1000)
        command = [AGENT, "exec", str(deadline_ms), STDIN_PATH, PROGRAM_PATH, *job.args]
        uid = self._hold_uid(sandbox.container_id, self._take_uid())
        with docker_errors("preparing a run sandbox"):
            exec_id: str = self.client.api.exec_create(
                sandbox.container_id,
                command,
                user=f"{uid}:{uid}",
                environment=program_environment(job.limits),
                workdir=working_dir(job),
            )["Id"]
        return exec_id

    def _resize(self, sandbox: RunSandbox, limits: Limits) -> None:
        """Set a pre-started sandbox's cgroup limits to the request's."""
        data = resource_update(limits.memory_mb, limits.cpus, limits.pids, self.config.policy.runtime)
        api = self.client.api
        with docker_errors("resizing a run sandbox"):
            # docker-py's update_container() knows neither NanoCpus nor PidsLimit: the raw endpoint.
            response = api._post_json(api._url("/containers/{0}/update", sandbox.container_id), data=data)
            api._raise_for_status(response)

    def execute(self, job: ExecJob) -> ExecOutcome:
        if self._direct or job.live is not None:  # a live run's input goes through the supervisor
            return self._execute_direct(job)
        sandbox = self._acquire()
        try:
            try:
                exec_id = self._prepare(sandbox, job)
            except SandboxFailure:
                # A pre-started sandbox can die before use (the engine restarted, say):
                # drop the idle ones and try once more in a sandbox started now.
                logger.warning("pre-started sandbox %s unusable; starting a fresh one", sandbox.container_id[:12])
                assert self.pool is not None
                self.pool.discard_idle()
                self._cleanup.submit(self._destroy_sandbox, sandbox)
                sandbox = self._create_sandbox(job.limits)
                exec_id = self._prepare(sandbox, job)
            return self._run(sandbox, exec_id, job)
        finally:
            self._pending_removals.acquire()
            self._cleanup.submit(self._destroy_and_release, sandbox)

    def _execute_direct(self, job: ExecJob) -> ExecOutcome:
        """A sandbox started for this run whose own process is the program (see gvisor.starts_program_itself)."""
        self.start()
        host_dir = self._sandboxes_dir / uuid.uuid4().hex
        host_dir.mkdir(mode=0o755, parents=True)
        hand_over(host_dir, job)
        report = create_report(host_dir / REPORT_NAME)
        uid, lock_fd = self._take_uid()
        shape = SandboxShape(
            image=self.images.runner,
            # The program's supervisor, as another uid (it starts as root and becomes INIT_UID): it opens the stdin
            # file, starts the program as PROGRAM_UID and reports its end and CPU time (backends/supervisor.py).
            entrypoint=supervisor_args(job.args, job.limits.cpu_ms, docker=True, live=job.live is not None, uid=uid),
            command=[],
            user="0:0",
            capabilities=SUPERVISOR_CAPABILITIES,
            stdin_open=True,
            memory_mb=job.limits.memory_mb,
            cpus=job.limits.cpus,
            pids=job.limits.pids,
            tmpfs_mb=self.config.policy.tmpfs_mb,
            labels={**self.labels, "gosandbox.role": "run"},
            binds={str(host_dir): SANDBOX_DIR},
            writable_binds={str(report): REPORT_PATH},
            environment=program_environment(job.limits),
            working_dir=working_dir(job),
        )
        options = container_options(shape, self.config.policy)
        del options["detach"]  # created, attached to, then started
        try:
            with docker_errors("creating a run sandbox"):
                container_id: str = self.client.containers.create(**options).id
        except BaseException:
            shutil.rmtree(host_dir, ignore_errors=True)
            if lock_fd is not None:
                os.close(lock_fd)
            raise
        self._hold_uid(container_id, (uid, lock_fd))
        metrics.sandbox_created("run")
        sandbox = RunSandbox(container_id, host_dir, job.limits, time.monotonic())
        try:
            return self._run_direct(sandbox, job)
        finally:
            self._pending_removals.acquire()
            self._cleanup.submit(self._destroy_and_release, sandbox)

    def _run_direct(self, sandbox: RunSandbox, job: ExecJob) -> ExecOutcome:
        api = self.client.api
        killer = Killer(self.client, sandbox.container_id)
        finished = threading.Event()
        output = BoundedOutput(job.limits.output_bytes, lambda: stop_flood(killer, output, finished), job.on_output)
        with docker_errors("running the program"):
            stream = api.attach(sandbox.container_id, stdout=True, stderr=True, stream=True, demux=True)
            stdin = api.attach_socket(sandbox.container_id, params={"stdin": 1, "stream": 1})
            channel = ReportFileChannel(sandbox.host_dir / REPORT_NAME, getattr(stdin, "_sock", stdin))
            link = SupervisorLink(docker_places(sandbox.container_id), channel)
            started = time.monotonic()
            api.start(sandbox.container_id)
            link.start()
            if job.live is not None:
                feed(job.live, SupervisorStdin(link), finished)
            watch(killer, job, finished, started, link.cpu_used_ns)
            _read_to_end(lambda: stream, output, killer, finished)
            duration = time.monotonic() - started
            exit_code: int | None = api.wait(sandbox.container_id, timeout=30)["StatusCode"]
        supervised = link.finish(_SUPERVISOR_END_S)
        if not supervised.started and killer.reason is None:
            raise SandboxFailure("the sandbox started, but its supervisor did not start the program")
        end = supervised.end
        if end is not None:
            exit_code = end.shell_status
        # The sandbox is gone with its program, and its cgroup with it: the engine says whether memory killed it.
        usage = supervised.usage(usage_after_death(self.client, sandbox.container_id, killer.usage))
        return _outcome(killer, output, _Ended(exit_code, duration, usage, None, end is not None and end.cpu_limit_hit))

    def _destroy_and_release(self, sandbox: RunSandbox) -> None:
        try:
            self._destroy_sandbox(sandbox)
        finally:
            self._pending_removals.release()

    def _run(self, sandbox: RunSandbox, exec_id: str, job: ExecJob) -> ExecOutcome:
        api = self.client.api
        killer = Killer(self.client, sandbox.container_id)
        finished = threading.Event()
        output = BoundedOutput(job.limits.output_bytes, lambda: stop_flood(killer, output, finished), job.on_output)
        cpu_before_ns = cpu_time_ns(sandbox.container_id)  # init's start-up is not the program's
        reset_peak_memory(sandbox.container_id)

        def cpu_used_ns() -> int | None:
            now = cpu_time_ns(sandbox.container_id)
            return None if now is None else now - (cpu_before_ns or 0)

        with docker_errors("running the program"):
            started = time.monotonic()
            watch(killer, job, finished, started, cpu_used_ns)
            _read_to_end(lambda: api.exec_start(exec_id, stream=True, demux=True), output, killer, finished)
            duration = time.monotonic() - started
            exit_code = self._exec_exit_code(exec_id)
        if exit_code in (KILLED_EXIT, None) and duration >= job.limits.wall_s:
            killer.note("timeout")  # the agent's deadline came first (this process was too slow to kill)
        return _outcome(killer, output, _Ended(exit_code, duration, self._usage(sandbox, killer), cpu_before_ns))

    def _exec_exit_code(self, exec_id: str) -> int | None:
        """The exec's exit code; None while it runs, or when the engine forgot it with its dead sandbox (runsc)."""
        try:
            code: int | None = self.client.api.exec_inspect(exec_id)["ExitCode"]
        except docker.errors.NotFound:
            return None
        return code

    def _usage(self, sandbox: RunSandbox, killer: Killer) -> SandboxUsage:
        # The program is gone and init idles: the cgroup is still there, unless our kill took it.
        return killer.usage if killer.usage is not None else read_usage(sandbox.container_id)

    def close(self) -> None:
        """Destroy idle sandboxes, wait for pending removals, stop the builders, remove our host directories."""
        if self.pool is not None:
            self.pool.close()
        self._cleanup.shutdown(wait=True)
        self._cleanup = ThreadPoolExecutor(max_workers=_CLEANUP_WORKERS, thread_name_prefix="sandbox-cleanup")
        self.builds.close()  # the builders, then every container of this instance left
        shutil.rmtree(self._sandboxes_dir, ignore_errors=True)


def _read_to_end(
    open_stream: Callable[[], Any], output: BoundedOutput, killer: Killer, finished: threading.Event
) -> None:
    """Feed the program's demuxed stream through the bounded reader until it ends, then say it finished.

    A stream still open 2 s after our kill is hung up (runsc); after an overflow kill the rest is drained, not kept.
    """
    try:
        stream = open_stream()
        killer.hang_up_if_stuck(finished, stream.close)
        output.feed(stream)
        for _ in stream:
            pass
    finally:
        finished.set()


def _shape_of(limits: Limits) -> tuple[int, float, int]:
    return limits.memory_mb, limits.cpus, limits.pids


@dataclass(frozen=True)
class _Ended:
    """How the program's exec ended, and the sandbox's counters then."""

    exit_code: int | None
    duration_s: float
    usage: SandboxUsage
    cpu_before_ns: int | None
    #: the program's supervisor stopped it at its CPU-time limit (runsc; under runc the killer's reason says so)
    cpu_limit_hit: bool = False


def _outcome(killer: Killer, output: BoundedOutput, ended: _Ended) -> ExecOutcome:
    exit_code, usage = ended.exit_code, ended.usage
    killed = exit_code == KILLED_EXIT or exit_code is None
    oom = killed and killer.reason is None and (usage.oom_kills or 0) > 0
    signal = exit_code - 128 if exit_code is not None and exit_code > 128 else None
    if exit_code is None and killer.reason is not None:
        signal = 9
    return ExecOutcome(
        exit_code=exit_code,
        signal=signal,
        stdout=bytes(output.stdout),
        stderr=bytes(output.stderr),
        duration_s=ended.duration_s,
        timed_out=killer.reason == "timeout",
        oom_killed=oom,
        output_exceeded=output.exceeded,
        cancelled=killer.reason == "cancelled",
        pids_limit_hit=(usage.forks_refused or 0) > 0,
        cpu_limit_hit=ended.cpu_limit_hit or killer.reason == "cpu",
        cpu_time_ms=_cpu_ms(usage.cpu_ns, ended.cpu_before_ns),
        peak_memory_kb=None if usage.peak_memory_bytes is None else usage.peak_memory_bytes // 1024,
    )


def _cpu_ms(now_ns: int | None, before_ns: int | None) -> int | None:
    if now_ns is None:
        return None
    return round((now_ns - (before_ns or 0)) / 1e6)
