"""The backend and runtime a server uses when its settings leave them at ``auto`` (the default).

The rule, from the issue that brought the OCI backend: the strongest isolation that is at least as fast
as the Docker backend with runc. ``python -m gosandbox.bench --backends-only`` measured the four
combinations side by side (docs/speed.md, "Backends and runtimes compared"); :data:`PREFERRED` is what it chose.
The OCI backend needs root and the runtime's binary; where either is missing, Docker with runc.
"""

from __future__ import annotations

import os
import shutil

#: The measured choice where the OCI backend can run (see the module's docstring and docs/speed.md).
PREFERRED = ("oci", "runsc")
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
    if runtime == AUTO:  # a backend was named: under Docker runc (its gVisor runs pay a container start each)
        return backend, PREFERRED[1] if backend == "oci" and runtime_installed(PREFERRED[1]) else "runc"
    return backend, runtime
