// Command benchrun runs a command many times and prints, as JSON, each run's
// wall time, exit status and peak memory. It is copied into a booted node so
// that what is measured is the command alone, not the nsenter around it.
//
//	benchrun -n 50 [-want-exit 2] [-until-output TEXT] -- unloop check
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Run is one run of the command.
type Run struct {
	Millis    float64 `json:"ms"`
	Exit      int     `json:"exit"`
	MaxRSSKiB int64   `json:"max_rss_kib"`
	Matched   bool    `json:"matched,omitempty"` // -until-output was seen
}

func main() {
	n := flag.Int("n", 20, "runs")
	warmup := flag.Int("warmup", 2, "runs before the measured ones (page cache, first exec)")
	until := flag.String("until-output", "", "also report whether the output (stdout and stderr) contains this")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "benchrun: no command")
		os.Exit(2)
	}
	var runs []Run
	for i := range *warmup + *n {
		r, err := once(args, *until)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchrun:", err)
			os.Exit(1)
		}
		if i >= *warmup {
			runs = append(runs, r)
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(runs); err != nil {
		os.Exit(1)
	}
}

func once(args []string, until string) (Run, error) {
	cmd := exec.Command(args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	r := Run{Millis: float64(time.Since(start).Microseconds()) / 1000}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Exit = ee.ExitCode()
	default:
		return r, err
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.MaxRSSKiB = ru.Maxrss
	}
	if until != "" {
		r.Matched = bytes.Contains(out.Bytes(), []byte(until))
	}
	return r, nil
}
