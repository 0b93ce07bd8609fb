package main

import (
	"fmt"

	"example.com/rich/sub"
)

type T struct{ a, b int }

type Big struct{ arr [1 << 10]int }

func newT() *T {
	return &T{1, 2}
}

func add(a, b int) int { return a + b }

func sum(s []int) int {
	t := 0
	for i := range s {
		t += s[i]
	}
	return t
}

func next(s []int, i int) int { return s[i+1] }

func counter() func() int {
	n := 0
	return func() int { n++; return n }
}

func keep(p *int) *int { return p }

func window(s []int, i, j int) []int { return s[i:j] }

func field(b *Big, i int) int { return b.arr[i&1023] }

func addr(b *Big) *int { return &b.arr[5] }

//go:noinline
func noInline(x int) int { return x * 2 }

func rec(n int) int {
	if n == 0 {
		return 0
	}
	return rec(n-1) + 1
}

func main() {
	s := []int{1, 2, 3}
	c := counter()
	x := 7
	var b Big
	fmt.Println(add(1, 2), newT(), sum(s), next(s, 0), c(), keep(&x), window(s, 0, 2))
	fmt.Println(field(&b, 1), addr(&b), noInline(3), rec(3), sub.Double(4))
}
