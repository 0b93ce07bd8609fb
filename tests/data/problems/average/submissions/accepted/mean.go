package main

import "fmt"

func main() {
	var n int
	fmt.Scan(&n)
	sum := 0.0
	for i := 0; i < n; i++ {
		var x float64
		fmt.Scan(&x)
		sum += x
	}
	fmt.Printf("%.7f\n", sum/float64(n))
}
