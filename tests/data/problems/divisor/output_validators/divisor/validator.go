// A Kattis output validator: accepts any divisor d of N with 1 < d < N, whatever the answer file says.
// Called as: validator INPUT ANSWER FEEDBACK_DIR < team_output; exit 42 accepts, 43 rejects.
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

func reject(feedbackDir, format string, args ...any) {
	message := fmt.Sprintf(format, args...)
	_ = os.WriteFile(filepath.Join(feedbackDir, "judgemessage.txt"), []byte(message), 0o644)
	os.Exit(43)
}

func main() {
	input, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Println("cannot open the input:", err)
		os.Exit(1)
	}
	var n, d int
	fmt.Fscan(input, &n)
	if _, err := fmt.Fscan(os.Stdin, &d); err != nil {
		reject(os.Args[3], "no number in the output")
	}
	if d <= 1 || d >= n || n%d != 0 {
		reject(os.Args[3], "%d is not a proper divisor of %d", d, n)
	}
	os.Exit(42)
}
