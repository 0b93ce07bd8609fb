package main

import (
	"bufio"
	"fmt"
	"os"
)

// Writes its guess into a buffer it never flushes, then waits for an answer that cannot come.
func main() {
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, 500)
	var answer string
	fmt.Scan(&answer)
	out.Flush()
}
