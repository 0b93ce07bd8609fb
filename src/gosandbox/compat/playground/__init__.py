"""The Go Playground's API: /compile, /fmt, /share and its result events."""
