package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every
// Linux architecture Go supports, and reading it needs cgo (sysconf).
const clockTicks = 100

// FindProcesses returns the ids of the processes named name (as /proc/<pid>/comm shows
// it), leaving out this process: `telemetryd bench` is itself named telemetryd.
func FindProcesses(name string) []int {
	paths, _ := filepath.Glob("/proc/[0-9]*/comm")
	self := os.Getpid()
	var pids []int
	for _, p := range paths {
		comm, err := os.ReadFile(p)
		if err != nil || strings.TrimSpace(string(comm)) != name {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err == nil && pid != self {
			pids = append(pids, pid)
		}
	}
	return pids
}

// CPUSeconds is the user plus system CPU time the processes used so far.
func CPUSeconds(pids []int) (float64, error) {
	var total float64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, err
		}
		// The command name (field 2) may hold spaces and parentheses: count the fields
		// from the last ')'. utime and stime are fields 14 and 15.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
		}
		utime, err1 := strconv.ParseUint(f[11], 10, 64)
		stime, err2 := strconv.ParseUint(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
		}
		total += float64(utime+stime) / clockTicks
	}
	return total, nil
}

// MaxRSS is the largest resident set of the processes: the peak (VmHWM) where the
// kernel reports it, else the current VmRSS.
func MaxRSS(pids []int) (int64, error) {
	var most int64
	for _, pid := range pids {
		f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return 0, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			key, rest, ok := strings.Cut(sc.Text(), ":")
			if !ok || (key != "VmHWM" && key != "VmRSS") {
				continue
			}
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				most = max(most, kb*1024)
			}
		}
		f.Close()
	}
	return most, nil
}
