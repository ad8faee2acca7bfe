//go:build faultinject

package main

import (
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
)

// crashAfterInserts returns, when TELEMETRYD_FAULT_CRASH_AFTER_INSERTS=n is set, a hook
// that SIGKILLs the process right after its n-th batch INSERT, before the acks: the
// fault tests' way to crash a worker in that window. Only a binary built with
// -tags faultinject (the fault tests build theirs so) has it; unset, it returns nil.
func crashAfterInserts(lookup func(string) (string, bool)) func() {
	v, ok := lookup("TELEMETRYD_FAULT_CRASH_AFTER_INSERTS")
	n, err := strconv.Atoi(v)
	if !ok || err != nil || n < 1 {
		return nil
	}
	var done atomic.Int64
	return func() {
		if done.Add(1) == int64(n) {
			// A real SIGKILL, as the OOM killer or kill -9 would send: no deferred
			// function, flush or shutdown hook runs.
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is delivered asynchronously; never return to ack
		}
	}
}
