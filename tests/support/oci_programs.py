"""Go programs of the OCI backend's tests, each a main.go (one module, standard library only)."""

from __future__ import annotations

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n'

ORDER = """package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	for i := 0; i < 3; i++ {
		fmt.Fprintf(os.Stdout, "out%d\\n", i)
		time.Sleep(20 * time.Millisecond)
		fmt.Fprintf(os.Stderr, "err%d\\n", i)
		time.Sleep(20 * time.Millisecond)
	}
}
"""

EXIT_3 = 'package main\n\nimport "os"\n\nfunc main() { os.Stdout.WriteString("bye\\n"); os.Exit(3) }\n'

PANIC = 'package main\n\nfunc main() { panic("boom") }\n'

SLEEP = """package main

import (
	"fmt"
	"time"
)

func main() { fmt.Println("sleeping"); time.Sleep(60 * time.Second) }
"""

FLOOD = """package main

import "os"

func main() {
	line := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\\n")
	for {
		os.Stdout.Write(line)
	}
}
"""

MEMORY_BOMB = """package main

import "fmt"

func main() {
	var keep [][]byte
	for i := 1; ; i++ {
		b := make([]byte, 16<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		keep = append(keep, b)
		fmt.Printf("held %d MiB\\n", i*16)
	}
}
"""

THREAD_BOMB = """package main

import (
	"runtime"
	"syscall"
	"time"
)

// Every goroutine holds an OS thread blocked in read(2), so each one needs a new thread.
func main() {
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		panic(err)
	}
	for i := 1; ; i++ {
		go func() {
			runtime.LockOSThread()
			buf := make([]byte, 1)
			_, _ = syscall.Read(p[0], buf)
		}()
		if i%50 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}
"""

#: Burns 300 ms of CPU by its own rusage (however loaded the host), with 48 MiB touched.
BUSY = """package main

import (
	"fmt"
	"syscall"
)

func used() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return (ru.Utime.Nano() + ru.Stime.Nano()) / 1e6
}

func main() {
	b := make([]byte, 48<<20)
	for j := 0; j < len(b); j += 4096 {
		b[j] = 1
	}
	x := 0
	for used() < 300 {
		for i := 0; i < 1000000; i++ {
			x += i
		}
	}
	fmt.Println(len(b), x > 0)
}
"""

#: Prints its interfaces, its routes, then tries the host's loopback listener at the address in argv[1].
NETWORK = """package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	interfaces, _ := net.Interfaces()
	for _, i := range interfaces {
		fmt.Println("interface", i.Name)
	}
	routes, _ := os.ReadFile("/proc/net/route")
	fmt.Println("routes", len(strings.Split(strings.TrimSpace(string(routes)), "\\n"))-1)
	conn, err := net.DialTimeout("tcp", os.Args[1], 2*time.Second)
	if err == nil {
		conn.Close()
		fmt.Println("dial ok")
		return
	}
	fmt.Println("dial failed")
}
"""

#: /tmp takes a file; the root and /sandbox do not.
WRITES = """package main

import (
	"fmt"
	"os"
)

func main() {
	for _, path := range []string{"/tmp/f", "/etc/f", "/sandbox/f"} {
		err := os.WriteFile(path, make([]byte, 1<<20), 0o644)
		fmt.Println(path, err == nil)
	}
}
"""
