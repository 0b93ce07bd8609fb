//go:build !amd64

package main

import "syscall"

var compatProbeNames []string

func compatCall(string) (uintptr, syscall.Errno, bool) { return 0, syscall.ENOSYS, false }
