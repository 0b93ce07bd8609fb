// Command seccomp_probe checks what a sandbox's seccomp profile lets a
// statically linked, CGO-free Go program do.
//
// Every line it prints is one of:
//
//	DENIED <name> <errno>     the call failed with EPERM or ENOSYS (or the marker errno, see below)
//	ALLOWED <name> (<detail>) the call reached the kernel (it succeeded or failed with another errno)
//	WORKS <feature>           an ordinary Go feature worked
//	BROKEN <feature> <err>    an ordinary Go feature failed
//
// It always exits 0. Every call is made with arguments that are harmless if
// the call is allowed: invalid pointers or descriptors, or no-op requests.
// Nothing is dialled or addressed off the machine: sockets are only created,
// and the only connections go to 127.0.0.1 inside the sandbox.
//
// On amd64 the i386 (int $0x80) and x32 probes run in child processes: a
// profile without 32-bit sub-architectures kills the calling thread, which
// is reported as "DENIED <name> killed".
//
// SECCOMP_PROBE_MARK_ERRNO=N also counts errno N as DENIED. Run it under a
// copy of the profile that adds SCMP_ACT_ERRNO entries with errnoRet N for
// the probed calls to tell refusals by seccomp (errno N) from refusals by the
// kernel itself (EPERM). (Docker 20.10 ignores defaultErrnoRet.)
//
// Build: CGO_ENABLED=0 go build -o prog . ; run it as the container's entrypoint.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

const (
	childEnv = "SECCOMP_PROBE_CHILD"
	markEnv  = "SECCOMP_PROBE_MARK_ERRNO"
)

var markErrno syscall.Errno

func main() {
	switch os.Getenv(childEnv) {
	case "exec":
		fmt.Println("child-ok")
		return
	}
	if name, ok := strings.CutPrefix(os.Getenv(childEnv), "compat:"); ok {
		compatChild(name)
	}
	if v, err := strconv.Atoi(os.Getenv(markEnv)); err == nil && v > 0 {
		markErrno = syscall.Errno(v)
	}
	fmt.Printf("INFO arch=%s go=%s uid=%d\n", runtime.GOARCH, runtime.Version(), os.Getuid())
	syscallProbes()
	socketProbes()
	compatInChild()
	featureProbes()
}

func denied(e syscall.Errno) bool {
	return e == syscall.EPERM || e == syscall.ENOSYS || (markErrno != 0 && e == markErrno)
}

// report prints one DENIED/ALLOWED line. fd > 0 on success is closed.
func report(name string, r uintptr, e syscall.Errno, isFD bool) {
	switch {
	case e != 0 && denied(e):
		fmt.Printf("DENIED %s %d\n", name, int(e))
	case e != 0:
		fmt.Printf("ALLOWED %s (errno=%d %s)\n", name, int(e), e.Error())
	default:
		fmt.Printf("ALLOWED %s (ret=%d)\n", name, int(r))
		if isFD && int(r) > 2 {
			syscall.Close(int(r))
		}
	}
}

func cstr(s string) uintptr {
	p, _ := syscall.BytePtrFromString(s)
	return uintptr(unsafe.Pointer(p))
}

const (
	cloneNewUser = 0x10000000
	cloneFS      = 0x00000200
	addrNoRandom = 0x0040000
)

func syscallProbes() {
	nr := sysnums[runtime.GOARCH]
	call := func(name string, isFD bool, a ...uintptr) {
		n, ok := nr[name]
		if !ok {
			return
		}
		var args [6]uintptr
		copy(args[:], a)
		r, _, e := syscall.Syscall6(n, args[0], args[1], args[2], args[3], args[4], args[5])
		report(name, r, e, isFD)
	}
	minus := func(v int) uintptr { return uintptr(v) } // for negative ints (fds, key specs)
	var params [120]byte
	pid := uintptr(os.Getpid())

	call("io_uring_setup", true, 1, uintptr(unsafe.Pointer(&params[0])))
	call("io_uring_enter", false, minus(-1), 0, 0, 0, 0, 0)
	call("io_uring_register", false, minus(-1), 0, 0, 0)
	call("bpf", true, 0, 0, 0)                                   // BPF_MAP_CREATE, NULL attr
	call("perf_event_open", true, 0, 0, minus(-1), minus(-1), 0) // NULL attr
	call("userfaultfd", true, syscall.O_CLOEXEC)
	call("keyctl", false, 0, minus(-3), 0) // KEYCTL_GET_KEYRING_ID(session), no create
	call("add_key", false, 0, 0, 0, 0, 0)  // NULL type
	call("request_key", false, 0, 0, 0, 0)
	call("open_by_handle_at", true, minus(-1), 0, 0)
	call("name_to_handle_at", false, minus(-100), cstr("/"), 0, 0, 0) // NULL handle
	call("fsopen", true, 0, 0)
	call("fsconfig", false, minus(-1), 0, 0, 0, 0)
	call("fsmount", true, minus(-1), 0, 0)
	call("fspick", true, minus(-1), 0, 0)
	call("move_mount", false, minus(-1), 0, minus(-1), 0, 0)
	call("open_tree", true, minus(-1), 0, 0)
	call("mount_setattr", false, minus(-1), 0, 0, 0, 0)
	call("mount", false, 0, 0, 0, 0, 0)
	call("umount2", false, cstr("/nonexistent-probe"), 0)
	call("unshare", false, 0) // no-op if allowed
	call("setns", false, minus(-1), 0)
	call("pivot_root", false, 0, 0)
	call("chroot", false, 0) // NULL path
	call("kexec_load", false, 0, 0, 0, 0)
	call("kexec_file_load", false, minus(-1), minus(-1), 0, 0, 0)
	call("init_module", false, 0, 0, 0)
	call("finit_module", false, minus(-1), 0, 0)
	call("delete_module", false, 0, 0)
	call("ptrace", false, 12, 999999999, 0, 0) // PTRACE_GETREGS on a missing pid
	call("process_vm_readv", false, pid, 0, 0, 0, 0, 0)
	call("process_vm_writev", false, pid, 0, 0, 0, 0, 0)
	call("kcmp", false, pid, pid, 0, 0, 0) // KCMP_FILE fd 0 vs fd 0
	call("pidfd_getfd", true, minus(-1), 0, 0)
	call("modify_ldt", false, 0, 0, 0)                                    // read 0 bytes
	call("iopl", false, 0)                                                // no-op level
	call("syslog", false, 10, 0, 0)                                       // SYSLOG_ACTION_SIZE_BUFFER
	call("clone(CLONE_NEWUSER)", false, cloneNewUser|cloneFS, 0, 0, 0, 0) // EINVAL (NEWUSER|FS) if it reaches the kernel
	call("clone3", false, 0, 0)                                           // NULL args: EINVAL if it reaches the kernel

	// personality: querying (0xffffffff) is allowed; ADDR_NO_RANDOMIZE is not.
	if n, ok := nr["personality"]; ok {
		old, _, _ := syscall.Syscall(n, 0xffffffff, 0, 0)
		r, _, e := syscall.Syscall(n, addrNoRandom, 0, 0)
		report("personality(ADDR_NO_RANDOMIZE)", r, e, false)
		if e == 0 {
			syscall.Syscall(n, old, 0, 0) // restore
		}
		r, _, e = syscall.Syscall(n, 0xffffffff, 0, 0)
		report("personality(query)", r, e, false)
	}
}

func socketProbes() {
	for _, s := range []struct {
		name              string
		domain, typ, prot int
	}{
		{"socket(AF_VSOCK)", 40, syscall.SOCK_STREAM, 0},
		{"socket(AF_ALG)", 38, syscall.SOCK_SEQPACKET, 0},
		{"socket(AF_PACKET)", 17, syscall.SOCK_DGRAM, 0},
		{"socket(AF_BLUETOOTH)", 31, syscall.SOCK_SEQPACKET, 0},
		{"socket(AF_KEY)", 15, syscall.SOCK_RAW, 2},
		{"socket(AF_DECnet)", 12, syscall.SOCK_SEQPACKET, 0},
		{"socket(AF_CAIF)", 37, syscall.SOCK_SEQPACKET, 0},
		{"socket(AF_UNIX)", syscall.AF_UNIX, syscall.SOCK_STREAM, 0},
		{"socket(AF_INET)", syscall.AF_INET, syscall.SOCK_DGRAM, 0},
		{"socket(AF_INET6)", syscall.AF_INET6, syscall.SOCK_STREAM, 0},
		{"socket(AF_NETLINK)", syscall.AF_NETLINK, syscall.SOCK_RAW, 0},
	} {
		r, _, e := syscall.RawSyscall(syscall.SYS_SOCKET, uintptr(s.domain), uintptr(s.typ|syscall.SOCK_CLOEXEC), uintptr(s.prot))
		report(s.name, r, e, true)
	}
}

// compatInChild runs each 32-bit ABI probe in a child process of its own.
// Under a profile without 32-bit sub-architectures the kernel kills the
// calling thread ("DENIED <name> killed"); without IA-32 emulation int $0x80
// raises SIGSEGV. Neither must take the probe down.
func compatInChild() {
	if len(compatProbeNames) == 0 {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Printf("BROKEN compat_probes %v\n", err)
		return
	}
	// The children run at once: each one whose thread is killed costs the full timeout.
	outputs := make([]string, len(compatProbeNames))
	var wg sync.WaitGroup
	for i, name := range compatProbeNames {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, exe)
			cmd.Env = append(os.Environ(), childEnv+"=compat:"+name)
			out, err := cmd.Output()
			if len(out) > 0 {
				outputs[i] = string(out)
			} else {
				outputs[i] = fmt.Sprintf("DENIED %s killed (%v)\n", name, err)
			}
		}()
	}
	wg.Wait()
	for _, out := range outputs {
		fmt.Print(out)
	}
}

// compatChild makes one compat probe call on a locked thread. If the kernel
// kills that thread the call never returns, and the timeout reports it.
func compatChild(name string) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread() // the thread dies with the call: never unlock
		r, e, isFD := compatCall(name)
		report(name, r, e, isFD)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		fmt.Printf("DENIED %s killed\n", name)
	}
	os.Exit(0)
}

func featureProbes() {
	feature("goroutines", func() error {
		var wg sync.WaitGroup
		results := make(chan int, 200)
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func(i int) { defer wg.Done(); time.Sleep(time.Millisecond); results <- i }(i)
		}
		wg.Wait()
		close(results)
		sum := 0
		for v := range results {
			sum += v
		}
		if sum != 199*200/2 {
			return fmt.Errorf("sum %d", sum)
		}
		return nil
	})
	feature("tcp_loopback", func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			io.Copy(c, c)
		}()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if string(buf) != "ping" {
			return fmt.Errorf("echo %q", buf)
		}
		return nil
	})
	feature("udp_loopback", func() error {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer pc.Close()
		c, err := net.Dial("udp", pc.LocalAddr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte("x")); err != nil {
			return err
		}
		pc.SetDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 8)
		n, _, err := pc.ReadFrom(buf)
		if err != nil || n != 1 {
			return fmt.Errorf("read %d %v", n, err)
		}
		return nil
	})
	feature("net_interfaces", func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		names := []string{}
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		if len(names) == 0 {
			return errors.New("no interfaces")
		}
		fmt.Printf("INFO interfaces=%s\n", strings.Join(names, ","))
		return nil
	})
	feature("readdir_proc_self", func() error {
		ents, err := os.ReadDir("/proc/self")
		if err != nil {
			return err
		}
		if len(ents) == 0 {
			return errors.New("empty")
		}
		return nil
	})
	feature("sleep", func() error {
		t0 := time.Now()
		time.Sleep(50 * time.Millisecond)
		if d := time.Since(t0); d < 50*time.Millisecond {
			return fmt.Errorf("slept %v", d)
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-time.After(time.Second):
			return errors.New("timer order")
		}
		return nil
	})
	feature("exec_self", func() error {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), childEnv+"=exec")
		out, err := cmd.Output()
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(out)) != "child-ok" {
			return fmt.Errorf("child said %q", out)
		}
		return nil
	})
	feature("tmpfs_write", func() error {
		f, err := os.CreateTemp("/tmp", "probe-*")
		if err != nil {
			return err
		}
		name := f.Name()
		defer os.Remove(name)
		data := bytes.Repeat([]byte("seccomp"), 1024)
		if _, err := f.Write(data); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		f.Close()
		back, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		if !bytes.Equal(back, data) {
			return errors.New("content differs")
		}
		if err := os.Rename(name, name+".moved"); err != nil {
			return err
		}
		name += ".moved"
		return os.Remove(name)
	})
	feature("unix_socket", func() error {
		path := fmt.Sprintf("/tmp/probe-%d.sock", os.Getpid())
		defer os.Remove(path)
		ln, err := net.Listen("unix", path)
		if err != nil {
			return err
		}
		defer ln.Close()
		go func() {
			if c, err := ln.Accept(); err == nil {
				c.Write([]byte("ok"))
				c.Close()
			}
		}()
		c, err := net.Dial("unix", path)
		if err != nil {
			return err
		}
		defer c.Close()
		b, err := io.ReadAll(c)
		if err != nil || string(b) != "ok" {
			return fmt.Errorf("read %q %v", b, err)
		}
		return nil
	})
	feature("pipe", func() error {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		go func() { w.Write([]byte("hello")); w.Close() }()
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil || string(b) != "hello" {
			return fmt.Errorf("%q %v", b, err)
		}
		return nil
	})
	feature("getrandom", func() error {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return err
	})
	feature("signal", func() error {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGUSR1)
		defer signal.Stop(ch)
		if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
			return err
		}
		select {
		case <-ch:
			return nil
		case <-time.After(2 * time.Second):
			return errors.New("no signal")
		}
	})
	feature("alloc_gc", func() error {
		var keep [][]byte
		for i := 0; i < 64; i++ {
			keep = append(keep, make([]byte, 1<<20))
		}
		runtime.GC()
		if len(keep) != 64 {
			return errors.New("lost")
		}
		return nil
	})
}

func feature(name string, fn func() error) {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		if err != nil {
			fmt.Printf("BROKEN %s %s\n", name, strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Printf("WORKS %s\n", name)
		}
	case <-time.After(10 * time.Second):
		fmt.Printf("BROKEN %s timeout\n", name)
	}
}

// Syscall numbers for the probes, per GOARCH.
var sysnums = map[string]map[string]uintptr{
	"amd64": {
		"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
		"bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
		"keyctl": 250, "add_key": 248, "request_key": 249,
		"open_by_handle_at": 304, "name_to_handle_at": 303,
		"fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "move_mount": 429, "open_tree": 428,
		"mount_setattr": 442, "mount": 165, "umount2": 166, "unshare": 272, "setns": 308,
		"pivot_root": 155, "chroot": 161, "kexec_load": 246, "kexec_file_load": 320,
		"init_module": 175, "finit_module": 313, "delete_module": 176,
		"ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "pidfd_getfd": 438,
		"modify_ldt": 154, "iopl": 172, "syslog": 103,
		"clone(CLONE_NEWUSER)": 56, "clone3": 435, "personality": 135,
	},
	"arm64": {
		"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
		"bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
		"keyctl": 219, "add_key": 217, "request_key": 218,
		"open_by_handle_at": 265, "name_to_handle_at": 264,
		"fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "move_mount": 429, "open_tree": 428,
		"mount_setattr": 442, "mount": 40, "umount2": 39, "unshare": 97, "setns": 268,
		"pivot_root": 41, "chroot": 51, "kexec_load": 104, "kexec_file_load": 294,
		"init_module": 105, "finit_module": 273, "delete_module": 106,
		"ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "pidfd_getfd": 438,
		"syslog":               116,
		"clone(CLONE_NEWUSER)": 220, "clone3": 435, "personality": 92,
	},
}
