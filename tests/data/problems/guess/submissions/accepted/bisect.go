package main

import "fmt"

// Binary search over 1..1000: at most 10 guesses.
func main() {
	low, high := 1, 1000
	for {
		guess := (low + high) / 2
		fmt.Println(guess)
		var answer string
		if _, err := fmt.Scan(&answer); err != nil {
			return
		}
		switch answer {
		case "higher":
			low = guess + 1
		case "lower":
			high = guess - 1
		default:
			return
		}
	}
}
