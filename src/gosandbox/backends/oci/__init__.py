"""The OCI backend: sandboxes run by an OCI runtime (runc, or runsc for gVisor) directly, no daemon."""
