package main

// The build service: the builder's own first process's child, answering build requests on a unix socket in the
// builds' directory (bind-mounted by the server), so that no build needs a `docker exec`.
//
//	gosandbox-agent serve SOCKET     listen on SOCKET; one JSON request per connection, one JSON answer
//	gosandbox-agent stdlib DIR       (image build) copy the pre-built standard library's archives into DIR,
//	                                 with DIR/importcfg naming them and DIR/godebug the default GODEBUG per
//	                                 go.mod language version: what the direct compile-and-link reads
//
// A request names the build's package directory, its deadline, its output cap and the go commands to run
// (as the `build` mode's arguments); with `direct` set (a path for the binary), a package of one `main`
// package of standard-library imports only (fastbuild.go) is compiled and linked by the compiler and the linker
// themselves, and the commands run only when it is not of that shape. The connection's end (the server gone)
// kills the build's processes, as the deadline does.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// maxRequestBytes bounds a request (the server's own: a few go commands and paths).
const maxRequestBytes = 1 << 20

type buildRequest struct {
	Dir       string     `json:"dir"`
	TimeoutMs int        `json:"timeout_ms"`
	CapBytes  int        `json:"cap_bytes"`
	Steps     []string   `json:"steps"`  // as `build`'s arguments: CMD ARGS... [--then|--and CMD ARGS...]...
	Direct    string     `json:"direct"` // where the direct compile-and-link writes the binary; "" never
	Flags     buildFlags `json:"flags"`
	// Trim, instead of a build: bring the build cache at Trim.Dir under Trim.MaxBytes.
	Trim *trimRequest `json:"trim,omitempty"`
}

// buildFlags are the build's options beyond its commands; a flag the direct path does not honour refuses it.
type buildFlags struct {
	Race bool `json:"race"`
}

type buildAnswer struct {
	Exit    int     `json:"exit"`
	Output  []byte  `json:"output"` // base64 in JSON
	Cut     bool    `json:"cut"`
	Path    string  `json:"path"` // "direct" or "go"
	Refused string  `json:"refused,omitempty"`
	Ms      int64   `json:"ms"`
	StepsMs []int64 `json:"steps_ms"`
}

// cappedOutput keeps the first cap bytes written to it and counts the rest; safe for concurrent writers.
type cappedOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
	cap int
	cut bool
}

func (c *cappedOutput) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.cap - c.buf.Len()
	if room < len(p) {
		c.cut = true
		if room > 0 {
			c.buf.Write(p[:room])
		}
		return len(p), nil
	}
	c.buf.Write(p)
	return len(p), nil
}

func runServe(args []string) {
	if len(args) != 1 {
		fail("usage: serve SOCKET")
	}
	_ = os.Remove(args[0])
	listener, err := net.Listen("unix", args[0])
	if err != nil {
		fail("listen: " + err.Error())
	}
	// Whoever reaches the socket may build: its directory says who that is (the server makes it the builder's
	// own when it runs as root, and then only root and the builder's uid get there).
	if err := os.Chmod(args[0], 0o666); err != nil {
		fail("chmod: " + err.Error())
	}
	for {
		conn, err := listener.Accept()
		if err != nil {
			fail("accept: " + err.Error())
		}
		go serveOne(conn)
	}
}

func serveOne(conn net.Conn) {
	defer conn.Close()
	var request buildRequest
	decoder := json.NewDecoder(io.LimitReader(conn, maxRequestBytes))
	if err := decoder.Decode(&request); err != nil {
		answer(conn, buildAnswer{Exit: 125, Output: []byte("gosandbox-agent: bad request: " + err.Error() + "\n")})
		return
	}
	gone := make(chan struct{})
	go func() { // the server keeps its end open until the answer; its end closing means it is gone
		_, _ = io.Copy(io.Discard, conn)
		close(gone)
	}()
	if request.Trim != nil {
		answer(conn, trimCache(*request.Trim))
		return
	}
	answer(conn, serveBuild(request, gone))
}

func answer(conn net.Conn, a buildAnswer) {
	_ = json.NewEncoder(conn).Encode(a)
}

func serveBuild(r buildRequest, gone <-chan struct{}) buildAnswer {
	started := time.Now()
	if r.TimeoutMs <= 0 || r.CapBytes <= 0 || !filepath.IsAbs(r.Dir) {
		return buildAnswer{Exit: 125, Output: []byte("gosandbox-agent: bad request\n")}
	}
	timeout := time.Duration(r.TimeoutMs) * time.Millisecond
	run := &buildRun{dir: r.Dir, deadline: started.Add(timeout), out: &cappedOutput{cap: r.CapBytes}, gone: gone}
	a := buildAnswer{Path: "go"}
	if r.Direct != "" {
		if plan, refused := planDirect(r.Dir, r.Flags); plan != nil {
			a.Path = "direct"
			a.Exit = run.direct(plan, r.Direct)
		} else {
			a.Refused = refused
		}
	}
	if a.Path == "go" {
		if len(r.Steps) == 0 {
			return buildAnswer{Exit: 125, Output: []byte("gosandbox-agent: no command\n")}
		}
		a.Exit = run.steps(splitCommands(r.Steps))
	}
	if a.Exit == buildTimeoutExit {
		fmt.Fprintf(run.out, "gosandbox: the build did not finish within %.1f s and was stopped\n", timeout.Seconds())
	}
	a.Output, a.Cut, a.StepsMs = append([]byte{}, run.out.buf.Bytes()...), run.out.cut, run.stepsMs
	a.Ms = time.Since(started).Milliseconds()
	return a
}

// buildRun is one build's processes: each in the package directory, in its own process group, its output
// into one capped buffer, all within one deadline and stopped when the server goes.
type buildRun struct {
	dir      string
	deadline time.Time
	out      *cappedOutput
	gone     <-chan struct{}
	stepsMs  []int64
}

// steps runs the go commands as `build` does: the first non-zero exit code, buildTimeoutExit at the deadline.
func (b *buildRun) steps(steps []buildStep) int {
	status := 0
	for _, step := range steps {
		if step.onlyIfOK && status != 0 {
			continue
		}
		code := b.command(step.command, "", nil)
		if code == buildTimeoutExit {
			return code
		}
		if status == 0 {
			status = code
		}
	}
	return status
}

// command runs one command (its output into w, or the build's output when w is nil) with extra environment.
func (b *buildRun) command(command []string, env string, w io.Writer) int {
	started := time.Now()
	defer func() { b.stepsMs = append(b.stepsMs, time.Since(started).Milliseconds()) }()
	if len(command) == 0 {
		fmt.Fprintln(b.out, "gosandbox-agent: empty command")
		return 125
	}
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Dir = b.dir
	if env != "" {
		cmd.Env = append(os.Environ(), env)
	}
	if w == nil {
		w = b.out
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(b.out, "gosandbox-agent: start: "+err.Error())
		return 125
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	kill := func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); <-done }
	select {
	case err := <-done:
		return exitCode(err)
	case <-time.After(time.Until(b.deadline)):
		kill()
		return buildTimeoutExit
	case <-b.gone:
		kill()
		return buildTimeoutExit
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if exitErr, ok := err.(*exec.ExitError); ok {
		if status, ok := exitErr.Sys().(syscall.WaitStatus); ok && status.Signaled() {
			return 128 + int(status.Signal()) // 137 for SIGKILL (e.g. out of memory), as a shell says
		}
		return exitErr.ExitCode()
	}
	return 125
}
