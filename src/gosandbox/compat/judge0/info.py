"""What Judge0 clients read before they submit: ``/about``, ``/config_info``, ``/languages``.

Language ids: **60** is Go on the server's default toolchain, the id Judge0 CE 1.13.1 gives Go, so
the official SDK's ``judge0.GO`` (mapped by the version ``/about`` reports) lands on it. Each extra
toolchain (``GOSANDBOX_EXTRA_TOOLCHAINS``) gets ``1000 + crc32(name) % 9000``: the same name has the
same id on every server and across restarts, outside the ids Judge0 CE uses (43-89).

``/config_info`` reports this server's own limits in Judge0's units (seconds, KB), with the options
we do not offer (compiler options, additional files, network, per-process limits, several runs)
switched off, so a client that reads it before submitting asks only for what will be accepted.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from gosandbox._version import __version__
from gosandbox.jobs.webhooks import RETRIES
from gosandbox.limits import cap_of
from gosandbox.settings import Settings

#: The Judge0 CE release whose API this layer answers (and whose language ids the SDK expects).
JUDGE0_VERSION = "1.13.1"
GO = 60
MAX_BATCH = 20  # Judge0's default max_submission_batch_size; the SDK sends batches of this size
MAX_CPU_EXTRA_TIME_S = 5.0  # accepted (and not used: the run ends at its time limit)
STACK_LIMIT_KB, MAX_STACK_LIMIT_KB = 64000, 128000  # accepted, not enforced: goroutine stacks live in the heap
CALLBACK_TIMEOUT_S = 5.0  # that of gosandbox.jobs.webhooks
#: The name Judge0 submissions give their callback's shape (:data:`gosandbox.compat.judge0.render.CALLBACK_SHAPES`).
CALLBACK_SHAPE = "judge0"


@dataclass(frozen=True)
class Language:
    id: int
    #: the toolchain's name as our API knows it; None: the default one
    go_version: str | None
    #: the version shown in the name, e.g. ``go1.27.3``; None when no toolchain answers now
    shown: str | None

    @property
    def name(self) -> str:
        return language_name(self.shown)

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}

    def detail(self) -> dict[str, Any]:
        return {**self.summary(), "is_archived": False, "source_file": "main.go",
                "compile_cmd": "go build -o main main.go", "run_cmd": "./main"}  # fmt: skip


def language_name(version: str | None) -> str:
    """``Go (1.27.3)``, as Judge0 names its languages; plain ``Go`` when the version is not known."""
    return f"Go ({version.removeprefix('go')})" if version else "Go"


def extra_language_id(name: str, taken: set[int]) -> int:
    """The id of an extra toolchain: stable for its name, moved on past an id already taken."""
    candidate = 1000 + zlib.crc32(name.encode()) % 9000
    while candidate in taken:
        candidate = 1000 + (candidate - 1000 + 1) % 9000
    return candidate


def languages(go_versions: list[str]) -> list[Language]:
    """Id 60 for the default toolchain (``go_versions[0]``), then one per extra toolchain."""
    found = [Language(GO, None, go_versions[0] if go_versions else None)]
    taken = {GO}
    for name in go_versions[1:]:
        language_id = extra_language_id(name, taken)
        taken.add(language_id)
        found.append(Language(language_id, name, name))
    return found


def about() -> dict[str, Any]:
    return {"version": JUDGE0_VERSION, "homepage": None, "source_code": None,
            "maintainer": f"gosandbox {__version__} (a Judge0 CE {JUDGE0_VERSION} compatible API)"}  # fmt: skip


def config_info(settings: Settings) -> dict[str, Any]:
    """Judge0's configuration document with this server's values (time in s, memory and files in KB)."""
    defaults, caps = settings.default_limits(), settings.limit_caps()
    callbacks = bool(settings.allowed_callback_hosts()) and bool(settings.callback_secret)
    return {
        "maintenance_mode": False, "enable_wait_result": True, "enable_compiler_options": False,
        "allowed_languages_for_compile_options": [], "enable_command_line_arguments": True,
        "enable_submission_delete": True, "enable_callbacks": callbacks, "callbacks_max_tries": RETRIES + 1,
        "callbacks_timeout": CALLBACK_TIMEOUT_S, "enable_additional_files": False,
        "max_queue_size": settings.max_queued,
        "cpu_time_limit": defaults.wall_s if defaults.cpu_ms is None else defaults.cpu_ms / 1000,
        "max_cpu_time_limit": cap_of(caps, "cpu_ms") / 1000,
        "cpu_extra_time": 0.0, "max_cpu_extra_time": MAX_CPU_EXTRA_TIME_S,
        "wall_time_limit": defaults.wall_s, "max_wall_time_limit": caps.wall_s,
        "memory_limit": defaults.memory_mb * 1024, "max_memory_limit": caps.memory_mb * 1024,
        "stack_limit": STACK_LIMIT_KB, "max_stack_limit": MAX_STACK_LIMIT_KB,
        "max_processes_and_or_threads": defaults.pids, "max_max_processes_and_or_threads": caps.pids,
        "enable_per_process_and_thread_time_limit": False, "allow_enable_per_process_and_thread_time_limit": False,
        "enable_per_process_and_thread_memory_limit": False,
        "allow_enable_per_process_and_thread_memory_limit": False,
        "max_file_size": defaults.output_bytes // 1024, "max_max_file_size": caps.output_bytes // 1024,
        "number_of_runs": 1, "max_number_of_runs": 1, "redirect_stderr_to_stdout": False,
        "max_extract_size": 0, "enable_batched_submissions": True, "max_submission_batch_size": MAX_BATCH,
        "submission_cache_duration": 0.0, "use_docs_as_homepage": False,
        "allow_enable_network": False, "enable_network": False,
    }  # fmt: skip
