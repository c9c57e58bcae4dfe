//go:build !crashtest

package remediate

// crashpoint marks a durable step of apply (journal written, a file replaced,
// a link swapped, a restart issued, the run marked applied). In a normal build
// it does nothing and compiles away; built with -tags crashtest it can kill
// the process there (crashpoint_crashtest.go), so tests can prove that every
// step leaves a node that the next apply or rollback makes whole.
func crashpoint(string) {}
