package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	// The scripts run main itself: its signal handling is part of the CLI.
	testscript.Main(m, map[string]func(){"unloop": main})
}

// TestScripts runs the CLI end to end: testdata/script/*.txtar.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			// The machine's own /etc/unloop/unloop.yaml must not leak in.
			cfg := env.WorkDir + "/.empty-unloop.yaml"
			env.Setenv("UNLOOP_CONFIG", cfg)
			return os.WriteFile(cfg, nil, 0o644)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// exits N CMD ARGS...: run CMD and require exit status N.
			// closedout N CMD ARGS...: run CMD with stdout and stderr a pipe
			// whose reader is gone (| head, a dropped SSH session) before CMD
			// starts, and require exit status N.
			"closedout": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: closedout N command [args...]")
				}
				want, err := strconv.Atoi(args[0])
				ts.Check(err)
				prog := ""
				for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
					if fi, err := os.Stat(filepath.Join(dir, args[1])); err == nil && !fi.IsDir() {
						prog = filepath.Join(dir, args[1])
						break
					}
				}
				if prog == "" {
					ts.Fatalf("closedout: %s not found", args[1])
				}
				r, w, err := os.Pipe()
				ts.Check(err)
				ts.Check(r.Close())
				cmd := exec.Command(prog, args[2:]...)
				cmd.Dir = ts.Getenv("WORK")
				cmd.Env = append(os.Environ(), "UNLOOP_CONFIG="+ts.Getenv("UNLOOP_CONFIG"))
				cmd.Stdout, cmd.Stderr = w, w
				err = cmd.Run()
				w.Close()
				got := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					got = ee.ExitCode()
					if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
						ts.Fatalf("%s was killed by %v", args[1], st.Signal())
					}
				} else if err != nil {
					ts.Fatalf("closedout: %v", err)
				}
				if got != want {
					ts.Fatalf("%s exited %d, want %d", args[1], got, want)
				}
			},
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: exits N command [args...]")
				}
				want, err := strconv.Atoi(args[0])
				if err != nil {
					ts.Fatalf("exits: %v", err)
				}
				err = ts.Exec(args[1], args[2:]...)
				got := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					got = ee.ExitCode()
				} else if err != nil {
					ts.Fatalf("exits: %v", err)
				}
				if got != want {
					ts.Fatalf("%s exited %d, want %d", args[1], got, want)
				}
			},
		},
	})
}
