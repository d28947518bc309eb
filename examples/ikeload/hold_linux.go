package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// holdProcess stops the process (SIGSTOP) and returns once every one of
// its threads is stopped, as /proc shows; release lets it go on
// (SIGCONT). The queued phased load holds the responder this way while
// it queues a window's requests in the responder's socket.
var holdProcess = holdStopped

func holdStopped(pid int) (release func() error, err error) {
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return nil, err
	}
	release = func() error { return syscall.Kill(pid, syscall.SIGCONT) }
	deadline := time.Now().Add(5 * time.Second)
	for {
		stopped, err := allStopped(pid)
		if err != nil || stopped {
			if err != nil {
				release() //nolint:errcheck // reporting the first error
			}
			return release, err
		}
		if time.Now().After(deadline) {
			release() //nolint:errcheck // reporting the first error
			return nil, fmt.Errorf("process %d did not stop within 5 s", pid)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// allStopped reports whether every thread of process pid is in state T
// (stopped) per /proc/pid/task/*/stat.
func allStopped(pid int) (bool, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil {
		return false, err
	}
	if len(tasks) == 0 {
		return false, fmt.Errorf("process %d: no threads in /proc", pid)
	}
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited
		}
		if err != nil {
			return false, err
		}
		// The state follows the command, which is in parentheses and may
		// contain anything.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) {
			return false, fmt.Errorf("%s: cannot parse %q", t, b)
		}
		if b[i+2] != 'T' && b[i+2] != 't' {
			return false, nil
		}
	}
	return true, nil
}

// udpSent returns the UDP datagrams this network namespace has sent so
// far (Udp OutDatagrams in /proc/net/snmp, counted as each leaves its
// sender). A queued window waits for it to grow by the window's responses
// before its sources read them, so that their reading takes nothing from
// the responder while it works; other traffic can only end the wait
// early, which costs nothing but that benefit. The file stays open and is
// read again from its start (pread) into one buffer: the wait reads it
// every few milliseconds while the responder works, and os.ReadFile with
// string parsing cost about 0.1 of a core at that pace.
func udpSent() (uint64, bool) {
	snmp.Lock()
	defer snmp.Unlock()
	if snmp.f == nil {
		f, err := os.Open("/proc/net/snmp")
		if err != nil {
			return 0, false
		}
		snmp.f = f
	}
	n, err := snmp.f.ReadAt(snmp.buf[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, false
	}
	return parseUDPSent(snmp.buf[:n])
}

var snmp struct {
	sync.Mutex
	f   *os.File
	buf [16 << 10]byte
}

// parseUDPSent finds OutDatagrams in the text of /proc/net/snmp: a "Udp:"
// line of names, then a "Udp:" line of values.
func parseUDPSent(b []byte) (uint64, bool) {
	var names [][]byte
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		if len(f) < 2 || string(f[0]) != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if string(n) == "OutDatagrams" && i < len(f) {
				v, err := strconv.ParseUint(string(f[i]), 10, 64)
				return v, err == nil
			}
		}
		return 0, false
	}
	return 0, false
}
