package main

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"unsafe"
)

const hasCompat = true

// int80 makes a 32-bit (i386 ABI) system call through int $0x80.
func int80(trap, a1, a2, a3 uintptr) uintptr

func report32(name string, r uintptr) {
	v := int32(uint32(r))
	if v < 0 {
		report(name, 0, syscall.Errno(-v), false)
		return
	}
	report(name, uintptr(v), 0, false)
	if v > 2 && name != "i386_getpid" {
		int80(6, uintptr(v), 0, 0) // i386 close
	}
}

// compatProbes checks that the socket domain filter cannot be bypassed
// through the i386 socketcall(2) multiplexer or the x32 ABI.
func compatProbes() {
	report32("i386_getpid", int80(20, 0, 0, 0))
	// socketcall's arguments are read through a pointer: it must be below 4 GiB.
	mem, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|0x40 /* MAP_32BIT */)
	if err != nil {
		fmt.Printf("BROKEN compat_mmap32 %v\n", err)
		return
	}
	for _, p := range []struct {
		name   string
		domain uint32
		typ    uint32
	}{{"AF_VSOCK", 40, 1}, {"AF_ALG", 38, 5}, {"AF_INET", 2, 2}} {
		binary.LittleEndian.PutUint32(mem[0:], p.domain)
		binary.LittleEndian.PutUint32(mem[4:], p.typ)
		binary.LittleEndian.PutUint32(mem[8:], 0)
		report32("i386_socketcall("+p.name+")", int80(102, 1 /* SYS_SOCKET */, uintptr(unsafe.Pointer(&mem[0])), 0))
		report32("i386_socket("+p.name+")", int80(359, uintptr(p.domain), uintptr(p.typ), 0))
	}
	r, _, e := syscall.RawSyscall(0x40000000|41, 40, 1, 0) // x32 socket(AF_VSOCK)
	report("x32_socket(AF_VSOCK)", r, e, true)
	r, _, e = syscall.RawSyscall(0x40000000|425, 1, 0, 0) // x32 io_uring_setup
	report("x32_io_uring_setup", r, e, true)
}
