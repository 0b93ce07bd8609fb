// gosandbox-agent is the small trusted helper baked into the gosandbox images.
// It never runs user code itself except by exec'ing it in place.
//
//	gosandbox-agent init [--lease=MS|--serve=SOCKET]
//	                                             PID 1: reap orphans, exit on SIGTERM. With a lease (a run
//	                                             sandbox): exit unless an exec arms a deadline within MS,
//	                                             and exit at that deadline. When PID 1 exits, the kernel kills
//	                                             every other process of the sandbox and the container stops.
//	                                             Other arguments are ignored (a command that repeats the
//	                                             image's entrypoint, "gosandbox-agent init", is appended to it).
//	                                             With --serve (the builder): start the build service on SOCKET
//	                                             (`serve`, buildservice.go) as a child, and exit when it does.
//	gosandbox-agent exec DEADLINE_MS STDIN PROG [ARGS...]
//	                                             have init arm the deadline (from now), stdin from a file
//	                                             (or "-" for /dev/null), then execve PROG
//	gosandbox-agent supervise UID CPU_MS REPORT STDIN PROG [ARGS...]
//	                                             the first process of a run sandbox under gVisor (see runSupervise):
//	                                             start PROG as UID with no capabilities and stdin from a file, stop it
//	                                             at CPU_MS of CPU time (0: no limit), and report its end and CPU time
//	                                             to the backend on our own stdin (REPORT "-") or in the file REPORT.
//	gosandbox-agent launch --lease=MS
//	                                             the first process of a run sandbox created ahead under runc (see
//	                                             runLaunch): wait for one launch message on stdin, then exec the program.
//	gosandbox-agent build TIMEOUT_MS CMD [ARGS...] [--then|--and CMD [ARGS...]]...
//	                                             run each CMD in its own process group, one after another,
//	                                             all within one deadline; the exit code is the first non-zero one.
//	                                             A command after --then always runs; one after --and only if
//	                                             every command before it succeeded.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	buildTimeoutExit = 124
	// deadlineExit is init's exit code when the program's deadline passed (docker ps: "Exited (124)").
	deadlineExit = 124
	// initSocket is where init takes the one exec's deadline. Abstract (no file the program sees) and
	// private to the sandbox: every sandbox has its own network namespace.
	initSocket       = "@gosandbox-init"
	handshakeTimeout = 2 * time.Second
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: gosandbox-agent init|exec|run|supervise|launch|series|limit|wipe|build ...")
	}
	switch os.Args[1] {
	case "init":
		runInit(os.Args[2:])
	case "exec":
		runExec(os.Args[2:])
	case "run":
		runProgram(os.Args[2:])
	case "supervise":
		runSupervise(os.Args[2:])
	case "launch":
		runLaunch(os.Args[2:])
	case "series":
		runSeries(os.Args[2:])
	case "wipe":
		runWipe(os.Args[2:])
	case "limit":
		runLimit(os.Args[2:])
	case "build":
		runBuild(os.Args[2:])
	case "serve":
		runServe(os.Args[2:])
	case "stdlib":
		runStdlib(os.Args[2:])
	default:
		fail("unknown command " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "gosandbox-agent:", msg)
	os.Exit(125)
}

// runInit idles as PID 1 and reaps any process re-parented to it. With a lease (a run sandbox) it also
// exits when the lease ends before an exec armed a deadline, or when that deadline passes: the server may be
// gone, and its own kill with it.
func runInit(args []string) {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	var expiry <-chan time.Time // nil (never) without a lease
	armed := make(chan time.Duration)
	expiredExit := 0 // the lease ended: nobody claimed this sandbox
	if lease := leaseOf(args); lease > 0 {
		expiry = time.After(lease)
		listener, err := net.Listen("unix", initSocket)
		if err != nil {
			fail("listen: " + err.Error())
		}
		go awaitDeadline(listener, armed)
	}
	service := startService(args)
	for {
		select {
		case sig := <-signals:
			if sig != syscall.SIGCHLD {
				os.Exit(0)
			}
			if reapChildren(service) {
				fail("the build service ended")
			}
		case deadline := <-armed:
			expiry, expiredExit = time.After(deadline), deadlineExit
		case <-expiry:
			os.Exit(expiredExit)
		}
	}
}

// leaseOf finds --lease=MS among init's arguments; 0 if there is none.
func leaseOf(args []string) time.Duration {
	for _, arg := range args {
		if ms, ok := strings.CutPrefix(arg, "--lease="); ok {
			return parseMs(ms, "lease")
		}
	}
	return 0
}

// startService starts the build service (--serve=SOCKET) as init's child; its pid, or 0 without one.
func startService(args []string) int {
	for _, arg := range args {
		if socket, ok := strings.CutPrefix(arg, "--serve="); ok {
			self, err := os.Executable()
			if err != nil {
				fail("the agent's path: " + err.Error())
			}
			cmd := exec.Command(self, "serve", socket)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			if err := cmd.Start(); err != nil {
				fail("start the build service: " + err.Error())
			}
			return cmd.Process.Pid
		}
	}
	return 0
}

// reapChildren reaps every child that ended; whether watched (a pid, 0: none) was one of them.
func reapChildren(watched int) bool {
	ended := false
	for {
		pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return ended
		}
		ended = ended || (watched != 0 && pid == watched)
	}
}

// awaitDeadline takes the deadline from the first connection only: nothing but init runs in a run sandbox
// before its one exec, and the listener is closed after it, so the program cannot move its own deadline.
// The exec step is answered only once init's loop took the deadline: no program runs without one.
// Any failure ends init, and with it the sandbox.
func awaitDeadline(listener net.Listener, armed chan<- time.Duration) {
	conn, err := listener.Accept()
	_ = listener.Close()
	if err != nil {
		fail("accept: " + err.Error())
	}
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		fail("read the deadline: " + err.Error())
	}
	armed <- parseMs(strings.TrimSuffix(line, "\n"), "deadline")
	_, _ = conn.Write([]byte("ok\n"))
	_ = conn.Close()
}

// armDeadline has init arm the run's deadline and waits for its answer.
func armDeadline(deadline time.Duration) {
	conn := dialInit()
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	if _, err := fmt.Fprintf(conn, "%d\n", deadline.Milliseconds()); err != nil {
		fail("send the deadline: " + err.Error())
	}
	reply := make([]byte, 3)
	if _, err := io.ReadFull(conn, reply); err != nil || string(reply) != "ok\n" {
		fail("init did not arm the deadline")
	}
	_ = conn.Close()
}

// dialInit connects to init, retrying briefly: an exec can come right after the container started.
func dialInit() net.Conn {
	giveUp := time.Now().Add(handshakeTimeout)
	for {
		conn, err := net.Dial("unix", initSocket)
		if err == nil {
			return conn
		}
		if time.Now().After(giveUp) {
			fail("reach init: " + err.Error())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func parseMs(text, what string) time.Duration {
	ms, err := strconv.Atoi(text)
	if err != nil || ms <= 0 {
		fail("bad " + what + " " + text)
	}
	return time.Duration(ms) * time.Millisecond
}

// runExec has init arm the deadline, then replaces itself with the program, stdin taken from a file.
func runExec(args []string) {
	if len(args) < 3 {
		fail("usage: exec DEADLINE_MS STDIN PROG [ARGS...]")
	}
	armDeadline(parseMs(args[0], "deadline"))
	runProgram(args[1:])
}

// runProgram replaces itself with the program, stdin taken from a file. As the sandbox's own first
// process (gVisor under Docker: no init, no exec), the program is PID 1 and gets the sandbox's seccomp filter.
func runProgram(args []string) {
	if len(args) < 2 {
		fail("usage: run STDIN PROG [ARGS...]")
	}
	stdinPath := args[0]
	if stdinPath == "-" {
		stdinPath = os.DevNull
	}
	fd, err := syscall.Open(stdinPath, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		fail("open stdin: " + err.Error())
	}
	if err := syscall.Dup2(fd, 0); err != nil {
		fail("dup2 stdin: " + err.Error())
	}
	if err := syscall.Exec(args[1], args[1:], os.Environ()); err != nil {
		fail("exec: " + err.Error())
	}
}

// runBuild runs build commands one after another and kills the running one's process group at the deadline.
func runBuild(args []string) {
	if len(args) < 2 {
		fail("usage: build TIMEOUT_MS CMD [ARGS...] [--then|--and CMD [ARGS...]]...")
	}
	timeout := parseMs(args[0], "timeout")
	deadline := time.Now().Add(timeout)
	status := 0
	for _, step := range splitCommands(args[1:]) {
		if step.onlyIfOK && status != 0 {
			continue
		}
		code := runOne(step.command, deadline)
		if code == buildTimeoutExit {
			fmt.Fprintf(os.Stderr, "gosandbox: the build did not finish within %.1f s and was stopped\n", timeout.Seconds())
			os.Exit(buildTimeoutExit)
		}
		if status == 0 {
			status = code
		}
	}
	os.Exit(status)
}

// buildStep is one command of a build and whether it runs only after every earlier one succeeded.
type buildStep struct {
	command  []string
	onlyIfOK bool
}

func splitCommands(args []string) []buildStep {
	var steps []buildStep
	start, onlyIfOK := 0, false
	for i, arg := range args {
		if arg == "--then" || arg == "--and" {
			steps = append(steps, buildStep{args[start:i], onlyIfOK})
			start, onlyIfOK = i+1, arg == "--and"
		}
	}
	return append(steps, buildStep{args[start:], onlyIfOK})
}

// runOne runs one command in its own process group; buildTimeoutExit if the deadline passes.
func runOne(command []string, deadline time.Time) int {
	if len(command) == 0 {
		fail("empty command")
	}
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fail("start: " + err.Error())
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if exitErr, ok := err.(*exec.ExitError); ok {
			if status, ok := exitErr.Sys().(syscall.WaitStatus); ok && status.Signaled() {
				return 128 + int(status.Signal()) // as a shell reports it: 137 for SIGKILL (e.g. out of memory)
			}
			return exitErr.ExitCode()
		} else if err != nil {
			fail("wait: " + err.Error())
		}
		return 0
	case <-time.After(time.Until(deadline)):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return buildTimeoutExit
	}
}
