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


def cpu_burner(ms: int, touch_mib: int = 0) -> str:
    """A program that burns ``ms`` of CPU by its own rusage (however loaded the host), after touching
    ``touch_mib`` MiB, then prints what it used (or the bytes it touched) and that it computed something."""
    touch = f"\tb := make([]byte, {touch_mib}<<20)\n\tfor j := 0; j < len(b); j += 4096 {{\n\t\tb[j] = 1\n\t}}\n"
    shown = "len(b)" if touch_mib else "used()"
    return (
        'package main\n\nimport (\n\t"fmt"\n\t"syscall"\n)\n\n'
        "func used() int64 {\n\tvar ru syscall.Rusage\n\t_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)\n"
        "\treturn (ru.Utime.Nano() + ru.Stime.Nano()) / 1e6\n}\n\n"
        f"func main() {{\n{touch if touch_mib else ''}\tx := 0\n\tfor used() < {ms} {{\n"
        "\t\tfor i := 0; i < 1000000; i++ {\n\t\t\tx += i\n\t\t}\n\t}\n"
        f"\tfmt.Println({shown}, x > 0)\n}}\n"
    )


#: Burns 300 ms of CPU by its own rusage (however loaded the host), with 48 MiB touched.
BUSY = cpu_burner(300, touch_mib=48)

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
