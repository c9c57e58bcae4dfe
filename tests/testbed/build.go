// Package testbed is what the real-node test packages (tests/e2e,
// tests/configs, tests/reliability) share: the binaries they build once per
// run, a network the node is joined to with a real upstream DNS server on the
// far side, and running commands in a node (tests/node) with their exit
// status. What one package alone does stays in that package.
package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A Binary is a program a test package builds once for its run.
type Binary struct {
	Name  string   // its file name in the bin folder
	Pkg   string   // its import path; cmd/unloop when empty
	Flags []string // more `go build` flags: -tags, -ldflags
}

const (
	unloopPkg   = "github.com/unloop/unloop/cmd/unloop"
	testsModule = "github.com/unloop/unloop/tests"
)

// productDir is the product module's folder (tests/go.mod replaces it with ../).
func productDir() string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/unloop/unloop").Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "finding the unloop module: %v\n", err)
		os.Exit(1)
	}
	return strings.TrimSpace(string(out))
}

// Build builds bins into a new temporary folder, named for the test package
// pkg, and returns the folder. They are built as `make build` builds what
// ships: static (CGO_ENABLED=0, so a node of any release runs them) and
// -trimpath. It is for TestMain, where there is no test to fail: a failed
// build prints go's output and exits 1.
func Build(pkg string, bins ...Binary) string {
	dir, err := os.MkdirTemp("", "unloop-"+pkg+"-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, b := range bins {
		if b.Pkg == "" {
			b.Pkg = unloopPkg
		}
		args := append([]string{"build", "-trimpath", "-o", filepath.Join(dir, b.Name)}, b.Flags...)
		build := exec.Command("go", append(args, b.Pkg)...)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		// tests/ is a module of its own: what ships is built in the product's
		// module, with the product's go.mod and go.sum, as `make build` does.
		if !strings.HasPrefix(b.Pkg, testsModule+"/") {
			build.Dir = productDir()
		}
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b.Name, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	return dir
}

// Run runs the tests, removes binDir (Build's folder) and returns the
// tests' exit status for os.Exit.
func Run(m *testing.M, binDir string) int {
	code := m.Run()
	os.RemoveAll(binDir)
	return code
}
