package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the scripts' expected output")

func TestMain(m *testing.M) {
	// The scripts run main itself: its signal handling is part of the CLI.
	testscript.Main(m, map[string]func(){"unloop": main})
}

// TestScripts runs the CLI end to end: testdata/script/*.txtar.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup: func(env *testscript.Env) error {
			// The machine's own /etc/unloop/unloop.yaml must not leak in.
			cfg := env.WorkDir + "/.empty-unloop.yaml"
			env.Setenv("UNLOOP_CONFIG", cfg)
			return os.WriteFile(cfg, nil, 0o644)
		},
		Condition: func(cond string) (bool, error) {
			if cond == "hostaddr" {
				return firstHostAddr().IsValid(), nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"hostaddr": hostAddr,
			"waitfor":  waitFor,
			"freeaddr": freeAddr,
			"dbusd":    dbusDaemon,
			// sleep DURATION: a window in which something must not happen
			// (watch applying again), since nothing marks its absence.
			"sleep": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: sleep DURATION")
				}
				d, err := time.ParseDuration(args[0])
				ts.Check(err)
				time.Sleep(d)
			},
			// immutable FILE: chattr +i FILE (the real e2fsprogs tool, on
			// the test's ext4 work folder), undone when the script ends,
			// failed or not, so that its folder can be removed.
			"immutable": chattr("immutable", "i"),
			// appendonly DIR: chattr +a DIR: entries can be added to the
			// folder, none removed; undone as immutable is.
			"appendonly": chattr("appendonly", "a"),
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

// hostaddr VAR: set VAR to an address of this machine's interfaces beyond
// loopback, for a tree that names it; the condition [hostaddr] says there is one.
func hostAddr(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: hostaddr VAR")
	}
	a := firstHostAddr()
	if !a.IsValid() {
		ts.Fatalf("this machine has no address beyond loopback")
	}
	ts.Setenv(args[0], a.String())
}

func firstHostAddr() netip.Addr {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if pn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(pn.IP); ok && ip.Unmap().Is4() && ip.IsGlobalUnicast() {
				return ip.Unmap()
			}
		}
	}
	return netip.Addr{}
}

// dbusd DIR: start a real dbus-daemon, a system bus, listening on
// DIR/run/dbus/system_bus_socket, until the script ends.
// chattr is the script command name FILE: chattr +attr FILE, undone
// (chattr -attr) when the script ends, failed or not.
func chattr(name, attr string) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 1 {
			ts.Fatalf("usage: %s FILE", name)
		}
		f := ts.MkAbs(args[0])
		ts.Check(exec.Command("chattr", "+"+attr, f).Run())
		ts.Defer(func() { exec.Command("chattr", "-"+attr, f).Run() })
	}
}

func dbusDaemon(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: dbusd DIR")
	}
	sock := filepath.Join(ts.MkAbs(args[0]), "run/dbus/system_bus_socket")
	ts.Check(os.MkdirAll(filepath.Dir(sock), 0o755))
	conf := ts.MkAbs(".dbusd-" + filepath.Base(args[0]) + ".conf")
	ts.Check(os.WriteFile(conf, []byte(fmt.Sprintf(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`, sock)), 0o644))
	cmd := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--nopidfile")
	cmd.Stderr = os.Stderr
	ts.Check(cmd.Start())
	ts.Defer(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if fi, err := os.Stat(sock); err == nil && fi.Mode().Type() == os.ModeSocket {
			return
		}
	}
	ts.Fatalf("dbus-daemon did not listen on %s", sock)
}

// waitfor URL REGEXP: get URL until its body matches REGEXP (a running
// unloop watch's /metrics or /healthz), for up to 10 s; the body is stdout.
// With !, until it no longer matches.
func waitFor(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitfor URL REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	var body string
	// 30 s: it returns as soon as the page matches; the scripts run in
	// parallel on 2 cores, and one waited over 10 s once under a load of 16.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(args[0])
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = resp.Status + "\n" + string(b)
		if re.MatchString(body) != neg {
			ts.Stdout().Write([]byte(body))
			return
		}
	}
	ts.Fatalf("waitfor: %s never matched %q (neg %v); last:\n%s", args[0], args[1], neg, body)
}

// freeaddr VAR: sets VAR to a loopback address with a port free now, for a
// --listen: a fixed port would be taken when another checkout's tests run
// at the same time, and waitfor would then read the other one's watch.
func freeAddr(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeaddr VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	ts.Setenv(args[0], ln.Addr().String())
	ts.Check(ln.Close())
}
