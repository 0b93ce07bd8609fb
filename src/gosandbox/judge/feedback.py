"""A checker's feedback directory, inside a sandbox whose files vanish with it.

A Kattis output validator writes its message to ``FEEDBACK_DIR/judgemessage.txt``. The sandbox's only
writable place is its own ``/tmp``, gone when it ends, and its output pipes cannot be reopened by path
(they belong to the runtime, not to the program's user). So one more file goes into the checker's package
when it is built: an ``init`` that, in the checker's first process, makes ``/tmp/feedback/``, runs the
checker again as its child with that directory as ``FEEDBACK_DIR`` (same input, output and arguments), and
then writes :data:`MARK` and the child's judgemessage.txt to its stderr and exits with the child's code.
The child's own ``init`` sees :data:`CHILD_ENV` and returns at once: its ``main`` is the checker's.
"""

from __future__ import annotations

from gosandbox.errors import InvalidSource

#: The file added to the checker's package.
RELAY_FILE = "zz_gosandbox_feedback.go"
#: What separates the checker's own stderr from its judgemessage.txt in the relay's stderr.
MARK = "\x00gosandbox:judgemessage\x00\n"
CHILD_ENV = "GOSANDBOX_CHECKER_CHILD"

RELAY_SOURCE = f"""// Added by gosandbox: runs this checker as its child with a writable FEEDBACK_DIR, then
// passes its judgemessage.txt on (gosandbox/judge/feedback.py).
package main

import (
	gosandboxErrors "errors"
	gosandboxOS "os"
	gosandboxExec "os/exec"
)

func init() {{
	if gosandboxOS.Getenv("{CHILD_ENV}") != "" || len(gosandboxOS.Args) < 4 {{
		return
	}}
	dir := "/tmp/feedback/"
	if err := gosandboxOS.MkdirAll(dir, 0o755); err != nil {{
		gosandboxOS.Exit(70)
	}}
	args := append([]string{{gosandboxOS.Args[1], gosandboxOS.Args[2], dir}}, gosandboxOS.Args[4:]...)
	child := gosandboxExec.Command(gosandboxOS.Args[0], args...)
	child.Stdin, child.Stdout, child.Stderr = gosandboxOS.Stdin, gosandboxOS.Stdout, gosandboxOS.Stderr
	child.Env = append(gosandboxOS.Environ(), "{CHILD_ENV}=1")
	err := child.Run()
	if message, readErr := gosandboxOS.ReadFile(dir + "judgemessage.txt"); readErr == nil {{
		gosandboxOS.Stderr.WriteString("\\x00gosandbox:judgemessage\\x00\\n")
		gosandboxOS.Stderr.Write(message)
	}}
	var exit *gosandboxExec.ExitError
	if gosandboxErrors.As(err, &exit) && exit.ExitCode() >= 0 {{
		gosandboxOS.Exit(exit.ExitCode())
	}}
	if err != nil {{
		gosandboxOS.Exit(70)
	}}
	gosandboxOS.Exit(0)
}}
"""


def with_relay(files: dict[str, str]) -> dict[str, str]:
    """The checker's package with the relay added (a package of that file's name is refused)."""
    if RELAY_FILE in files:
        raise InvalidSource(f"a checker's file may not be named {RELAY_FILE}")
    return {**files, RELAY_FILE: RELAY_SOURCE}


def checker_message(stdout: str, stderr: str) -> str:
    """What the checker said: its judgemessage.txt, else its stderr, else its stdout."""
    own, mark, message = stderr.partition(MARK)
    if mark:
        return message.strip()
    return own.strip() or stdout.strip()
