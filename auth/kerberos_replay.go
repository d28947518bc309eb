package auth

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The acceptor's replay cache (RFC 4120 section 3.2.3) can live in a file,
// so that an AP-REQ captured before a restart is still refused after it.
// The file is a log of lines "<forget-after unix nanoseconds> <quoted key>",
// appended and synced before Accept answers; at start-up the live entries
// are read back and the file is rewritten with only those (written to a
// temporary file and renamed, so a crash leaves the old file or the new
// one). A torn last line from a crash is ignored. A line that is not torn
// but does not parse makes NewKerberosAcceptor fail: the cache's contents
// would otherwise be silently lost.

// maxReplayFileLine bounds one line of the file (a principal name is at
// most a few hundred octets).
const maxReplayFileLine = 4096

type replayFile struct {
	path string
	f    *os.File
	// lines written since the last compaction; the file is compacted when
	// it holds more than twice the live entries.
	lines int
}

// openReplayFile loads the live entries (those not forgotten by now) into
// m, rewrites the file with only them, and opens it for appending.
func openReplayFile(path string, m map[string]time.Time, now time.Time) (*replayFile, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("auth: kerberos replay cache: %w", err)
	}
	text := string(data)
	complete := strings.HasSuffix(text, "\n") || text == ""
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for i, line := range lines {
		if line == "" {
			continue
		}
		until, key, err := parseReplayLine(line)
		if err != nil {
			if i == len(lines)-1 && !complete {
				break // torn by a crash while appending
			}
			return nil, fmt.Errorf("auth: kerberos replay cache %s:%d: %v", path, i+1, err)
		}
		if now.Before(until) || now.Equal(until) {
			m[key] = until
		}
	}
	r := &replayFile{path: path}
	if err := r.rewrite(m); err != nil {
		return nil, err
	}
	return r, nil
}

func parseReplayLine(line string) (time.Time, string, error) {
	ns, quoted, ok := strings.Cut(line, " ")
	if !ok || len(line) > maxReplayFileLine {
		return time.Time{}, "", errors.New("malformed entry")
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("malformed time %q", ns)
	}
	key, err := strconv.Unquote(quoted)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("malformed key %s", quoted)
	}
	return time.Unix(0, n), key, nil
}

func appendReplayLine(b []byte, key string, until time.Time) []byte {
	b = strconv.AppendInt(b, until.UnixNano(), 10)
	b = append(b, ' ')
	b = strconv.AppendQuote(b, key)
	return append(b, '\n')
}

// rewrite replaces the file with the entries of m and reopens it for
// appending.
func (r *replayFile) rewrite(m map[string]time.Time) error {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(r.path), filepath.Base(r.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("auth: kerberos replay cache: %w", err)
	}
	w := bufio.NewWriter(tmp)
	var line []byte
	for key, until := range m {
		line = appendReplayLine(line[:0], key, until)
		w.Write(line)
	}
	err = w.Flush()
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), r.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("auth: kerberos replay cache: %w", err)
	}
	r.f, err = os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("auth: kerberos replay cache: %w", err)
	}
	r.lines = len(m)
	return nil
}

// add appends one entry and syncs it to disk; m is the cache after the
// addition, used when the file is due for compaction.
func (r *replayFile) add(key string, until time.Time, m map[string]time.Time) error {
	if r.lines > 2*len(m)+1024 {
		return r.rewrite(m)
	}
	if _, err := r.f.Write(appendReplayLine(nil, key, until)); err != nil {
		return fmt.Errorf("auth: kerberos replay cache: %w", err)
	}
	r.lines++
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("auth: kerberos replay cache: %w", err)
	}
	return nil
}
