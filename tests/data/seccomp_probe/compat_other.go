//go:build !amd64

package main

const hasCompat = false

func compatProbes() {}
