package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// The launch message's header is its length in decimal and a newline; its body is at most this long.
	launchHeaderBytes = 12
	launchBodyBytes   = 4 << 20
	// How long a busy binary (see execProgram) is waited for.
	execBusyWait = 2 * time.Second
)

// runLaunch is the first process of a run sandbox created ahead of its run (the OCI backend under runc), as the
// program's uid, holding nothing the program may not: it waits for one launch message on its stdin, a pipe only
// the backend holds, then becomes the program (exec), which is the sandbox's PID 1 as in a sandbox started for it.
//
//	<- "N\n" and N bytes: the working directory, the stdin file ("" keeps this pipe: a live run's input follows
//	   the message on it), the program and its arguments, each ended by a NUL
//
// The message is read byte-exact from the descriptor (no buffer): what follows it is the program's. Without a
// message within the lease (MS, the backend has stopped wanting this sandbox) or when the backend hangs up, it
// exits without running anything.
func runLaunch(args []string) {
	lease := leaseOf(args)
	if lease <= 0 {
		fail("usage: launch --lease=MS")
	}
	got := make(chan []byte, 1)
	go func() { got <- readLaunch() }()
	var message []byte
	select {
	case message = <-got:
	case <-time.After(lease):
		fail("no run came within the lease")
	}
	if message == nil {
		os.Exit(0) // hung up: no run
	}
	fields := strings.Split(strings.TrimSuffix(string(message), "\x00"), "\x00")
	if len(fields) < 3 || fields[2] == "" {
		fail("a launch message names a directory, a stdin and a program")
	}
	dir, stdin, argv := fields[0], fields[1], fields[2:]
	if stdin != "" {
		fd, err := syscall.Open(stdin, syscall.O_RDONLY, 0)
		if err != nil {
			fail("open stdin: " + err.Error())
		}
		if err := syscall.Dup3(fd, 0, 0); err != nil {
			fail("stdin: " + err.Error())
		}
		_ = syscall.Close(fd)
	}
	if err := syscall.Chdir(dir); err != nil {
		fail("working directory: " + err.Error())
	}
	err := execProgram(argv)
	fail("start the program: " + err.Error())
}

// execProgram execs the program; on ETXTBSY it tries again for a while. The server wrote the binary a moment
// ago, and a child it forked meanwhile (another sandbox's runtime) holds a copy of that write descriptor until
// its own exec closes it: a window of milliseconds in which the kernel refuses to run the file.
func execProgram(argv []string) error {
	deadline := time.Now().Add(execBusyWait)
	for {
		err := syscall.Exec(argv[0], argv, os.Environ())
		if err != syscall.ETXTBSY || time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}

// readLaunch reads the message's header and body from fd 0, no byte more; nil when the pipe ends first.
func readLaunch() []byte {
	var header []byte
	one := make([]byte, 1)
	for {
		if len(header) > launchHeaderBytes {
			fail("a launch header is too long")
		}
		if !readFull(one) {
			return nil
		}
		if one[0] == '\n' {
			break
		}
		header = append(header, one[0])
	}
	size, err := strconv.Atoi(string(header))
	if err != nil || size <= 0 || size > launchBodyBytes {
		fail("bad launch header " + strconv.Quote(string(header)))
	}
	body := make([]byte, size)
	if !readFull(body) {
		return nil
	}
	return body
}

// readFull fills buffer from fd 0; false when the pipe ends first.
func readFull(buffer []byte) bool {
	for done := 0; done < len(buffer); {
		n, err := syscall.Read(0, buffer[done:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return false
		}
		done += n
	}
	return true
}
