package resolvconf

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/unloop/unloop/hostcfg"
)

// WithoutServers returns the resolv.conf data of file without the
// nameserver lines of put (addresses without a zone), and with clean as
// nameserver lines when none would be left, as a manager (resolved,
// NetworkManager) writes the file once it drops them.
func WithoutServers(file string, data []byte, put, clean []string) ([]byte, error) {
	conf, err := Parse(file, data)
	if err != nil {
		return nil, err
	}
	var lines []int
	for _, ns := range conf.Nameservers {
		if slices.Contains(put, ns.Addr.WithZone("").String()) {
			lines = append(lines, ns.Line)
		}
	}
	out := RemoveLines(data, lines)
	if len(lines) == len(conf.Nameservers) {
		for _, s := range clean {
			out = append(out, "nameserver "+s+"\n"...)
		}
	}
	return out, nil
}

// WaitWithout waits, until ctx's deadline, for file (read in root) to name
// none of looping (addresses without a zone): a manager rewrites its file
// after the reload call that asked it returned. The error names what is
// left and after what (the reload).
func WaitWithout(ctx context.Context, root *hostcfg.Root, file, after string, looping []string) error {
	return waitWithout(ctx, root, file, after, looping, false)
}

// WaitNamesWithout is WaitWithout that also waits for file to name a
// server: a file of none is no fix (NetworkManager's dns=dnsmasq made
// dns=default).
func WaitNamesWithout(ctx context.Context, root *hostcfg.Root, file, after string, looping []string) error {
	return waitWithout(ctx, root, file, after, looping, true)
}

func waitWithout(ctx context.Context, root *hostcfg.Root, file, after string, looping []string, named bool) error {
	for {
		left, err := names(root, file, looping)
		if err == nil && len(left) == 0 && named {
			if all, _ := names(root, file, nil); len(all) == 0 {
				err = fmt.Errorf("%s names no server after %s", file, after)
			}
		}
		if err == nil && len(left) == 0 {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("%s still names %s after %s", file, strings.Join(left, ", "), after)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// names are the servers of looping (every server when nil) that file's
// nameserver lines name.
func names(root *hostcfg.Root, file string, looping []string) ([]string, error) {
	data, _, err := root.ReadFileIfExists(file)
	if err != nil {
		return nil, err
	}
	var left []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		if a, err := netip.ParseAddr(f[1]); err == nil && (looping == nil || slices.Contains(looping, a.WithZone("").String())) {
			left = append(left, f[1])
		}
	}
	return left, nil
}
