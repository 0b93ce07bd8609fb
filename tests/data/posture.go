// Command posture reports the program's privileges by syscalls, not by /proc alone: gVisor's
// /proc/<pid>/status has no NoNewPrivs and no CapAmb lines (tests/test_hostile.py).
package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"unsafe"
)

func field(path, name string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "err:" + err.Error()
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name+":") {
			return strings.TrimSpace(strings.TrimPrefix(l, name+":"))
		}
	}
	return "absent"
}

func main() {
	fmt.Println("seccomp", field("/proc/self/status", "Seccomp"))
	nnp, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, 39 /* PR_GET_NO_NEW_PRIVS */, 0, 0)
	fmt.Println("no_new_privs", nnp, "errno", int(e))
	amb := 0
	for c := uintptr(0); c < 41; c++ {
		r, _, _ := syscall.RawSyscall6(syscall.SYS_PRCTL, 47 /* PR_CAP_AMBIENT */, 1 /* IS_SET */, c, 0, 0, 0)
		if r == 1 {
			amb++
		}
	}
	fmt.Println("ambient", amb)
	type header struct {
		version uint32
		pid     int32
	}
	type data struct{ eff, perm, inh uint32 }
	h := header{0x20080522, 0} // _LINUX_CAPABILITY_VERSION_3: two data words (capabilities 0-63)
	var d [2]data
	_, _, e = syscall.RawSyscall(syscall.SYS_CAPGET, uintptr(unsafe.Pointer(&h)), uintptr(unsafe.Pointer(&d[0])), 0)
	fmt.Printf("capget %x %x %x %x %x %x errno %d\n", d[0].eff, d[1].eff, d[0].perm, d[1].perm, d[0].inh, d[1].inh, int(e))
}
