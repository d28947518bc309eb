//go:build !linux

package spd

import (
	"os"
	"time"
)

// fileWatcher signals on C when the watched file's size or modification
// time changes, checked every second (no inotify on this system).
type fileWatcher struct {
	C    chan struct{}
	stop chan struct{}
	done chan struct{}
}

func watchFile(path string) (*fileWatcher, error) {
	w := &fileWatcher{C: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		stat := func() (int64, time.Time) {
			fi, err := os.Stat(path)
			if err != nil {
				return -1, time.Time{}
			}
			return fi.Size(), fi.ModTime()
		}
		size, mod := stat()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				s, m := stat()
				if s != size || !m.Equal(mod) {
					size, mod = s, m
					select {
					case w.C <- struct{}{}:
					default:
					}
				}
			}
		}
	}()
	return w, nil
}

// Close stops the watcher and waits for its goroutine.
func (w *fileWatcher) Close() error {
	close(w.stop)
	<-w.done
	return nil
}
