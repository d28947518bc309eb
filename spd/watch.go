package spd

import (
	"os"
	"time"
)

// watcher signals on Events when a watched file may have changed.
type watcher interface {
	Events() <-chan struct{}
	Close() error
}

// statWatcher signals when the file's size or modification time changes,
// checked every second: the fallback where inotify is not available.
type statWatcher struct {
	c    chan struct{}
	stop chan struct{}
	done chan struct{}
}

func newStatWatcher(path string) *statWatcher {
	w := &statWatcher{c: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	stat := func() (int64, time.Time) {
		fi, err := os.Stat(path)
		if err != nil {
			return -1, time.Time{}
		}
		return fi.Size(), fi.ModTime()
	}
	// The state to compare with is taken before returning, so a change
	// made right after is seen.
	size, mod := stat()
	go func() {
		defer close(w.done)
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
					case w.c <- struct{}{}:
					default:
					}
				}
			}
		}
	}()
	return w
}

func (w *statWatcher) Events() <-chan struct{} { return w.c }

// Close stops the watcher and waits for its goroutine.
func (w *statWatcher) Close() error {
	close(w.stop)
	<-w.done
	return nil
}
