//go:build !linux

package spd

func watchFile(path string) (watcher, error) { return newStatWatcher(path), nil }
