"""Server settings, read once at the edge (CLI, app factory) from ``GOSANDBOX_*`` variables.

Library code never reads the environment: it receives these values.
"""

from __future__ import annotations

import os
import re
import resource
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gosandbox.defaults import AUTO, choose
from gosandbox.limits import DEFAULT_CAPS, DEFAULTS, Bounds, Limits
from gosandbox.policy import Policy

_TOOLCHAIN_NAME = re.compile(r"go[0-9][0-9A-Za-z.\-]{0,30}")


def _toolchain_pairs(value: str) -> list[tuple[str, str]]:
    pairs = (item.partition("=") for item in value.split(",") if item.strip())
    return [(name.strip(), image.strip()) for name, _, image in pairs]


def _default_state_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/gosandbox")
    return Path.home() / ".local" / "state" / "gosandbox"


def bundled_seccomp_profile() -> str:
    """Our profile: the current upstream default, plus denials untrusted Go never needs (see SECURITY.md)."""
    return resources.files("gosandbox.seccomp").joinpath("sandbox.json").read_text(encoding="utf-8")


def bundled_example(name: str) -> str:
    return resources.files("gosandbox.examples").joinpath(name).read_text(encoding="utf-8")


class Settings(BaseSettings):
    """Every knob of a gosandbox server. Environment: ``GOSANDBOX_<FIELD>`` (case-insensitive)."""

    model_config = SettingsConfigDict(env_prefix="GOSANDBOX_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    state_dir: Path = Field(default_factory=_default_state_dir)
    instance: str = Field(
        "default", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$", description="label value of this server's sandboxes"
    )
    go_image: str | None = Field(
        None,
        description="image with Go at /usr/local/go (e.g. golang:1.27) to base the builder on, instead of the wheel",
    )
    backend: str = Field(
        AUTO,
        pattern=r"^(auto|docker|oci)$",
        description="docker: sandboxes through the Docker engine; oci: run sandboxes by the OCI runtime directly "
        "(as root); auto: the measured default (gosandbox.defaults)",
    )
    runtime: str = Field(
        AUTO,
        pattern=r"^(auto|runc|runsc)$",
        description="OCI runtime of the run sandboxes: runc, or runsc (gVisor) where installed; auto: as backend",
    )
    runsc_path: str | None = Field(
        None, description="the OCI backend's runsc binary (default: runsc on PATH, /usr/bin/runsc from Debian)"
    )
    runsc_platform: str = Field(
        "auto",
        pattern=r"^(auto|systrap|ptrace|kvm)$",
        description="gVisor's platform under the OCI backend; auto: systrap where runsc has it, else its default",
    )
    seccomp_profile: str = Field(
        "bundled",
        description="seccomp profile of every sandbox: 'bundled' (ours), 'engine-default', or a JSON file path",
    )
    default_program: Path | None = Field(
        None, description="main.go run by a POST /run without a body (default: hello world)"
    )
    web_static_dir: Path | None = Field(
        None, description="the playground's built bundle: manifest.json and its files (default: the package's own)"
    )
    log_level: str = "info"
    log_format: str = Field(
        "text", pattern=r"^(text|json)$", description="text, or json: one JSON object per log line (see README)"
    )
    extra_toolchains: str = Field(
        "", description="more Go toolchains beside the pinned one: name=image,... (e.g. go1.26=golang:1.26)"
    )
    goproxy: str = Field(
        "off", description="module proxy of the build step: off, or file:///dir (a directory laid out as a Go proxy)"
    )

    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    build_timeout_s: float = Field(30.0, gt=0)
    builder_memory_mb: int = Field(2048, ge=256)
    pool_size: int = Field(2, ge=0, le=64, description="run sandboxes kept started ahead of need")
    sandbox_lease_s: float = Field(
        120.0, ge=2, description="a pre-started sandbox no server claims within this stops by itself"
    )
    max_concurrent_runs: int = Field(default_factory=lambda: max(2, os.cpu_count() or 2), ge=1)
    max_queued: int = Field(200, ge=0, description="jobs waiting for a slot or a worker; beyond it, 429")
    max_running_per_key: int = Field(
        0, ge=0, description="jobs one API key (or the keyless tenant) runs at once while another key's job waits "
        "(0: half the run slots, rounded up); a key alone may use every slot",
    )  # fmt: skip
    binary_cache_mb: int = Field(256, ge=0)

    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the submission store (default: a SQLite file in the state directory)"
    )
    queue_url: str | None = Field(
        None, pattern=r"^rediss?://", description="redis://host:port/N: run jobs on workers through this Redis"
    )
    result_ttl_s: int = Field(86400, ge=1, description="finished submissions are purged after this many seconds")
    storage_quota_mb: int = Field(
        1024, ge=0, description="MiB of stored submissions and shares per API key, and for the keyless tenant (0: none)"
    )
    share_ttl_s: int = Field(
        90 * 86400, ge=0, description="a shared program is purged this long after it was last shared (0: kept forever)"
    )
    cancelled_keep_s: float = Field(
        60.0, ge=0, description="a cancelled job (it has no result; its source goes with it) is purged after this long"
    )
    max_attempts: int = Field(
        2, ge=1, le=10, description="attempts a job gets when its workers are lost (2: one re-run, then 'worker lost')"
    )
    callback_hosts: str = Field(
        "", description="host:port, host:* (every port) or host (its default port only), comma-separated: callbacks' "
        "destinations",
    )  # fmt: skip
    callback_secret: str = Field(
        "", description="HMAC-SHA256 key of the X-Gosandbox-Signature (over X-Gosandbox-Timestamp and the body)"
    )
    cors_origins: str = Field(
        "",
        description="origins whose pages may call the Go Playground and Codapi routes and send writes: a comma-"
        "separated list, * for any, or empty (the default: none but the server's own pages)",
    )
    public_hosts: str = Field(
        "",
        description="names clients reach this server by besides loopback and GOSANDBOX_HOST (a Host header naming"
        " anything else gets 421: DNS rebinding), comma-separated; * accepts any",
    )
    auth: str = Field(
        "off",
        pattern=r"^(off|required)$",
        description="required: every request but the probes, docs and /metrics needs an API key (gosandbox keys)",
    )
    heartbeat_timeout_s: float = Field(
        10.0, ge=1, description="a worker silent this long is taken for dead: its jobs go to another worker"
    )
    requeue_after_s: float = Field(
        60.0, ge=1, description="a job queued this long is enqueued again (the queue may have lost it)"
    )

    # Interactive runs (docs/interactive.md): their client's bounds.
    interactive_idle_s: float = Field(
        30.0, gt=0, description="an interactive run's client that neither sends nor reads this long is cut off"
    )
    interactive_stdin_bytes: int = Field(
        1024 * 1024, ge=1, description="the stdin an interactive run may get in all; more cancels it"
    )
    interactive_message_bytes: int = Field(
        64 * 1024, ge=1024, description="one WebSocket message of an interactive run's client, at most"
    )

    # Abuse of the HTTP edge (see SECURITY.md, "Denial of service").
    head_timeout_s: float = Field(
        10.0, gt=0, description="a request's line and headers must arrive within this time, else the connection closes"
    )
    body_min_bytes_per_s: int = Field(
        1024, ge=0, description="after head_timeout_s, a body arriving slower than this on average is cut off (0: off)"
    )
    keep_alive_s: float = Field(5.0, gt=0, description="an idle keep-alive connection closes after this time")
    write_timeout_s: float = Field(
        30.0, gt=0, description="an answer its client takes none of for this long is cut off (a stalled reader)"
    )
    answer_buffer_mb: int = Field(
        16, ge=1, description="MiB of answers waiting on slow readers, all connections together; beyond, the "
        "longest-waiting connection is cut off",
    )  # fmt: skip
    max_connections: int = Field(
        0, ge=0, description="open connections at most; beyond, new ones are closed at once (0: half the fd limit)"
    )
    max_parsing: int = Field(
        0, ge=0, description="request bodies read and validated at once; the rest wait their turn (0: CPU count)"
    )
    max_log_repeats: int = Field(
        5, ge=1, description="identical warnings logged per minute; the rest are counted, then summed up"
    )

    # The limits of a run that asks none, and the most one may ask: their defaults are gosandbox.limits'.
    default_wall_s: float = DEFAULTS.wall_s
    default_memory_mb: int = DEFAULTS.memory_mb
    default_cpus: float = DEFAULTS.cpus
    default_pids: int = DEFAULTS.pids
    default_output_bytes: int = DEFAULTS.output_bytes

    max_wall_s: float = DEFAULT_CAPS.wall_s
    max_memory_mb: int = DEFAULT_CAPS.memory_mb
    max_cpus: float = DEFAULT_CAPS.cpus
    max_pids: int = DEFAULT_CAPS.pids
    max_output_bytes: int = DEFAULT_CAPS.output_bytes

    @model_validator(mode="before")
    @classmethod
    def _choose_backend(cls, data: Any) -> Any:
        """``auto`` (the default) becomes the measured choice here, once: every reader sees a concrete value."""
        if isinstance(data, dict):
            backend, runtime = choose(str(data.get("backend", AUTO)), str(data.get("runtime", AUTO)))
            data = {**data, "backend": backend, "runtime": runtime}
        return data

    @field_validator("goproxy")
    @classmethod
    def _local_proxy_only(cls, value: str) -> str:
        if value != "off" and not value.startswith("file:///"):
            raise ValueError(
                "GOSANDBOX_GOPROXY must be 'off' or file:///dir: the builder has no network; "
                "mirror a proxy into a directory (e.g. with `go mod download` and a GOPROXY layout)"
            )
        return value

    @field_validator("extra_toolchains")
    @classmethod
    def _toolchain_list(cls, value: str) -> str:
        for name, image in _toolchain_pairs(value):
            if not _TOOLCHAIN_NAME.fullmatch(name) or not image:
                raise ValueError(f"GOSANDBOX_EXTRA_TOOLCHAINS item {name}={image} is not name=image (name like go1.26)")
        return value

    def toolchains(self) -> dict[str, str]:
        """Extra toolchains: name -> image with Go at /usr/local/go."""
        return dict(_toolchain_pairs(self.extra_toolchains))

    def module_proxy_dir(self) -> Path | None:
        return None if self.goproxy == "off" else Path(self.goproxy.removeprefix("file://"))

    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'gosandbox.db'}"

    def allowed_callback_hosts(self) -> frozenset[str]:
        return frozenset(host.strip().lower() for host in self.callback_hosts.split(",") if host.strip())

    def longest_job_s(self) -> float:
        """The most a job can take once it runs: its build, its wall clock, and room for hand-over."""
        return self.build_timeout_s + self.max_wall_s + 30.0

    def connection_cap(self) -> int:
        """Open connections at most: half the file descriptors this process may open, unless set."""
        if self.max_connections:
            return self.max_connections
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return max(64, (soft if soft != resource.RLIM_INFINITY else 65536) // 2)

    def parsing_slots(self) -> int:
        """Request bodies read and validated at once."""
        return self.max_parsing or max(1, os.cpu_count() or 1)

    def limit_bounds(self) -> Bounds:
        """This server's defaults (lowered to its caps where set above them) and caps."""
        defaults = Limits(self.default_wall_s, self.default_memory_mb, self.default_cpus, self.default_pids,
                          self.default_output_bytes)  # fmt: skip
        caps = Limits(self.max_wall_s, self.max_memory_mb, self.max_cpus, self.max_pids, self.max_output_bytes)
        return Bounds.of(defaults, caps)

    def default_limits(self) -> Limits:
        return self.limit_bounds().defaults

    def limit_caps(self) -> Limits:
        return self.limit_bounds().caps

    def limits_for(self, requested: dict[str, float | int]) -> Limits:
        """A request's limit overrides over this server's defaults, within its caps."""
        return self.limit_bounds().resolve(requested)

    def policy(self) -> Policy:
        """The hardening policy; the seccomp profile's JSON text is read here, once."""
        return Policy(runtime=self.runtime, seccomp_profile=self.seccomp_profile_text())

    def seccomp_profile_text(self) -> str | None:
        """The profile's JSON text; None leaves the engine's own default profile in force."""
        if self.seccomp_profile == "engine-default":
            return None
        if self.seccomp_profile == "bundled":
            return bundled_seccomp_profile()
        return Path(self.seccomp_profile).read_text(encoding="utf-8")

    def default_program_source(self) -> str:
        if self.default_program is None:
            return bundled_example("hello.go")
        return self.default_program.read_text(encoding="utf-8")
