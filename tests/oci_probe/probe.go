// The OCI probe: run as a sandbox's only process, it prints what the sandbox lets it see and do,
// one "key: value" line each, for tests/test_oci_probe.py to assert. Our own code, not hostile.
//
// Usage: probe <host address to dial>
//
//	probe spin <CPU seconds>: busy on two threads until the process has used that much CPU time (or 10 s pass)
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

func main() {
	if os.Args[1] == "spin" {
		spin(os.Args[2])
		return
	}
	fmt.Printf("pid: %d\n", os.Getpid())
	groups, _ := os.Getgroups()
	fmt.Printf("ids: %d:%d groups=%v\n", os.Getuid(), os.Getgid(), groups)
	hostname, _ := os.Hostname()
	fmt.Printf("hostname: %s\n", hostname)
	statusLines("/proc/self/status", "CapEff", "CapPrm", "CapBnd", "CapInh", "Seccomp:")
	noNewPrivs, _, _ := syscall.RawSyscall(syscall.SYS_PRCTL, 39, 0, 0) // PR_GET_NO_NEW_PRIVS
	fmt.Printf("no_new_privs: %d\n", noNewPrivs)
	rlimits()
	// /scratch (in the root) and /sandbox are world-writable directories: only a read-only mount refuses the write.
	fmt.Printf("write /scratch: %s\n", errText(os.WriteFile("/scratch/probe-was-here", nil, 0o644)))
	fmt.Printf("write /sandbox: %s\n", errText(os.WriteFile("/sandbox/probe-was-here", nil, 0o644)))
	fmt.Printf("write /tmp: %s\n", errText(os.WriteFile("/tmp/probe-was-here", []byte("x"), 0o644)))
	fmt.Printf("/tmp bytes: %d\n", fsBytes("/tmp"))
	fmt.Printf("/dev/shm bytes: %d\n", fsBytes("/dev/shm"))
	fmt.Printf("read /sandbox/data: %s\n", readText("/sandbox/data"))
	fmt.Printf("read /proc/interrupts: %s\n", readText("/proc/interrupts"))
	fmt.Printf("read /proc/timer_list: %s\n", readText("/proc/timer_list"))
	fmt.Printf("list /sys/firmware: %s\n", listText("/sys/firmware"))
	fmt.Printf("stat /tmp: %s\n", statText("/tmp"))
	fmt.Printf("stat /dev/shm: %s\n", statText("/dev/shm"))
	fmt.Printf("write /dev/shm: %s\n", errText(os.WriteFile("/dev/shm/probe-was-here", []byte("x"), 0o644)))
	interfaces()
	fmt.Printf("routes: %d\n", routes())
	fmt.Printf("dial host: %s\n", dial(os.Args[1]))
	seccomp()
}

func rlimits() {
	for _, limit := range []struct {
		name     string
		resource int
	}{{"cpu", 0}, {"fsize", 1}, {"core", 4}, {"nofile", 7}} { // RLIMIT_CPU, _FSIZE, _CORE, _NOFILE
		var value syscall.Rlimit
		if err := syscall.Getrlimit(limit.resource, &value); err != nil {
			fmt.Printf("rlimit %s: %s\n", limit.name, errText(err))
			continue
		}
		fmt.Printf("rlimit %s: %d %d\n", limit.name, value.Cur, value.Max)
	}
}

// spin is stopped by RLIMIT_CPU where the runtime enforces it; else it says how much CPU time it used.
func spin(seconds string) {
	target, err := time.ParseDuration(seconds + "s")
	if err != nil {
		panic(err)
	}
	for i := 0; i < 2; i++ {
		go func() {
			for {
			}
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if used := cpuTime(); used >= target {
			fmt.Printf("cpu time: at least %s\n", target)
			return
		}
	}
	fmt.Printf("cpu time: %s after 10 s\n", cpuTime())
}

func cpuTime() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		panic(err)
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// statusLines prints the lines of a /proc file that start with one of the keys.
func statusLines(path string, keys ...string) {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Printf("%s: %s\n", path, errText(err))
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		for _, key := range keys {
			if strings.HasPrefix(line, key) {
				fmt.Println(strings.Join(strings.Fields(line), " "))
			}
		}
	}
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	if errno, ok := underlyingErrno(err); ok {
		return fmt.Sprintf("errno %d", int(errno))
	}
	return err.Error()
}

func underlyingErrno(err error) (syscall.Errno, bool) {
	for err != nil {
		if errno, ok := err.(syscall.Errno); ok {
			return errno, true
		}
		unwrapper, ok := err.(interface{ Unwrap() error })
		if !ok {
			return 0, false
		}
		err = unwrapper.Unwrap()
	}
	return 0, false
}

func fsBytes(path string) uint64 {
	var stat syscall.Statfs_t
	if err := syscall.Statfs(path, &stat); err != nil {
		return 0
	}
	return stat.Blocks * uint64(stat.Bsize)
}

// readText is "ok <n> bytes" or the error: a masked path reads as /dev/null (0 bytes).
func readText(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return errText(err)
	}
	return fmt.Sprintf("ok %d bytes", len(data))
}

// listText is "ok <n> entries" or the error: a masked directory is an empty read-only tmpfs.
func listText(path string) string {
	entries, err := os.ReadDir(path)
	if err != nil {
		return errText(err)
	}
	return fmt.Sprintf("ok %d entries", len(entries))
}

func statText(path string) string {
	var stat syscall.Stat_t
	if err := syscall.Stat(path, &stat); err != nil {
		return errText(err)
	}
	return fmt.Sprintf("mode %o uid %d", stat.Mode&0o7777, stat.Uid)
}

func interfaces() {
	list, err := net.Interfaces()
	if err != nil {
		fmt.Printf("interfaces: %s\n", errText(err))
		return
	}
	names := []string{}
	for _, iface := range list {
		names = append(names, iface.Name)
	}
	fmt.Printf("interfaces: %s\n", strings.Join(names, ","))
}

// routes counts the IPv4 routes (the lines of /proc/net/route after its header); -1 if unreadable.
func routes() int {
	file, err := os.Open("/proc/net/route")
	if err != nil {
		return -1
	}
	defer file.Close()
	count := -1
	for scanner := bufio.NewScanner(file); scanner.Scan(); {
		if strings.TrimSpace(scanner.Text()) != "" {
			count++
		}
	}
	return count
}

func dial(address string) string {
	conn, err := net.DialTimeout("tcp", address, 500*time.Millisecond)
	if err != nil {
		return errText(err)
	}
	conn.Close()
	return "connected"
}

// seccomp calls what our profile refuses: unshare and mount by its default action (EPERM),
// clone3 by its own rule (ENOSYS), personality with an argument it does not allow.
func seccomp() {
	_, _, unshare := syscall.RawSyscall(syscall.SYS_UNSHARE, syscall.CLONE_NEWUSER, 0, 0)
	fmt.Printf("unshare: errno %d\n", int(unshare))
	fmt.Printf("mount: %s\n", errText(syscall.Mount("none", "/tmp", "tmpfs", 0, "")))
	_, _, clone3 := syscall.RawSyscall(435, 0, 0, 0) // SYS_CLONE3, with no arguments: EFAULT or EINVAL if allowed
	fmt.Printf("clone3: errno %d\n", int(clone3))
	_, _, personality := syscall.RawSyscall(syscall.SYS_PERSONALITY, 0x0040000, 0, 0) // ADDR_COMPAT_LAYOUT
	fmt.Printf("personality: errno %d\n", int(personality))
}
