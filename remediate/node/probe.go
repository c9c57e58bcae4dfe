package node

import (
	"context"
	"net/netip"
)

// Prober asks addr one DNS question; nil when it answers (probe.DNS).
type Prober func(ctx context.Context, addr netip.Addr) error
