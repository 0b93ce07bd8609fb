package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

const (
	prSetKeepCaps = 8
	prSetDumpable = 4
	prCapbsetDrop = 24
	// linuxCapabilityVersion3 is the version of capget and capset's header with 64-bit sets.
	linuxCapabilityVersion3 = 0x20080522
	// A supervisor waits this long for the backend's answer, and at the end for it to hang up.
	backendTimeout = 10 * time.Second
	// Under a CPU-time limit a supervisor reports the program's CPU time this often (its first process's),
	// and every progressEvery-th time (without a limit, only then) counted afresh from /proc for every process.
	checkEvery    = 10 * time.Millisecond
	progressEvery = 10
	// The backend holds the CPU-time limit; the supervisor stops the program at this many times it, should the
	// backend not.
	backstopFactor = 2
	// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat.
	clockTicks = 100
)

// runSupervise is the first process of a run sandbox under gVisor, as another uid than the program: the program
// can neither signal, trace nor read it (gVisor, unlike Linux, lets a process signal its own PID 1). It talks to
// the backend over its stdin, a socket only it holds, and writes to REPORT ("-": that socket):
//
//	-> "ready"            set up, the program not started: the backend notes the sandbox's counters
//	<- "go"
//	-> "cpu_us=N"         every 100 ms while the program runs, every 10 ms under a CPU-time limit
//	-> "end exit=N|signal=N cpu_us=N cpu_limit=0|1"
//	                      every process of the program is dead; the sandbox lives on (and its counters with it)
//	                      until the backend closes the socket
//
// With STDIN "@backend" (a live run) the program's stdin is a pipe that the backend feeds after "go":
//
//	<- "in N" and N bytes  written to the program's stdin as they come, in order
//	<- "eof"               the program's stdin is closed
//	<- "signal N"          signal N to the program's first process (from the thread that holds CAP_KILL)
//
// cpu_us is the CPU time of every process of the program, from wait4's rusage: gVisor's own accounting of the
// program's tasks, without the Sentry's and the Gofer's work that the sandbox's cgroup counts beside it (but in
// 10 ms ticks, and counting a task that waits for a host CPU as running). The backend holds the CPU-time limit
// CPU_MS (0: none) with both figures; at twice it the supervisor kills the program itself, should the backend
// not (cpu_limit=1). Our exit code is the program's (128 + its signal).
//
// Started as root (Docker gives a non-root user no capabilities), --as=SUPERVISOR_UID makes it that uid first,
// keeping its capabilities.
func runSupervise(args []string) {
	args = becomeSupervisor(args)
	if len(args) < 5 {
		fail("usage: supervise [--as=SUPERVISOR_UID] UID CPU_MS REPORT STDIN PROG [ARGS...]")
	}
	uid, cpuLimit := programOf(args)
	backend := openChannel(args[2])
	stdin, feed := openStdin(args[3])
	backend.send("ready")
	backend.await("go")
	pid, err := syscall.ForkExec(args[4], args[4:], asUser(uid, os.Environ(), uintptr(stdin), 1, 2))
	if err != nil {
		fail("start the program: " + err.Error())
	}
	_ = syscall.Close(stdin)
	signals := make(chan syscall.Signal, 16)
	if feed != nil {
		backend.fed = make(chan struct{})
		go backend.feedStdin(feed, signals)
	}
	exits := make(chan reaped, 16)
	go reapAll(exits)
	s := supervision{pid: pid, cpuLimit: cpuLimit, backend: backend, signals: signals}
	status := s.untilExit(exits)
	_ = syscall.Kill(-1, syscall.SIGKILL) // what the program left running ends with it, as when it was PID 1
	for r := range exits {
		s.reapedCPU += r.cpu
	}
	backend.send(s.endLine(status))
	backend.awaitClose()
	os.Exit(shellStatus(status))
}

// becomeSupervisor makes this process a supervisor (supervise, series): this thread locked (the program is forked
// from it), --as=UID taken (becomeKeepingCapabilities), not dumpable (nothing in the sandbox may open /proc/1/mem,
// /proc/1/fd or /proc/1/environ) and this thread's bounding set empty. It returns the arguments after --as.
func becomeSupervisor(args []string) []string {
	runtime.LockOSThread()
	if as, ok := strings.CutPrefix(firstArg(args), "--as="); ok {
		becomeKeepingCapabilities(parseID(as))
		args = args[1:]
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0); errno != 0 {
		fail("prctl: " + errno.Error())
	}
	dropBoundingSet()
	return args
}

// programOf reads a supervisor's first two arguments: the program's uid, and its CPU-time limit (0: none).
func programOf(args []string) (uint32, time.Duration) {
	if args[1] == "0" {
		return parseID(args[0]), 0
	}
	return parseID(args[0]), parseMs(args[1], "CPU limit")
}

// asUser is how a supervisor starts a process as uid (its gid the same, no groups), with env and files.
func asUser(uid uint32, env []string, files ...uintptr) *syscall.ProcAttr {
	credential := &syscall.Credential{Uid: uid, Gid: uid, Groups: []uint32{}}
	return &syscall.ProcAttr{Env: env, Files: files, Sys: &syscall.SysProcAttr{Credential: credential}}
}

// endLine is the "end" line of a program whose first process ended with status.
func (s *supervision) endLine(status syscall.WaitStatus) string {
	return fmt.Sprintf("end %s cpu_us=%d cpu_limit=%d", describeStatus(status), s.reapedCPU.Microseconds(), boolDigit(s.overLimit))
}

// channel is the supervisor's line protocol with the backend: lines in on stdin, lines out to stdin or a file.
type channel struct {
	in  *bufio.Reader
	out *os.File
	fed chan struct{} // a live run's: closed when the backend hung up
}

// openChannel moves stdin to a close-on-exec descriptor (the program gets the stdin file instead).
func openChannel(report string) channel {
	fd, _, errno := syscall.Syscall(syscall.SYS_FCNTL, 0, syscall.F_DUPFD_CLOEXEC, 3)
	if errno != 0 {
		fail("take the backend's channel: " + errno.Error())
	}
	_ = syscall.Close(0)
	in := os.NewFile(fd, "backend")
	if report == "-" {
		return channel{bufio.NewReader(in), in, nil}
	}
	out, err := os.OpenFile(report, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		fail("open the report: " + err.Error())
	}
	return channel{bufio.NewReader(in), out, nil}
}

func (c channel) send(line string) {
	if _, err := c.out.WriteString(line + "\n"); err != nil {
		fail("tell the backend: " + err.Error())
	}
}

// await reads one line, which must be want, within the handshake's time.
func (c channel) await(want string) {
	got := make(chan string, 1)
	go func() {
		line, _ := c.in.ReadString('\n')
		got <- strings.TrimSuffix(line, "\n")
	}()
	select {
	case line := <-got:
		if line != want {
			fail(fmt.Sprintf("the backend said %q, not %q", line, want))
		}
	case <-time.After(backendTimeout):
		fail("the backend did not say " + want)
	}
}

// awaitClose waits until the backend closes the channel (it has read the sandbox's counters), or gives up.
func (c channel) awaitClose() {
	closed := c.fed
	if closed == nil {
		closed = make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, c.in)
			close(closed)
		}()
	}
	select {
	case <-closed:
	case <-time.After(backendTimeout):
	}
}

// supervision is what the supervisor knows of the program while it runs.
type supervision struct {
	pid       int
	cpuLimit  time.Duration
	backend   channel
	reapedCPU time.Duration // of every process of the program that was reaped: by us, or by one we reaped
	overLimit bool
	// a live run's signals for the program, sent from this thread: only it holds CAP_KILL under Docker
	signals <-chan syscall.Signal
	// a series' stops (series.go), each for the case of its number: this is case number
	stops  <-chan int
	number int
}

// reaped is one process of the program that ended, and its rusage's CPU time (its own and its reaped children's).
type reaped struct {
	pid    int
	status syscall.WaitStatus
	cpu    time.Duration
}

// untilExit checks the CPU limit and reports progress until the program's first process ends; its wait status.
func (s *supervision) untilExit(exits <-chan reaped) syscall.WaitStatus {
	ticker := time.NewTicker(checkEvery)
	defer ticker.Stop()
	for tick := 1; ; tick++ {
		select {
		case r := <-exits:
			s.reapedCPU += r.cpu
			if r.pid == s.pid {
				return r.status
			}
		case sig := <-s.signals:
			_ = syscall.Kill(s.pid, sig)
		case stop := <-s.stops:
			if stop == s.number {
				_ = syscall.Kill(-1, syscall.SIGKILL)
			}
		case <-ticker.C:
			switch {
			case tick%progressEvery == 0:
				s.report(s.reapedCPU + liveCPU())
			case s.cpuLimit > 0:
				s.report(s.reapedCPU + processCPU(s.pid))
			}
		}
	}
}

// report tells the backend the program's CPU time so far, and stops the program far past its limit.
func (s *supervision) report(used time.Duration) {
	if s.cpuLimit > 0 && used >= backstopFactor*s.cpuLimit && !s.overLimit {
		s.overLimit = true
		_ = syscall.Kill(-1, syscall.SIGKILL)
	}
	s.backend.send(fmt.Sprintf("cpu_us=%d", used.Microseconds()))
}

// reapAll waits for every process that becomes our child (the program, and its orphans) until none is left.
func reapAll(exits chan<- reaped) {
	defer close(exits)
	for {
		var status syscall.WaitStatus
		var usage syscall.Rusage
		pid, err := syscall.Wait4(-1, &status, 0, &usage)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return // ECHILD: no process of the program is left
		}
		cpu := time.Duration(syscall.TimevalToNsec(usage.Utime) + syscall.TimevalToNsec(usage.Stime))
		exits <- reaped{pid, status, cpu}
	}
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// becomeKeepingCapabilities makes every thread of ours uid (and gid) id with no groups, and keeps, on this
// thread, the capabilities we hold (setresuid from root would clear them).
func becomeKeepingCapabilities(id uint32) {
	if os.Getuid() != 0 {
		return // started as id already, holding them (the OCI backend)
	}
	if _, _, errno := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, prSetKeepCaps, 1, 0); errno != 0 {
		fail("keep capabilities: " + errno.Error())
	}
	if err := syscall.Setgroups(nil); err != nil {
		fail("setgroups: " + err.Error())
	}
	if err := syscall.Setresgid(int(id), int(id), int(id)); err != nil {
		fail("setresgid: " + err.Error())
	}
	if err := syscall.Setresuid(int(id), int(id), int(id)); err != nil {
		fail("setresuid: " + err.Error())
	}
	header := struct{ version, pid uint32 }{linuxCapabilityVersion3, 0}
	var sets [2]struct{ effective, permitted, inheritable uint32 }
	if _, _, errno := syscall.RawSyscall(syscall.SYS_CAPGET, uintptr(unsafe.Pointer(&header)), uintptr(unsafe.Pointer(&sets[0])), 0); errno != 0 {
		fail("capget: " + errno.Error())
	}
	for i := range sets {
		sets[i].effective = sets[i].permitted
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&header)), uintptr(unsafe.Pointer(&sets[0])), 0); errno != 0 {
		fail("capset: " + errno.Error())
	}
}

func parseID(text string) uint32 {
	id, err := strconv.ParseUint(text, 10, 32)
	if err != nil || id == 0 {
		fail("bad uid " + text)
	}
	return uint32(id)
}

// dropBoundingSet empties this thread's capability bounding set: the program, forked from it, starts with none.
func dropBoundingSet() {
	for capability := uintptr(0); ; capability++ {
		_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prCapbsetDrop, capability, 0)
		if errno == syscall.EINVAL {
			return // past the last capability the kernel knows
		}
		if errno != 0 {
			fail("drop the bounding set: " + errno.Error())
		}
	}
}

// openStdin opens the program's stdin file ("-": /dev/null), close-on-exec: the program gets it as fd 0.
// "@backend": a pipe, whose write end is returned too (the backend's stdin messages go there).
func openStdin(path string) (int, *os.File) {
	if path == "@backend" {
		var ends [2]int
		if err := syscall.Pipe2(ends[:], syscall.O_CLOEXEC); err != nil {
			fail("stdin pipe: " + err.Error())
		}
		return ends[0], os.NewFile(uintptr(ends[1]), "stdin")
	}
	if path == "-" {
		path = os.DevNull
	}
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		fail("open stdin: " + err.Error())
	}
	return fd, nil
}

// feedStdin serves a live run's messages (see runSupervise) until the backend hangs up; a write the program's
// end refuses (it closed its stdin, or ended) drops the rest of the input, not the signals. The program's stdin
// is written by a goroutine of its own from a queue, so a program that does not read (its pipe full) holds up
// neither its signals nor the backend's writes: the queue holds what the backend sent, which the backend caps.
func (c channel) feedStdin(stdin *os.File, signals chan<- syscall.Signal) {
	defer close(c.fed)
	input := newInputQueue()
	go input.writeTo(stdin)
	defer input.end()
	for {
		line, err := c.in.ReadString('\n')
		if err != nil {
			return
		}
		word, value, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		number, _ := strconv.Atoi(value)
		switch {
		case word == "in" && number > 0:
			data := make([]byte, number)
			if _, err := io.ReadFull(c.in, data); err != nil {
				return
			}
			input.put(data)
		case word == "eof":
			input.end()
		case word == "signal" && number > 0 && number < 65:
			select {
			case signals <- syscall.Signal(number):
			default: // sixteen pending: the program is not handling them anyway
			}
		}
	}
}

// inputQueue is a live run's input not yet written to the program, in order, then its end.
type inputQueue struct {
	mu     sync.Mutex
	ready  *sync.Cond
	chunks [][]byte
	ended  bool
}

func newInputQueue() *inputQueue {
	q := &inputQueue{}
	q.ready = sync.NewCond(&q.mu)
	return q
}

func (q *inputQueue) put(data []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.ended {
		q.chunks = append(q.chunks, data)
		q.ready.Signal()
	}
}

// end: the program's stdin closes after what was put before.
func (q *inputQueue) end() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ended = true
	q.ready.Signal()
}

// writeTo writes the chunks as they come, then closes stdin; after a refused write it keeps nothing.
func (q *inputQueue) writeTo(stdin *os.File) {
	defer stdin.Close()
	open := true
	for {
		q.mu.Lock()
		for len(q.chunks) == 0 && !q.ended {
			q.ready.Wait()
		}
		if len(q.chunks) == 0 {
			q.mu.Unlock()
			return
		}
		data := q.chunks[0]
		q.chunks[0] = nil
		q.chunks = q.chunks[1:]
		q.mu.Unlock()
		if open {
			if _, err := stdin.Write(data); err != nil {
				open = false
			}
		}
	}
}

// liveCPU is the CPU time so far of every process of the sandbox but us, and of the children they reaped.
func liveCPU() time.Duration {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	total := time.Duration(0)
	for _, entry := range entries {
		if pid, err := strconv.Atoi(entry.Name()); err == nil && pid != 1 {
			total += processCPU(pid)
		}
	}
	return total
}

// processCPU is utime + stime + cutime + cstime of /proc/PID/stat (its fields 14 to 17).
func processCPU(pid int) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 15 {
		return 0
	}
	ticks := int64(0)
	for _, field := range fields[11:15] { // fields[0] is the state, field 3
		value, _ := strconv.ParseInt(field, 10, 64)
		ticks += value
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

func describeStatus(status syscall.WaitStatus) string {
	if status.Signaled() {
		return "signal=" + strconv.Itoa(int(status.Signal()))
	}
	return "exit=" + strconv.Itoa(status.ExitStatus())
}

// shellStatus is the exit status a shell reports: the exit code, or 128 + the signal that ended the process.
func shellStatus(status syscall.WaitStatus) int {
	if status.Signaled() {
		return 128 + int(status.Signal())
	}
	return status.ExitStatus()
}

func boolDigit(value bool) int {
	if value {
		return 1
	}
	return 0
}
