package krbtest

import (
	"os/exec"
	"syscall"
)

// SetPdeathsig makes the kernel send SIGTERM to a helper process (krb5kdc,
// gss-server, gss-client) if the test binary dies, so that a timed-out or
// crashed test leaves nothing running.
func SetPdeathsig(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
}
