// The examples menu: the origin's three (hello, a timeout, a memory kill), then what our playground
// adds: several files, tests with a benchmark, goroutines, stdin.

/** @typedef {{title: string, files: Array<[string, string]>, stdin?: string, bench?: boolean}} Example */

/** @type {Example[]} */
export const EXAMPLES = [
  {
    title: "Hello, world",
    files: [["main.go", 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("Hello from a gosandbox sandbox!")\n}\n']],
  },
  {
    title: "Endless loop (timeout)",
    files: [["main.go", '// A program that never ends: the wall-clock limit stops it (status "timeout").\npackage main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("counting forever...")\n\tn := 0\n\tfor {\n\t\tn++\n\t}\n}\n']],
  },
  {
    title: "Memory hog (memory limit)",
    files: [["main.go", '// A program that eats memory until the memory limit kills it (status "memory_limit").\npackage main\n\nimport "fmt"\n\nfunc main() {\n\tvar hoard [][]byte\n\tfor mib := 1; ; mib++ {\n\t\tblock := make([]byte, 1<<20)\n\t\tfor i := range block {\n\t\t\tblock[i] = byte(i)\n\t\t}\n\t\thoard = append(hoard, block)\n\t\tif mib%16 == 0 {\n\t\t\tfmt.Println("holding", mib, "MiB")\n\t\t}\n\t}\n}\n']],
  },
  {
    title: "Multi-file package",
    files: [
      ["go.mod", "module example.com/greet\n\ngo 1.27\n"],
      ["main.go", 'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/greet/words"\n)\n\nfunc main() {\n\tfmt.Println(words.Greeting("gopher"))\n}\n'],
      ["words/words.go", '// Package words makes greetings.\npackage words\n\nimport "strings"\n\n// Greeting greets name, capitalised.\nfunc Greeting(name string) string {\n\treturn "Hello, " + strings.ToUpper(name[:1]) + name[1:] + "!"\n}\n'],
    ],
  },
  {
    title: "Tests with a benchmark",
    bench: true,
    files: [
      ["go.mod", "module example.com/calc\n\ngo 1.27\n"],
      ["calc.go", "// Package calc adds.\npackage calc\n\n// Add returns a+b.\nfunc Add(a, b int) int { return a + b }\n"],
      ["calc_test.go", 'package calc\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n\tif got := Add(1, 2); got != 3 {\n\t\tt.Fatalf("Add(1, 2) = %d, want 3", got)\n\t}\n}\n\nfunc TestAddNegative(t *testing.T) {\n\tif got := Add(-1, -2); got != -3 {\n\t\tt.Fatalf("Add(-1, -2) = %d, want -3", got)\n\t}\n}\n\nfunc BenchmarkAdd(b *testing.B) {\n\tfor i := 0; i < b.N; i++ {\n\t\tAdd(i, i)\n\t}\n}\n'],
      ["testdata/cases.txt", "1 2 3\n-1 -2 -3\n"],
    ],
  },
  {
    title: "Goroutines and a channel",
    files: [["main.go", 'package main\n\nimport (\n\t"fmt"\n\t"sync"\n)\n\nfunc main() {\n\tsquares := make(chan int)\n\tvar wg sync.WaitGroup\n\tfor i := 1; i <= 5; i++ {\n\t\twg.Add(1)\n\t\tgo func(n int) {\n\t\t\tdefer wg.Done()\n\t\t\tsquares <- n * n\n\t\t}(i)\n\t}\n\tgo func() {\n\t\twg.Wait()\n\t\tclose(squares)\n\t}()\n\tsum := 0\n\tfor s := range squares {\n\t\tsum += s\n\t}\n\tfmt.Println("sum of squares:", sum)\n}\n']],
  },
  {
    title: "Reading stdin",
    stdin: "gopher\nworld\n",
    files: [["main.go", 'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\tlines := bufio.NewScanner(os.Stdin)\n\tfor lines.Scan() {\n\t\tfmt.Printf("Hello, %s!\\n", lines.Text())\n\t}\n}\n']],
  },
];
