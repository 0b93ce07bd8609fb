// A program that never ends: the wall-clock limit stops it (status "timeout").
package main

import "fmt"

func main() {
	fmt.Println("counting forever...")
	n := 0
	for {
		n++
	}
}
