//go:build !crashtest

package cmapply

// hook marks the moment between the plan's read of a ConfigMap and its
// update; it does nothing but in the crashtest build (hook_crashtest.go).
func hook(string) {}
