package systemd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// These tests need no node: the parsing of resolved's properties (fed through
// the D-Bus wire format, so the Go types are the ones a real bus gives) and
// the faults a real bus can't be made to show on demand.

type srv struct { // (iiay)
	Ifindex, Family int32
	Addr            []byte
}

type srvEx struct { // (iiayqs)
	Ifindex, Family int32
	Addr            []byte
	Port            uint16
	Name            string
}

// encode puts props in a method reply the way resolved would send it.
func encode(t testing.TB, props map[string]any) []byte {
	body := map[string]dbus.Variant{}
	for k, v := range props {
		body[k] = dbus.MakeVariant(v)
	}
	msg := &dbus.Message{
		Type: dbus.TypeMethodReply,
		Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldReplySerial: dbus.MakeVariant(uint32(1)),
			dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf(body)),
		},
		Body: []any{body},
	}
	var buf bytes.Buffer
	if err := msg.EncodeTo(&buf, binary.LittleEndian); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decode is what a client reads off the wire: the reply's property map.
func decode(b []byte) (map[string]dbus.Variant, bool) {
	msg, err := dbus.DecodeMessage(bytes.NewReader(b))
	if err != nil || len(msg.Body) != 1 {
		return nil, false
	}
	props, ok := msg.Body[0].(map[string]dbus.Variant)
	return props, ok
}

var (
	v4   = []byte{169, 254, 25, 10}
	v6   = netip.MustParseAddr("2001:db8::53").AsSlice()
	none = srvEx{} // resolved's "no current server"
)

func TestParseResolved(t *testing.T) {
	for _, tc := range []struct {
		name    string
		props   map[string]any
		want    *ResolvedState
		wantErr string
	}{
		{
			name: "systemd 252 with Ex properties",
			props: map[string]any{
				"ResolvConfMode":     "stub",
				"DNSStubListener":    "yes",
				"DNS":                []srv{{0, 2, v4}},
				"DNSEx":              []srvEx{{0, 2, v4, 0, ""}, {3, 10, v6, 853, "dns.example"}},
				"CurrentDNSServer":   srv{},
				"CurrentDNSServerEx": srvEx{3, 10, v6, 853, "dns.example"},
				"FallbackDNS":        []srv{},
				"FallbackDNSEx":      []srvEx{},
			},
			want: &ResolvedState{
				ResolvConfMode:  "stub",
				DNSStubListener: "yes",
				DNS: []Server{
					{Addr: netip.MustParseAddr("169.254.25.10")},
					{Ifindex: 3, Addr: netip.MustParseAddr("2001:db8::53"), Port: 853, Name: "dns.example"},
				},
				CurrentDNSServer: &Server{Ifindex: 3, Addr: netip.MustParseAddr("2001:db8::53"), Port: 853, Name: "dns.example"},
			},
		},
		{
			name: "older resolved without Ex or ResolvConfMode",
			props: map[string]any{
				"DNSStubListener":  "udp",
				"DNS":              []srv{{2, 2, v4}},
				"CurrentDNSServer": srv{2, 2, v4},
				"FallbackDNS":      []srv{{0, 10, v6}},
			},
			want: &ResolvedState{
				DNSStubListener:  "udp",
				DNS:              []Server{{Ifindex: 2, Addr: netip.MustParseAddr("169.254.25.10")}},
				CurrentDNSServer: &Server{Ifindex: 2, Addr: netip.MustParseAddr("169.254.25.10")},
			},
		},
		{
			name:  "no current server",
			props: map[string]any{"ResolvConfMode": "uplink", "CurrentDNSServerEx": none},
			want:  &ResolvedState{ResolvConfMode: "uplink"},
		},
		{
			name:    "address of the wrong family",
			props:   map[string]any{"DNS": []srv{{0, 10, v4}}},
			wantErr: "DNS: bad address",
		},
		{
			name:    "address of the wrong length",
			props:   map[string]any{"DNSEx": []srvEx{{0, 2, []byte{1, 2, 3}, 0, ""}}},
			wantErr: "DNSEx: bad address",
		},
		{
			name:    "unknown family",
			props:   map[string]any{"DNS": []srv{{0, 7, v4}}},
			wantErr: "DNS: bad address",
		},
		{
			// unloop never reads FallbackDNS: a value it can't parse must not
			// fail the live read of resolved.
			name:  "FallbackDNS is not read",
			props: map[string]any{"ResolvConfMode": "stub", "FallbackDNS": []srv{{0, 7, v4}}, "FallbackDNSEx": "x"},
			want:  &ResolvedState{ResolvConfMode: "stub"},
		},
		{
			name:    "a list where a struct belongs",
			props:   map[string]any{"CurrentDNSServer": []srv{{0, 2, v4}}},
			wantErr: "CurrentDNSServer: not a struct",
		},
		{
			name:    "a struct of other fields",
			props:   map[string]any{"DNS": []struct{ A, B string }{{"a", "b"}}},
			wantErr: "DNS: 2 fields",
		},
		{
			name:    "ResolvConfMode not a string",
			props:   map[string]any{"ResolvConfMode": uint32(1)},
			wantErr: "ResolvConfMode: want a string",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			props, ok := decode(encode(t, tc.props))
			if !ok {
				t.Fatal("round trip through the wire failed")
			}
			got, err := parseResolved(props)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseResolved(f *testing.F) {
	f.Add(encode(f, map[string]any{
		"ResolvConfMode": "stub", "DNSStubListener": "yes",
		"DNSEx":              []srvEx{{0, 2, v4, 0, ""}, {3, 10, v6, 853, "x"}},
		"CurrentDNSServerEx": srvEx{0, 2, v4, 53, ""},
		"FallbackDNS":        []srv{{0, 10, v6}},
	}))
	f.Add(encode(f, map[string]any{"DNS": []srv{{0, 10, v4}}, "CurrentDNSServer": []srv{}}))
	f.Add(encode(f, map[string]any{"DNS": "x", "CurrentDNSServerEx": srv{}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		props, ok := decode(b)
		if !ok {
			return
		}
		st, err := parseResolved(props)
		if err == nil && st == nil {
			t.Fatal("no state and no error")
		}
	})
}

func TestServerString(t *testing.T) {
	for _, tc := range []struct {
		s    Server
		want string
	}{
		{Server{Addr: netip.MustParseAddr("192.0.2.1")}, "192.0.2.1"},
		{Server{Addr: netip.MustParseAddr("2001:db8::1"), Port: 853}, "[2001:db8::1]:853"},
		{Server{Ifindex: 2, Addr: netip.MustParseAddr("169.254.25.10"), Name: "dns.example"}, "169.254.25.10%2#dns.example"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.s, got, tc.want)
		}
	}
}

func TestDialNoBus(t *testing.T) {
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-socket"))
	c, err := Dial(context.Background())
	if !errors.Is(err, ErrNotRunning) {
		c.Close()
		t.Fatalf("Dial with no socket = %v, want ErrNotRunning", err)
	}
}

func TestDialHonoursDeadline(t *testing.T) {
	// A bus that accepts and then never says a word.
	sock := filepath.Join(t.TempDir(), "mute")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+sock)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	c, err := Dial(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		c.Close()
		t.Fatalf("Dial to a mute bus = %v, want the deadline", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Dial returned after %v, past its 300ms deadline", d)
	}
}
