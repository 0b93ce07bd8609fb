package main

// Trimming the build cache: the go command trims its cache only of entries unused for five days, so a busy
// server's cache volume grows without bound. A trim request removes the least recently used entries (the go
// command refreshes an entry's mtime when it uses it, at most hourly) until the cache is at 3/4 of its cap.
// A removed entry is a cache miss for the next build that wants it, nothing more.

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

type trimRequest struct {
	Dir      string `json:"dir"`
	MaxBytes int64  `json:"max_bytes"`
}

type cacheEntry struct {
	path  string
	size  int64
	mtime time.Time
}

func trimCache(r trimRequest) buildAnswer {
	started := time.Now()
	if !filepath.IsAbs(r.Dir) || r.MaxBytes <= 0 {
		return buildAnswer{Exit: 125, Output: []byte("gosandbox-agent: bad trim request\n")}
	}
	var entries []cacheEntry
	var total int64
	_ = filepath.WalkDir(r.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Dir(filepath.Dir(path)) != filepath.Clean(r.Dir) {
			return nil // only the entries in the cache's two-hex-digit directories (not README, trim.txt)
		}
		info, err := d.Info()
		if err == nil {
			entries = append(entries, cacheEntry{path, info.Size(), info.ModTime()})
			total += info.Size()
		}
		return nil
	})
	before, removed := total, 0
	if total > r.MaxBytes {
		sort.Slice(entries, func(i, j int) bool { return entries[i].mtime.Before(entries[j].mtime) })
		for _, entry := range entries {
			if total <= r.MaxBytes*3/4 {
				break
			}
			if os.Remove(entry.path) == nil {
				total -= entry.size
				removed++
			}
		}
	}
	report := fmt.Sprintf("%d %d %d\n", before, total, removed) // bytes before, bytes after, entries removed
	return buildAnswer{Output: []byte(report), Path: "trim", Ms: time.Since(started).Milliseconds()}
}
