package main

import "fmt"

// Guesses 1, 2, 3, ...: out of guesses long before most numbers.
func main() {
	for guess := 1; ; guess++ {
		fmt.Println(guess)
		var answer string
		if _, err := fmt.Scan(&answer); err != nil || answer == "correct" {
			return
		}
	}
}
