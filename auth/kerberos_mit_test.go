//go:build linux

package auth

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipsecgo/ipsec/internal/krbtest"
	"github.com/ipsecgo/ipsec/internal/testenv"
)

// Interoperability with MIT Kerberos' own GSS-API implementation, through
// its sample programs gss-client and gss-server (Debian krb5-gss-samples):
// MIT's initiator against our acceptor, and our initiator against MIT's
// acceptor. The sample protocol frames each token as a flags octet and a
// 4-octet big-endian length (MIT src/appl/gss-sample/gss-misc.c).

// gss-sample token flags.
const (
	gssTokNoop        = 1 << 0
	gssTokContext     = 1 << 1
	gssTokData        = 1 << 2
	gssTokMIC         = 1 << 3
	gssTokContextNext = 1 << 4
	gssTokSendMIC     = 1 << 7
)

func writeSampleToken(w io.Writer, flags byte, tok []byte) error {
	b := make([]byte, 0, 5+len(tok))
	b = append(b, flags)
	b = binary.BigEndian.AppendUint32(b, uint32(len(tok)))
	_, err := w.Write(append(b, tok...))
	return err
}

func readSampleToken(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("token of %d octets", n)
	}
	tok := make([]byte, n)
	if _, err := io.ReadFull(r, tok); err != nil {
		return 0, nil, err
	}
	return hdr[0], tok, nil
}

// TestKerberosMITClientToOurAcceptor runs MIT's gss-client (password login
// for alice, mutual authentication, no wrap, a MIC) against our acceptor on
// 127.0.0.1. gss-client exits 0 only if its gss_init_sec_context accepted
// our AP-REP and its gss_verify_mic accepted our acceptor's MIC token
// (RFC 4121 4.2.6.1) over its message.
func TestKerberosMITClientToOurAcceptor(t *testing.T) {
	gssClient := testenv.NeedCommand(t, "gss-client", "krb5-gss-samples")
	k := startKDC(t)
	acc := k.acceptor(t, k.keytab(t, "server.keytab"), kdcService)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	type result struct {
		session *KerberosSession
		err     error
	}
	done := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		fail := func(err error) { done <- result{err: err} }
		r := bufio.NewReader(c)
		if fl, _, err := readSampleToken(r); err != nil || fl != gssTokNoop|gssTokContextNext {
			fail(fmt.Errorf("first token flags %#x: %v", fl, err))
			return
		}
		fl, tok, err := readSampleToken(r)
		if err != nil || fl != gssTokContext {
			fail(fmt.Errorf("context token flags %#x: %v", fl, err))
			return
		}
		res, err := acc.Accept(tok, time.Now())
		if err != nil {
			fail(fmt.Errorf("our acceptor rejected MIT's AP-REQ: %w", err))
			return
		}
		if err := writeSampleToken(c, gssTokContext, res.APRep); err != nil {
			fail(err)
			return
		}
		// The client now sends its message (plain, -nw) asking for a MIC
		// of it, verifies our MIC with gss_verify_mic (it exits non-zero
		// if that fails), then ends with a NOOP.
		fl, msg, err := readSampleToken(r)
		if err != nil || fl&gssTokData == 0 || fl&gssTokSendMIC == 0 {
			fail(fmt.Errorf("data token flags %#x: %v (the client did not accept our AP-REP)", fl, err))
			return
		}
		mic, err := res.Session.GetMIC(msg, true)
		if err != nil {
			fail(err)
			return
		}
		if err := writeSampleToken(c, gssTokMIC, mic); err != nil {
			fail(err)
			return
		}
		_, _, _ = readSampleToken(r)
		done <- result{session: res.Session}
	}()

	cmd := exec.Command(gssClient, "-port", fmt.Sprint(l.Addr().(*net.TCPAddr).Port),
		"-user", "alice", "-pass", alicePassword, "-nw",
		"127.0.0.1", "host@server.ipsec.test", "hello from MIT")
	cmd.Env = k.Env()
	out, err := runWithTimeout(t, cmd, 60*time.Second)
	if err != nil {
		t.Fatalf("gss-client: %v\n%s", err, out)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("our acceptor side did not finish\ngss-client output:\n%s", out)
	}
	if r.err != nil {
		t.Fatalf("%v\ngss-client output:\n%s", r.err, out)
	}
	if r.session.Client != "alice@"+kdcRealm || len(r.session.Key) == 0 {
		t.Fatalf("session %+v", r.session)
	}
	t.Logf("gss-client output:\n%s", out)
}

// TestKerberosOurInitiatorToMITServer runs MIT's gss-server in inetd mode
// on one end of a socket pair (no network), with the keytab from
// kadmin.local, and sends it our AP-REQ. MIT's gss_accept_sec_context must
// accept it and its AP-REP must pass our ProcessAPRep; MIT's gss_get_mic
// over a message of ours must pass our VerifyMIC.
func TestKerberosOurInitiatorToMITServer(t *testing.T) {
	gssServer := testenv.NeedCommand(t, "gss-server", "krb5-gss-samples")
	k := startKDC(t)
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Non-blocking, so that the runtime poller handles it and deadlines work.
	if err := syscall.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	ours := os.NewFile(uintptr(fds[0]), "ours")
	theirs := os.NewFile(uintptr(fds[1]), "theirs")
	t.Cleanup(func() { ours.Close() })
	logPath := filepath.Join(k.Dir, "gss-server.log")
	rcache := filepath.Join(k.Dir, "rcache")
	if err := os.Mkdir(rcache, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gssServer, "-inetd", "-logfile", logPath, "-keytab", filepath.Join(k.Dir, "server.keytab"), "host@server.ipsec.test")
	cmd.Env = append(k.Env(), "KRB5RCACHEDIR="+rcache)
	cmd.Stdin = theirs
	krbtest.SetPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill() // only the gss-server this test started
			<-exited
		}
	})
	if err := ours.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}

	ini := k.initiator(t, alicePassword)
	ictx, err := ini.InitSecContext(kdcCtx(t), kdcService, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := writeSampleToken(ours, gssTokNoop|gssTokContextNext, nil); err != nil {
		t.Fatal(err)
	}
	if err := writeSampleToken(ours, gssTokContext, ictx.Token); err != nil {
		t.Fatal(err)
	}
	fl, rep, err := readSampleToken(ours)
	if err != nil || fl != gssTokContext {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("no AP-REP from gss-server (flags %#x): %v\nlog:\n%s", fl, err, log)
	}
	s, err := ictx.ProcessAPRep(rep)
	if err != nil {
		t.Fatalf("MIT's AP-REP rejected: %v", err)
	}
	// A plain message asking for a MIC: gss-server answers with
	// gss_get_mic over it, which VerifyMIC must accept, and must refuse
	// for another message or as an initiator's token.
	msg := []byte("HASH_I stand-in from our initiator")
	if err := writeSampleToken(ours, gssTokData|gssTokSendMIC, msg); err != nil {
		t.Fatal(err)
	}
	fl, mic, err := readSampleToken(ours)
	if err != nil || fl != gssTokMIC {
		t.Fatalf("no MIC from gss-server (flags %#x): %v", fl, err)
	}
	if err := s.VerifyMIC(msg, mic, true); err != nil {
		t.Fatalf("MIT's MIC rejected: %v", err)
	}
	if err := s.VerifyMIC(append(msg, '!'), mic, true); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("MIT's MIC over another message: %v", err)
	}
	if err := s.VerifyMIC(msg, mic, false); !errors.Is(err, ErrMalformed) {
		t.Fatalf("MIT's acceptor MIC taken as the initiator's: %v", err)
	}
	if err := writeSampleToken(ours, gssTokNoop, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal("gss-server did not finish")
	}
	// In inetd mode gss-server closes stdout, where it prints the client
	// name; it logs the context flags only after gss_accept_sec_context
	// completed, and sends the AP-REP (verified above) only then.
	log, _ := os.ReadFile(logPath)
	if !strings.Contains(string(log), "context flag: GSS_C_MUTUAL_FLAG") {
		t.Fatalf("gss-server log:\n%s", log)
	}
	if len(s.Key) == 0 {
		t.Fatal("no session key")
	}
	t.Logf("gss-server log:\n%s", log)
}

// runWithTimeout runs cmd and kills it (by PID) if it outlives d.
func runWithTimeout(t *testing.T, cmd *exec.Cmd, d time.Duration) ([]byte, error) {
	t.Helper()
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	krbtest.SetPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := make(chan error, 1)
	go func() { ch <- cmd.Wait() }()
	select {
	case err := <-ch:
		return []byte(buf.String()), err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-ch
		return []byte(buf.String()), errors.New("timed out")
	}
}
