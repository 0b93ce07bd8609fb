"""The backend and runtime a server uses when its settings leave them at ``auto`` (the default).

The rule (issue 22): the strongest isolation that keeps every verdict of the hostile corpus and runs
real programs within 3x of their native time (+50 ms for a sandbox, geometric mean of
``python -m gosandbox.bench --workloads-only``). On this host (no KVM) gVisor meets neither: 7.9x
(runsc 20221219, ptrace), 7.7x (20240729, ptrace) and 5.3x (systrap), and the corpus's cases 07, 09
and 26 change verdict under it; oci+runc was 1.66x and kept every verdict. So :data:`PREFERRED` is
the OCI backend with runc, hardened with a user namespace and a root filesystem view per sandbox
(backends/oci/separation.py); gVisor stays one setting away (``GOSANDBOX_RUNTIME=runsc``), the
stricter choice, recommended where the host has KVM. The OCI backend needs root and the runtime's
binary; where either is missing, Docker with runc.
"""

from __future__ import annotations

import os
import shutil

#: The measured choice where the OCI backend can run (see the module's docstring and docs/speed.md).
PREFERRED = ("oci", "runc")
#: Why, in one line: what ``gosandbox doctor`` and ``/version`` say beside the combination in force.
WHY_PREFERRED = (
    "the default: the strongest isolation that keeps every hostile-corpus verdict and runs real programs within 3x "
    "native (workload suite, geometric mean: oci+runc 1.66x; gVisor 5.3-7.9x without KVM, and 3 verdicts change); "
    "GOSANDBOX_RUNTIME=runsc is the stricter choice, recommended where the host has KVM"
)
#: What each combination isolates a program with (docs/security.md says the rest).
ISOLATION = {
    ("oci", "runc"): "host kernel; namespaces, a user namespace of its own (an unprivileged host uid range), "
    "its own overlay of the root filesystem, seccomp, no capabilities, no-new-privileges, read-only root, no network",
    ("oci", "runsc"): "gVisor's own kernel (the Sentry) between the program and the host's; seccomp, "
    "no capabilities, no-new-privileges, read-only root, no network",
    ("docker", "runc"): "host kernel; namespaces (the daemon's users: no user namespace of its own), seccomp, "
    "no capabilities, no-new-privileges, read-only root, no network",
    ("docker", "runsc"): "gVisor's own kernel (the Sentry) between the program and the host's, through the "
    "Docker engine; seccomp, no capabilities, no-new-privileges, read-only root, no network",
}
FALLBACK = ("docker", "runc")
AUTO = "auto"
#: Where Debian puts runc (/usr/sbin) and runsc (/usr/bin), beside PATH.
_SEARCH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def runtime_installed(name: str) -> bool:
    search = os.pathsep.join([os.environ.get("PATH", ""), *_SEARCH])
    return shutil.which(name, path=search) is not None


def oci_possible(runtime: str) -> bool:
    """Whether the OCI backend can drive ``runtime`` here: as root, with its binary installed."""
    return os.geteuid() == 0 and runtime_installed(runtime)


def choose(backend: str, runtime: str) -> tuple[str, str]:
    """``(backend, runtime)`` with each ``auto`` replaced; explicit values are kept as given."""
    if backend == AUTO and runtime == AUTO:
        return PREFERRED if oci_possible(PREFERRED[1]) else FALLBACK
    if backend == AUTO:  # a runtime was named: the OCI backend where it can drive it
        return ("oci" if oci_possible(runtime) else "docker"), runtime
    if runtime == AUTO:  # a backend was named: its runtime of PREFERRED where installed, else runc
        return backend, PREFERRED[1] if backend == "oci" and runtime_installed(PREFERRED[1]) else "runc"
    return backend, runtime


def isolation(backend: str, runtime: str) -> str:
    """What a program of ``backend`` + ``runtime`` is isolated by, in one line."""
    return ISOLATION.get((backend, runtime), f"{backend} with {runtime}")


def why(backend: str, runtime: str) -> str:
    """Why this combination is in force: the measured default, or a setting's choice."""
    if (backend, runtime) == PREFERRED:
        return WHY_PREFERRED
    if (backend, runtime) == FALLBACK and not oci_possible(PREFERRED[1]):
        return "the fallback: the OCI backend needs root and runc here"
    stricter = " (the stricter choice, at its measured cost: docs/speed.md)" if runtime == "runsc" else ""
    return f"chosen by GOSANDBOX_BACKEND / GOSANDBOX_RUNTIME{stricter}"
