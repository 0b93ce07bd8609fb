// A program that eats memory until the sandbox's memory limit kills it (status "memory_limit").
package main

import "fmt"

func main() {
	var hoard [][]byte
	for mib := 1; ; mib++ {
		block := make([]byte, 1<<20)
		for i := range block {
			block[i] = byte(i)
		}
		hoard = append(hoard, block)
		if mib%16 == 0 {
			fmt.Println("holding", mib, "MiB")
		}
	}
}
