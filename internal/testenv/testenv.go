package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// RequireEnv is the environment variable that turns skips into failures.
const RequireEnv = "IPSEC_REQUIRE_INTEROP"

// Required reports whether missing prerequisites must fail tests.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Need skips (or, under IPSEC_REQUIRE_INTEROP=1, fails) the test when ok is
// false. why says what is missing and how to get it.
func Need(t testing.TB, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if Required() {
		t.Fatalf("%s (required because %s=1)", why, RequireEnv)
	}
	t.Skipf("skipping: %s (set %s=1 to make this a failure)", why, RequireEnv)
}

// NeedRoot requires that the test runs as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	Need(t, os.Geteuid() == 0, "test needs root (network namespaces, TUN devices)")
}

// NeedCommand requires that an executable is on PATH or at an absolute path.
// It returns the resolved path.
func NeedCommand(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Need(t, err == nil, name+" not found; install the Debian package "+pkg)
	return p
}
