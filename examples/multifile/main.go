// A package of two files with its own go.mod: reads names on stdin, greets each.
package main

import (
	"bufio"
	"fmt"
	"os"
)

func main() {
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		fmt.Println(greet(scanner.Text()))
	}
}
