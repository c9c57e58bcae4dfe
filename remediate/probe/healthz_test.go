package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHTTPHealthz(t *testing.T) {
	status, body := http.StatusOK, "ok"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := net.SplitHostPort(addr)
	if err := HTTPHealthz(context.Background(), addr); err != nil {
		t.Errorf("healthy: %v", err)
	}
	// kubelet bound to every interface is asked on loopback.
	if err := HTTPHealthz(context.Background(), "0.0.0.0:"+port); err != nil {
		t.Errorf("healthzBindAddress 0.0.0.0: %v", err)
	}
	status, body = http.StatusInternalServerError, "[-]syncloop failed"
	if err := HTTPHealthz(context.Background(), addr); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("unhealthy: %v, want the status", err)
	}
}
