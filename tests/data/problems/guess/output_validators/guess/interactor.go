// The interactor of a guessing game (Kattis's convention: interactor INPUT ANSWER FEEDBACK_DIR, its stdout the
// solution's stdin and the other way round; exit 42 accepts, 43 rejects). The secret number, 1..1000, is in
// INPUT; each guess gets "lower", "higher" or "correct"; at most 10 guesses.
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
)

func reject(format string, args ...any) {
	message := fmt.Sprintf(format, args...)
	_ = os.WriteFile(filepath.Join(os.Args[3], "judgemessage.txt"), []byte(message), 0o644)
	os.Exit(43)
}

func main() {
	input, err := os.ReadFile(os.Args[1])
	if err != nil {
		os.Exit(1)
	}
	var secret int
	fmt.Sscan(string(input), &secret)
	in := bufio.NewReader(os.Stdin)
	for guesses := 1; guesses <= 10; guesses++ {
		var guess int
		if _, err := fmt.Fscan(in, &guess); err != nil {
			reject("no guess after %d: %v", guesses-1, err)
		}
		switch {
		case guess < secret:
			fmt.Println("higher")
		case guess > secret:
			fmt.Println("lower")
		default:
			fmt.Println("correct")
			os.Exit(42)
		}
	}
	reject("no right guess in 10")
}
