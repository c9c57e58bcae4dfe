package resolvconf

import (
	"slices"
	"strings"
	"testing"
)

// The readers' own test vectors (data only; the test code is unloop's):
// each file is parsed by unloop, and what unloop sees is compared with what
// that reader sees. Where unloop deliberately differs, the case says why.

// kubeletView is the nameserver values kubelet copies into pods' files: every
// nameserver line's first word, valid or not, in file order.
func kubeletView(rc *Config) []string {
	out := make([]string, len(rc.Nameservers)+len(rc.Invalid))
	for _, ns := range rc.Nameservers {
		out[ns.Order] = ns.Text
	}
	for _, bad := range rc.Invalid {
		out[bad.Order] = bad.Text
	}
	return out
}

// From kubernetes/kubernetes pkg/kubelet/network/dns/dns_test.go,
// TestParseResolvConf (commit 04791b4906602ffda5ccf9bc4c84d3329f1d7080; the
// parser is the same in v1.34).
var kubeletParseVectors = []struct {
	data        string
	nameservers []string
	searches    []string
	options     []string
	isErr       bool
	// optsDiffer: kubelet keeps only the last options line; unloop keeps
	// every word, as glibc reads them all. Options bear on no loop.
	optsDiffer bool
}{
	{"", nil, nil, nil, false, false},
	{" ", nil, nil, nil, false, false},
	{"\n", nil, nil, nil, false, false},
	{"\t\n\t", nil, nil, nil, false, false},
	{"#comment\n", nil, nil, nil, false, false},
	{" #comment\n", nil, nil, nil, false, false},
	{"#comment\n#comment", nil, nil, nil, false, false},
	{"#comment\nnameserver", nil, nil, nil, true, false},
	{"#comment\nnameserver\nsearch", nil, nil, nil, true, false},
	{"#comment\nnameserver 1.2.3.4\nsearch", []string{"1.2.3.4"}, nil, nil, false, false},
	{"nameserver 1.2.3.4", []string{"1.2.3.4"}, nil, nil, false, false},
	{" nameserver 1.2.3.4", []string{"1.2.3.4"}, nil, nil, false, false},
	{"\tnameserver 1.2.3.4", []string{"1.2.3.4"}, nil, nil, false, false},
	{"nameserver\t1.2.3.4", []string{"1.2.3.4"}, nil, nil, false, false},
	{"nameserver \t 1.2.3.4", []string{"1.2.3.4"}, nil, nil, false, false},
	{"nameserver 1.2.3.4\nnameserver 5.6.7.8", []string{"1.2.3.4", "5.6.7.8"}, nil, nil, false, false},
	{"nameserver 1.2.3.4 #comment", []string{"1.2.3.4"}, nil, nil, false, false},
	{"search ", nil, nil, nil, false, false},
	{"search foo", nil, []string{"foo"}, nil, false, false},
	{"search foo bar", nil, []string{"foo", "bar"}, nil, false, false},
	{"search foo. bar", nil, []string{"foo", "bar"}, nil, false, false},
	{"search foo bar bat\n", nil, []string{"foo", "bar", "bat"}, nil, false, false},
	{"search foo\nsearch bar", nil, []string{"bar"}, nil, false, false},
	{"nameserver 1.2.3.4\nsearch foo bar", []string{"1.2.3.4"}, []string{"foo", "bar"}, nil, false, false},
	{"nameserver 1.2.3.4\nsearch foo\nnameserver 5.6.7.8\nsearch bar", []string{"1.2.3.4", "5.6.7.8"}, []string{"bar"}, nil, false, false},
	{"#comment\nnameserver 1.2.3.4\n#comment\nsearch foo\ncomment", []string{"1.2.3.4"}, []string{"foo"}, nil, false, false},
	{"options ", nil, nil, nil, false, false},
	{"options ndots:5 attempts:2", nil, nil, []string{"ndots:5", "attempts:2"}, false, false},
	{"options ndots:1\noptions ndots:5 attempts:3", nil, nil, []string{"ndots:5", "attempts:3"}, false, true},
	{"nameserver 1.2.3.4\nsearch foo\nnameserver 5.6.7.8\nsearch bar\noptions ndots:5 attempts:4", []string{"1.2.3.4", "5.6.7.8"}, []string{"bar"}, []string{"ndots:5", "attempts:4"}, false, false},
}

func TestVectorsKubeletParse(t *testing.T) {
	for i, v := range kubeletParseVectors {
		rc, err := Parse("/etc/resolv.conf", []byte(v.data))
		if v.isErr {
			// kubelet refuses the file ("nameserver list is empty"), so
			// pods with dnsPolicy: Default get no sandbox: unreadable.
			if err == nil {
				t.Errorf("vector %d %q: no error, kubelet refuses the file", i, v.data)
			}
			continue
		}
		if err != nil {
			t.Errorf("vector %d %q: %v", i, v.data, err)
			continue
		}
		if got := kubeletView(rc); !slices.Equal(got, v.nameservers) && !(len(got) == 0 && len(v.nameservers) == 0) {
			t.Errorf("vector %d %q: nameservers %q, kubelet sees %q", i, v.data, got, v.nameservers)
		}
		// kubelet drops a search domain's trailing dot, so that "foo." and
		// "foo" count once against its limits; unloop keeps the words as
		// written (search domains bear on no loop).
		var search []string
		for _, s := range rc.Search {
			search = append(search, strings.TrimSuffix(s, "."))
		}
		if !slices.Equal(search, v.searches) {
			t.Errorf("vector %d %q: search %q, kubelet sees %q", i, v.data, search, v.searches)
		}
		if !v.optsDiffer && !slices.Equal(rc.Options, v.options) {
			t.Errorf("vector %d %q: options %q, kubelet sees %q", i, v.data, rc.Options, v.options)
		}
	}
}

// From glibc resolv/tst-resolv-res_init-skeleton.c, the test_cases table
// (glibc 2.31 and later: it has "trust-ad flag"; read from the bminor/glibc
// mirror). want is the nameservers glibc's stub resolver queries: the first
// 3 valid ones (MAXNS); search is glibc's full search list.
var glibcVectors = []struct {
	name   string
	conf   string
	want   []string
	search []string
	// differs says why unloop sees the file otherwise, "" when it does not.
	differs string
}{
	{"empty file", "", []string{"127.0.0.1"}, nil, emptyGlibc},
	{"empty file, no-dot hostname", "", []string{"127.0.0.1"}, nil, emptyGlibc},
	{"empty file with LOCALDOMAIN", "", []string{"127.0.0.1"}, nil, emptyGlibc},
	{"empty file with RES_OPTIONS", "", []string{"127.0.0.1"}, nil, emptyGlibc},
	{"empty file with RES_OPTIONS and LOCALDOMAIN", "", []string{"127.0.0.1"}, nil, emptyGlibc},
	{"basic", "search corp.example.com example.com\nnameserver 192.0.2.1\n", []string{"192.0.2.1"}, []string{"corp.example.com", "example.com"}, ""},
	{"basic with no-dot hostname", "search corp.example.com example.com\nnameserver 192.0.2.1\n", []string{"192.0.2.1"}, []string{"corp.example.com", "example.com"}, ""},
	{"basic no-reload", "options no-reload\nsearch corp.example.com example.com\nnameserver 192.0.2.1\n", []string{"192.0.2.1"}, []string{"corp.example.com", "example.com"}, ""},
	{"basic no-reload via RES_OPTIONS", "search corp.example.com example.com\nnameserver 192.0.2.1\n", []string{"192.0.2.1"}, []string{"corp.example.com", "example.com"}, ""},
	{"whitespace", "# This test covers comment and whitespace processing  (trailing whitespace,\n# missing newline at end of file).\n\n;search commented out\nsearch corp.example.com\texample.com \n#nameserver 192.0.2.3\nnameserver 192.0.2.1 \nnameserver 192.0.2.2",
		[]string{"192.0.2.1", "192.0.2.2"}, []string{"corp.example.com", "example.com"}, ""},
	{"domain", "domain example.net\nnameserver 192.0.2.1\n", []string{"192.0.2.1"}, []string{"example.net"}, ""},
	{"domain space", "domain example.net \nnameserver 192.0.2.1\n", []string{"192.0.2.1"}, []string{"example.net"}, ""},
	{"domain tab", "domain example.net\t\nnameserver 192.0.2.1\n", []string{"192.0.2.1"}, []string{"example.net"}, ""},
	{"domain override", "search example.com example.org\nnameserver 192.0.2.1\ndomain example.net", []string{"192.0.2.1"}, []string{"example.net"}, ""},
	{"option values, multiple servers", "options\tinet6\tndots:3 edns0\tattempts:5\ttimeout:19\ndomain  example.net\n;domain comment\nsearch corp.example.com\texample.com\nnameserver 192.0.2.1\nnameserver ::1\nnameserver 192.0.2.2\n",
		[]string{"192.0.2.1", "::1", "192.0.2.2"}, []string{"corp.example.com", "example.com"}, ""},
	{"out-of-range option vales", "options use-vc timeout:999 attempts:999 ndots:99\nsearch example.com\n", []string{"127.0.0.1"}, []string{"example.com"}, emptyGlibc},
	{"repeated directives", "options ndots:3 use-vc\noptions edns0 ndots:2\ndomain corp.example\nsearch example.net corp.example.com example.com\nsearch example.org\nsearch\n", []string{"127.0.0.1"}, []string{"example.org"},
		emptyGlibc + "; and a search line without domains empties unloop's list where glibc keeps the last one (search domains bear on no loop)"},
	{"many name servers, sortlist", "options single-request\nsearch example.org example.com example.net corp.example.com\nsortlist 192.0.2.0/255.255.255.0\nnameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\nnameserver 192.0.2.4\nnameserver 192.0.2.5\nnameserver 192.0.2.6\nnameserver 192.0.2.7\nnameserver 192.0.2.8\n",
		[]string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}, []string{"example.org", "example.com", "example.net", "corp.example.com"}, ""},
	{"IPv4 and IPv6 nameservers", "options single-request\nsearch example.org example.com example.net corp.example.com legacy.example.com\nsortlist 192.0.2.0\nnameserver 192.0.2.1\nnameserver 2001:db8::2\nnameserver 192.0.2.3\nnameserver 2001:db8::4\nnameserver 192.0.2.5\nnameserver 2001:db8::6\nnameserver 192.0.2.7\nnameserver 2001:db8::8\n",
		[]string{"192.0.2.1", "2001:db8::2", "192.0.2.3"}, []string{"example.org", "example.com", "example.net", "corp.example.com", "legacy.example.com"}, ""},
	{"garbage after nameserver", "nameserver 192.0.2.1 garbage\nnameserver 192.0.2.2:5353\nnameserver 192.0.2.3 5353\n", []string{"192.0.2.1", "192.0.2.3"}, nil, ""},
	{"RES_OPTIONS is cummulative", "options timeout:7 ndots:2 use-vc\nnameserver 192.0.2.1\n", []string{"192.0.2.1"}, nil, ""},
	{"many search list entries (bug 19569)", "nameserver 192.0.2.1\nsearch corp.example.com support.example.com community.example.org wan.example.net vpn.example.net example.com example.org example.net\n",
		[]string{"192.0.2.1"}, []string{"corp.example.com", "support.example.com", "community.example.org", "wan.example.net", "vpn.example.net", "example.com", "example.org", "example.net"}, ""},
	{"very long search list entries (bug 21475)", "nameserver 192.0.2.1\nsearch example.com " + h63 + "." + d63 + ".example.org " + h63 + "." + d63 + ".example.net\n",
		[]string{"192.0.2.1"}, []string{"example.com", h63 + "." + d63 + ".example.org", h63 + "." + d63 + ".example.net"}, ""},
	{"trust-ad flag", "options trust-ad\nnameserver 192.0.2.1\n", []string{"192.0.2.1"}, nil, ""},
}

const (
	h63 = "this-host-name-is-longer-than-yours-yes-I-really-really-mean-it"
	d63 = "this-domain-name-is-as-long-as-the-previous-name--63-characters"
	// glibc asks 127.0.0.1 when the file names no server; kubelet hands
	// pods no server then, and CoreDNS's forward exits: unloop judges the
	// file by them (nameserver-none), not by glibc's default.
	emptyGlibc = "no nameserver: glibc's default 127.0.0.1 is not in the file"
)

func TestVectorsGlibc(t *testing.T) {
	for _, v := range glibcVectors {
		t.Run(v.name, func(t *testing.T) {
			rc, err := Parse("/etc/resolv.conf", []byte(v.conf))
			if err != nil {
				t.Fatalf("glibc reads the file; unloop: %v", err)
			}
			_, lines, _ := rc.Limit(3)
			var got []string
			for _, ns := range rc.Nameservers {
				if slices.Contains(lines, ns.Line) {
					got = append(got, ns.Addr.String())
				}
			}
			switch {
			case v.differs == "":
				if !slices.Equal(got, v.want) || !slices.Equal(rc.Search, v.search) {
					t.Errorf("unloop sees servers %q search %q; glibc %q %q", got, rc.Search, v.want, v.search)
				}
			case strings.HasPrefix(v.differs, emptyGlibc):
				if len(got) != 0 {
					t.Errorf("unloop sees servers %q in a file that names none", got)
				}
			}
		})
	}
}

// From miekg/dns clientconfig_test.go (v1.1.72): the files of
// TestNameserver, TestMissingFinalNewLine, TestNdots and
// TestClientConfigFromReaderAttempts. CoreDNS's forward reads resolv.conf
// through this parser. Its ndots/attempts clamping is no concern of
// unloop's: it keeps the option words as written and reads the file.
var miekgVectors = []struct {
	data    string
	servers []string
	search  []string
}{
	{"\n# Comment\ndomain somedomain.com\nnameserver 10.28.10.2\nnameserver 11.28.10.1\n", []string{"10.28.10.2", "11.28.10.1"}, []string{"somedomain.com"}},
	{"\ndomain somedomain.com\nnameserver 10.28.10.2\nnameserver 11.28.10.1", []string{"10.28.10.2", "11.28.10.1"}, []string{"somedomain.com"}},
	{"options ndots:0", nil, nil},
	{"options ndots:1", nil, nil},
	{"options ndots:15", nil, nil},
	{"options ndots:16", nil, nil},
	{"options ndots:-1", nil, nil},
	{"", nil, nil},
	{"options attempts:0", nil, nil},
	{"options attempts:1", nil, nil},
	{"options attempts:15", nil, nil},
	{"options attempts:16", nil, nil},
	{"options attempts:-1", nil, nil},
	{"options attempt:", nil, nil},
}

func TestVectorsMiekg(t *testing.T) {
	for i, v := range miekgVectors {
		rc, err := Parse("/etc/resolv.conf", []byte(v.data))
		if err != nil {
			t.Errorf("vector %d %q: miekg/dns reads it; unloop: %v", i, v.data, err)
			continue
		}
		if got := kubeletView(rc); !(len(got) == 0 && len(v.servers) == 0) && !slices.Equal(got, v.servers) {
			t.Errorf("vector %d: servers %q, miekg/dns %q", i, got, v.servers)
		}
		if !(len(rc.Search) == 0 && len(v.search) == 0) && !slices.Equal(rc.Search, v.search) {
			t.Errorf("vector %d: search %q, miekg/dns %q", i, rc.Search, v.search)
		}
		if opts := strings.TrimPrefix(v.data, "options "); opts != v.data && !slices.Equal(rc.Options, []string{opts}) {
			t.Errorf("vector %d: options %q, written %q", i, rc.Options, opts)
		}
	}
}
