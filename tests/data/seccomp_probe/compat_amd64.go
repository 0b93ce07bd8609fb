package main

import (
	"encoding/binary"
	"syscall"
	"unsafe"
)

// Probes of the 32-bit ABIs an amd64 process can still reach: i386 through
// int $0x80, and x32 through syscall numbers with bit 30 set. Each runs in its
// own child process (see compatInChild).
var compatProbeNames = []string{
	"i386_getpid",
	"i386_socketcall(AF_VSOCK)",
	"i386_socket(AF_VSOCK)",
	"i386_io_uring_setup",
	"x32_socket(AF_VSOCK)",
	"x32_io_uring_setup",
}

// int80 makes a 32-bit (i386 ABI) system call through int $0x80.
func int80(trap, a1, a2, a3 uintptr) uintptr

// errno32 splits an i386 return value into result and errno.
func errno32(r uintptr) (uintptr, syscall.Errno) {
	if v := int32(uint32(r)); v < 0 {
		return 0, syscall.Errno(-v)
	}
	return uintptr(uint32(r)), 0
}

// compatCall makes one probe call. A returned descriptor is closed by report.
func compatCall(name string) (r uintptr, e syscall.Errno, isFD bool) {
	const x32 = 0x40000000
	switch name {
	case "i386_getpid":
		r, e = errno32(int80(20, 0, 0, 0))
		return r, e, false
	case "i386_socketcall(AF_VSOCK)":
		// socketcall reads its arguments through a pointer, which must be below 4 GiB.
		mem, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE,
			syscall.MAP_PRIVATE|syscall.MAP_ANON|0x40 /* MAP_32BIT */)
		if err != nil {
			return 0, err.(syscall.Errno), false
		}
		binary.LittleEndian.PutUint32(mem[0:], 40)                                          // AF_VSOCK
		binary.LittleEndian.PutUint32(mem[4:], 1)                                           // SOCK_STREAM
		r, e = errno32(int80(102, 1 /* SYS_SOCKET */, uintptr(unsafe.Pointer(&mem[0])), 0)) // socketcall
		return r, e, true
	case "i386_socket(AF_VSOCK)":
		r, e = errno32(int80(359, 40, 1, 0))
		return r, e, true
	case "i386_io_uring_setup":
		var params [120]byte
		// The pointer may be above 4 GiB and get truncated: EFAULT then still means "reached the kernel".
		r, e = errno32(int80(425, 1, uintptr(unsafe.Pointer(&params[0])), 0))
		return r, e, true
	case "x32_socket(AF_VSOCK)":
		r, _, e = syscall.RawSyscall(x32|41, 40, 1, 0)
		return r, e, true
	case "x32_io_uring_setup":
		var params [120]byte
		r, _, e = syscall.RawSyscall(x32|425, 1, uintptr(unsafe.Pointer(&params[0])), 0)
		return r, e, true
	}
	return 0, syscall.EINVAL, false
}
