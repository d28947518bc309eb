//go:build linux

package spd

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"syscall"
)

// inotifyWatcher signals when the watched file is written, replaced or
// removed. It watches the file's directory with inotify(7), so editors
// that write a new file and rename it over the old one are seen too.
type inotifyWatcher struct {
	c    chan struct{}
	f    *os.File
	done chan struct{}
}

// watchFile watches path with inotify, or by polling its status where
// inotify is unavailable (some sandboxes).
func watchFile(path string) (watcher, error) {
	w, err := watchInotify(path)
	if err != nil {
		return newStatWatcher(path), nil
	}
	return w, nil
}

func watchInotify(path string) (*inotifyWatcher, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	dir, name := filepath.Dir(path), filepath.Base(path)
	const mask = syscall.IN_CLOSE_WRITE | syscall.IN_MOVED_TO | syscall.IN_MOVED_FROM | syscall.IN_DELETE
	if _, err := syscall.InotifyAddWatch(fd, dir, mask); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	// A non-blocking descriptor becomes pollable: Close wakes the reader.
	w := &inotifyWatcher{c: make(chan struct{}, 1), f: os.NewFile(uintptr(fd), "inotify"), done: make(chan struct{})}
	go w.loop(name)
	return w, nil
}

func (w *inotifyWatcher) loop(name string) {
	defer close(w.done)
	buf := make([]byte, 64*(syscall.SizeofInotifyEvent+syscall.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return
		}
		// struct inotify_event: wd, mask, cookie, len (4 bytes each), then
		// len bytes of NUL-padded name.
		for b := buf[:n]; len(b) >= syscall.SizeofInotifyEvent; {
			l := int(binary.NativeEndian.Uint32(b[12:16]))
			if l > len(b)-syscall.SizeofInotifyEvent {
				break
			}
			ev := b[syscall.SizeofInotifyEvent : syscall.SizeofInotifyEvent+l]
			b = b[syscall.SizeofInotifyEvent+l:]
			for len(ev) > 0 && ev[len(ev)-1] == 0 {
				ev = ev[:len(ev)-1]
			}
			if string(ev) == name {
				select {
				case w.c <- struct{}{}:
				default: // a signal is already pending
				}
			}
		}
	}
}

func (w *inotifyWatcher) Events() <-chan struct{} { return w.c }

// Close stops the watcher and waits for its goroutine.
func (w *inotifyWatcher) Close() error {
	err := w.f.Close()
	<-w.done
	return err
}
