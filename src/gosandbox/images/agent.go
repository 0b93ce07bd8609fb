// gosandbox-agent is the small trusted helper baked into the gosandbox images.
// It never runs user code itself except by exec'ing it in place.
//
//	gosandbox-agent init                         PID 1: reap orphans, exit on SIGTERM
//	gosandbox-agent exec STDIN PROG [ARGS...]    stdin from a file (or "-" for /dev/null), then execve PROG
//	gosandbox-agent build TIMEOUT_MS CMD [ARGS...] [--then|--and CMD [ARGS...]]...
//	                                             run each CMD in its own process group, one after another,
//	                                             all within one deadline; the exit code is the first non-zero one.
//	                                             A command after --then always runs; one after --and only if
//	                                             every command before it succeeded.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

const buildTimeoutExit = 124

func main() {
	if len(os.Args) < 2 {
		fail("usage: gosandbox-agent init|exec|build ...")
	}
	switch os.Args[1] {
	case "init":
		runInit()
	case "exec":
		runExec(os.Args[2:])
	case "build":
		runBuild(os.Args[2:])
	default:
		fail("unknown command " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "gosandbox-agent:", msg)
	os.Exit(125)
}

// runInit idles as PID 1 and reaps any process re-parented to it.
func runInit() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}

// runExec replaces itself with the program, stdin taken from a file.
func runExec(args []string) {
	if len(args) < 2 {
		fail("usage: exec STDIN PROG [ARGS...]")
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
	timeoutMs, err := strconv.Atoi(args[0])
	if err != nil || timeoutMs <= 0 {
		fail("bad timeout " + args[0])
	}
	deadline := time.Now().Add(time.Duration(timeoutMs) * time.Millisecond)
	status := 0
	for _, step := range splitCommands(args[1:]) {
		if step.onlyIfOK && status != 0 {
			continue
		}
		code := runOne(step.command, deadline)
		if code == buildTimeoutExit {
			fmt.Fprintf(os.Stderr, "gosandbox: the build did not finish within %.1f s and was stopped\n", float64(timeoutMs)/1000)
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
