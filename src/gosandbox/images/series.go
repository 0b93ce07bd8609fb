package main

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// A case message's body (its stdin file and arguments) is at most this long.
	caseBodyBytes = 4 << 20
	// The cleaner's own time: a wipe of a full /tmp takes milliseconds.
	wipeTimeout = 10 * time.Second
)

// Where a program may write (the mounts of spec.py that are writable by its uid): wiped between cases.
var writablePlaces = []string{"/tmp", "/dev/shm", "/dev/mqueue"}

// System V IPC objects outlive their processes; the cleaner removes the program's (each table's IPC_RMID).
var sysvTables = map[string]func(id int){
	"/proc/sysvipc/shm": func(id int) { _, _, _ = syscall.Syscall(syscall.SYS_SHMCTL, uintptr(id), ipcRmid, 0) },
	"/proc/sysvipc/msg": func(id int) { _, _, _ = syscall.Syscall(syscall.SYS_MSGCTL, uintptr(id), ipcRmid, 0) },
	"/proc/sysvipc/sem": func(id int) { _, _, _ = syscall.Syscall(syscall.SYS_SEMCTL, uintptr(id), 0, ipcRmid) },
}

const (
	ipcRmid          = 0
	rlimitNproc      = 6
	fSetPipeSize     = 1031
	defaultPipeBytes = 65536
)

// runSeries is the first process of a sandbox that runs one program on many cases, one after another (the
// judge's cases): the supervisor of supervise.go, as another uid than the program, not dumpable, so the program
// can neither signal, trace nor read it. It talks to the backend over its stdin, a socket only it holds:
//
//	-> "ready"                         set up, no case started
//	<- "case N" and N bytes            run the program once: a mark, its stdin file and its arguments, each
//	                                   ended by a NUL
//	-> "cpu_us=N"                      while a case runs, as under supervise
//	-> "exited"                        the program's first process ended (we kill what it left)
//	-> "over"                          something the program left could not be removed: the series ends after
//	                                   this case's end
//	-> "end exit=N|signal=N cpu_us=N cpu_limit=0|1"
//	                                   every process of the case is dead, and the places the program may write
//	                                   are empty again (files, System V IPC objects): the next case starts afresh;
//	                                   the mark was written to stdout and stderr just before (the backend reads
//	                                   each up to it: runc copies them through pipes of its own, so output the
//	                                   case wrote may still be on its way when this line comes)
//	<- "stop K"                        kill every process of case K (the K-th "case", from 1) if it still runs
//
// The backend reads the sandbox's counters between cases; its hang-up ends the series (and a case that runs).
// Each case's program is a new process (through runLimit: at most TASKS tasks, the first the OOM killer takes):
// its rlimits count from zero.
func runSeries(args []string) {
	args = becomeSupervisor(args) // every fork is from this thread
	if len(args) != 5 {
		fail("usage: series [--as=SUPERVISOR_UID] UID CPU_MS TASKS REPORT PROG")
	}
	uid, cpuLimit := programOf(args)
	tasks := args[2]
	if n, err := strconv.Atoi(tasks); err != nil || n <= 0 {
		fail("bad task limit " + tasks)
	}
	self, err := os.Executable()
	if err != nil {
		fail("the agent's path: " + err.Error())
	}
	backend := openChannel(args[3])
	cases, stops := make(chan []byte), make(chan int, 16)
	go readCases(backend.in, cases, stops)
	backend.send("ready")
	for number := 1; ; number++ {
		message, more := <-cases
		if !more {
			_ = syscall.Kill(-1, syscall.SIGKILL)
			os.Exit(0)
		}
		s := supervision{cpuLimit: cpuLimit, backend: backend, stops: stops, number: number}
		fields := strings.Split(strings.TrimSuffix(string(message), "\x00"), "\x00")
		if len(fields) < 2 || fields[0] == "" {
			fail("a case names a mark and a stdin")
		}
		status := s.runCase(uid, []string{self, "limit", tasks, args[4]}, fields[1], fields[2:])
		resetOutput()
		clean := wipe(uid, self)
		for _, fd := range []int{1, 2} {
			_, _ = syscall.Write(fd, []byte(fields[0]))
		}
		if !clean {
			backend.send("over")
		}
		backend.send(s.endLine(status))
		if !clean {
			os.Exit(0) // the backend runs the next cases in a sandbox of their own
		}
	}
}

// runCase starts the program (through start: runLimit) on one case's stdin and arguments, and waits until every
// process of it is dead.
func (s *supervision) runCase(uid uint32, start []string, stdinPath string, args []string) syscall.WaitStatus {
	stdin, err := syscall.Open(stdinPath, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		fail("open the case's stdin: " + err.Error())
	}
	argv := append(start, args...)
	pid, err := syscall.ForkExec(argv[0], argv, asUser(uid, os.Environ(), uintptr(stdin), 1, 2))
	_ = syscall.Close(stdin)
	if err != nil {
		fail("start the program: " + err.Error())
	}
	s.pid = pid
	exits := make(chan reaped, 16)
	go reapAll(exits)
	status := s.untilExit(exits)
	s.backend.send("exited")
	_ = syscall.Kill(-1, syscall.SIGKILL) // what the case left running ends with it
	for r := range exits {
		s.reapedCPU += r.cpu
	}
	return status
}

// runLimit is each case's first process, as the program's uid (started by runSeries): it keeps the program's
// tasks to TASKS (RLIMIT_NPROC, both limits: the sandbox's pids limit leaves room above it for the supervisor,
// which must never fail to make a thread), makes the program the first the kernel kills when the sandbox runs
// out of memory (oom_score_adj, raised: no privilege needed), then execs the program.
func runLimit(args []string) {
	if len(args) < 2 {
		fail("usage: limit TASKS PROG [ARGS...]")
	}
	tasks, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil || tasks == 0 {
		fail("bad task limit " + args[0])
	}
	if err := syscall.Setrlimit(rlimitNproc, &syscall.Rlimit{Cur: tasks, Max: tasks}); err != nil {
		fail("RLIMIT_NPROC: " + err.Error())
	}
	if err := os.WriteFile("/proc/self/oom_score_adj", []byte("1000"), 0); err != nil {
		fail("oom_score_adj: " + err.Error())
	}
	err = execProgram(args[1:])
	fail("start the program: " + err.Error())
}

// readCases serves the backend's messages: each case in order, each stop by its case's number.
func readCases(in *bufio.Reader, cases chan<- []byte, stops chan<- int) {
	defer close(cases)
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			return
		}
		word, value, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		number, err := strconv.Atoi(value)
		if err != nil || number <= 0 {
			fail("the backend said " + strconv.Quote(line))
		}
		switch word {
		case "case":
			if number > caseBodyBytes {
				fail("a case message is too long")
			}
			body := make([]byte, number)
			if _, err := io.ReadFull(in, body); err != nil {
				return
			}
			cases <- body
		case "stop":
			select {
			case stops <- number:
			default: // sixteen stops pending: the case is being killed anyway
			}
		default:
			fail("the backend said " + strconv.Quote(line))
		}
	}
}

// wipe empties the places the program may write, as the program's uid (their files are its own; we hold no
// capability over files), when there is anything to remove; false if something is left.
func wipe(uid uint32, self string) bool {
	if !somethingLeft() {
		return true
	}
	pid, err := syscall.ForkExec(self, []string{self, "wipe"}, asUser(uid, []string{}))
	if err != nil {
		return false
	}
	done := make(chan struct{})
	go func() {
		var status syscall.WaitStatus
		for {
			if _, err := syscall.Wait4(pid, &status, 0, nil); err != syscall.EINTR {
				break
			}
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(wipeTimeout):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		return false
	}
	return !somethingLeft()
}

// somethingLeft: an entry in a writable place, or a System V IPC object; what cannot be read counts as left.
func somethingLeft() bool {
	for _, place := range writablePlaces {
		if entries, err := os.ReadDir(place); err != nil || len(entries) > 0 {
			return true
		}
	}
	for table := range sysvTables {
		if ids, err := sysvIDs(table); err != nil || len(ids) > 0 {
			return true
		}
	}
	return false
}

// resetOutput undoes what a case may have done to the sandbox's stdout and stderr, which every case shares:
// their file status flags (O_NONBLOCK, O_APPEND) and their pipes' size.
func resetOutput() {
	for _, fd := range []uintptr{1, 2} {
		_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETFL, 0)
		_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSize, defaultPipeBytes)
	}
}

// runWipe is the cleaner (as the program's uid, started by runSeries): it removes every entry of the writable
// places, and every System V IPC object.
func runWipe(args []string) {
	if len(args) != 0 {
		fail("usage: wipe")
	}
	for _, place := range writablePlaces {
		if err := os.Chdir(place); err == nil {
			removeEntries()
		}
	}
	for table, remove := range sysvTables {
		ids, _ := sysvIDs(table)
		for _, id := range ids {
			remove(id)
		}
	}
}

// removeEntries removes what the working directory holds, by names relative to it (a tree of any depth has no
// path too long), making each directory ours to read and write first (a program may have taken those rights
// away from itself to keep its files). Nothing runs as the program's uid meanwhile: no entry changes under us.
func removeEntries() {
	entries, _ := os.ReadDir(".")
	for _, entry := range entries {
		name := entry.Name()
		if entry.IsDir() { // as lstat sees it: a symbolic link to a directory is removed, never followed
			if os.Chmod(name, 0o700) == nil && syscall.Chdir(name) == nil {
				removeEntries()
				_ = syscall.Chdir("..")
			}
			_ = syscall.Rmdir(name)
			continue
		}
		_ = syscall.Unlink(name)
	}
}

// sysvIDs lists the ids of a /proc/sysvipc table (its second column).
func sysvIDs(table string) ([]int, error) {
	data, err := os.ReadFile(table)
	if err != nil {
		return nil, err
	}
	var ids []int
	for _, line := range strings.Split(string(data), "\n")[1:] {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		if id, err := strconv.Atoi(fields[1]); err == nil {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
