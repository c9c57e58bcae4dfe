package dhclient

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/parsetest"
)

// stmts is a compact view of statements: "verb option addrs iface@line[start:end]".
func stmts(l []Statement) []string {
	var out []string
	for _, s := range l {
		var addrs []string
		for _, a := range s.Addrs {
			addrs = append(addrs, a.String())
		}
		out = append(out, fmt.Sprintf("%s %s %s %s@%d", s.Verb, s.Option, strings.Join(addrs, ","), s.Interface, s.Line))
	}
	return out
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{
			name: "debian default file",
			in: "# Configuration file for /sbin/dhclient.\n#\n#supersede domain-name \"fugue.com home.vix.com\";\n" +
				"#prepend domain-name-servers 127.0.0.1;\n" +
				"option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;\n\n" +
				"send host-name = gethostname();\n" +
				"request subnet-mask, broadcast-address, time-offset, routers,\n" +
				"\tdomain-name, domain-name-servers, domain-search, host-name,\n" +
				"\tdhcp6.name-servers, dhcp6.domain-search, dhcp6.fqdn, dhcp6.sntp-servers,\n" +
				"\tnetbios-name-servers, netbios-scope, interface-mtu,\n\trfc3442-classless-static-routes, ntp-servers;\n",
		},
		{
			name: "the four verbs",
			in: "prepend domain-name-servers 169.254.25.10;\nsupersede domain-name-servers 10.0.0.2, 10.0.0.3;\n" +
				"append domain-name-servers 10.0.0.4;\ndefault domain-name-servers 10.0.0.5;\n",
			want: []string{
				"prepend domain-name-servers 169.254.25.10 @1",
				"supersede domain-name-servers 10.0.0.2,10.0.0.3 @2",
				"append domain-name-servers 10.0.0.4 @3",
				"default domain-name-servers 10.0.0.5 @4",
			},
		},
		{
			name: "kubespray block",
			in: "# Ansible entries BEGIN\nsupersede domain-name-servers 169.254.25.10,192.168.2.136;\n" +
				"supersede domain-search \"default.svc.cluster.local\",\"svc.cluster.local\";\n# Ansible entries END\n",
			want: []string{"supersede domain-name-servers 169.254.25.10,192.168.2.136 @2"},
		},
		{
			name: "statement over several lines with a comment inside",
			in:   "send host-name \"x\";\nprepend domain-name-servers\n  169.254.25.10, # node cache\n  10.0.0.2\n;\n",
			want: []string{"prepend domain-name-servers 169.254.25.10,10.0.0.2 @2"},
		},
		{
			name: "interface blocks count",
			in:   "timeout 30;\ninterface \"eth0\" {\n  prepend domain-name-servers 127.0.0.1;\n  request domain-name-servers;\n}\nalias { interface \"eth1\"; fixed-address 1.2.3.4; }\nappend domain-name-servers 10.0.0.9;\n",
			want: []string{"prepend domain-name-servers 127.0.0.1 eth0@3", "append domain-name-servers 10.0.0.9 @7"},
		},
		{
			name: "dhcp6 name servers",
			in:   "prepend dhcp6.name-servers ::1;\n",
			want: []string{"prepend dhcp6.name-servers ::1 @1"},
		},
		{
			name: "comments and strings hide statements",
			in:   "# prepend domain-name-servers 127.0.0.1;\nsend fqdn.fqdn \"prepend domain-name-servers 127.0.0.1;\";\nsupersede domain-name \"a # b\"; prepend domain-name-servers 10.1.1.1;# x\n",
			want: []string{"prepend domain-name-servers 10.1.1.1 @3"},
		},
		{
			name: "other options are not judged",
			in:   "supersede domain-name \"x\";\nprepend ntp-servers pool.example;\nrequire subnet-mask;\n",
		},
		{
			name: "crlf",
			in:   "# c\r\nsupersede domain-name-servers 10.0.0.2;\r\n",
			want: []string{"supersede domain-name-servers 10.0.0.2 @2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf, err := ParseConfig("/etc/dhcp/dhclient.conf", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := stmts(conf.Statements); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			for _, s := range conf.Statements {
				text := tt.in[s.Start:s.End]
				if !strings.HasPrefix(text, s.Verb+" ") || !strings.HasSuffix(text, ";") {
					t.Errorf("statement at [%d,%d) is %q", s.Start, s.End, text)
				}
				if got := strings.Count(tt.in[:s.Start], "\n") + 1; got != s.Line {
					t.Errorf("statement %q starts on line %d, says %d", text, got, s.Line)
				}
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		line  int
		words []string
	}{
		{"invalid address", "\nprepend domain-name-servers 169.254.25.10, nodelocal;\n", 2, []string{`"nodelocal"`, "not an IP"}},
		{"invalid address on a later line", "supersede domain-name-servers 10.0.0.1,\n  10.0.0.300;\n", 2, []string{"10.0.0.300"}},
		{"quoted address", "supersede domain-name-servers \"10.0.0.1\";\n", 1, []string{"not an IP"}},
		{"no address", "prepend domain-name-servers ;\n", 1, []string{"no address"}},
		{"trailing comma", "prepend domain-name-servers 10.0.0.1,;\n", 1, []string{"','"}},
		{"missing comma", "prepend domain-name-servers 10.0.0.1 10.0.0.2;\n", 1, []string{"expected ','"}},
		{"missing semicolon at end of file", "timeout 3;\nprepend domain-name-servers 10.0.0.1\n", 2, []string{"missing ';'"}},
		{"missing semicolon before a brace", "interface \"eth0\" {\n prepend domain-name-servers 10.0.0.1\n}\n", 2, []string{"missing ';'"}},
		{"unterminated string", "send host-name \"x;\n", 1, []string{"unterminated string"}},
		{"unbalanced close", "timeout 3;\n}\n", 2, []string{"'}' without '{'"}},
		{"unclosed block", "interface \"eth0\" {\n timeout 3;\n", 1, []string{"never closed"}},
		{"NUL byte", "timeout 3;\x00\n", 1, []string{"NUL"}},
		{"binary junk", "\x7fELF\x02\x01", 1, []string{"binary"}},
		{"invalid UTF-8", "# \xff\xfe\n", 1, []string{"UTF-8"}},
		{"huge input", strings.Repeat("timeout 3;\n", hostcfg.MaxFileSize/11+1), 0, []string{"more than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf, err := ParseConfig("/etc/dhcp/dhclient.conf", []byte(tt.in))
			if conf != nil {
				t.Errorf("got %+v with the error", conf)
			}
			parsetest.WantFileError(t, err, "/etc/dhcp/dhclient.conf", tt.line, append([]string{"/etc/dhcp/dhclient.conf"}, tt.words...)...)
		})
	}
}

func TestNeutralise(t *testing.T) {
	tests := []struct {
		name string
		in   string
		nth  int // which statement
		want string
	}{
		{
			name: "one line",
			in:   "timeout 30;\nprepend domain-name-servers 169.254.25.10;\nrequest subnet-mask;\n",
			want: "timeout 30;\n# unloop: prepend domain-name-servers 169.254.25.10;\nrequest subnet-mask;\n",
		},
		{
			name: "indented, in an interface block",
			in:   "interface \"eth0\" {\n\tsupersede domain-name-servers 169.254.25.10;\n}\n",
			want: "interface \"eth0\" {\n# unloop: \tsupersede domain-name-servers 169.254.25.10;\n}\n",
		},
		{
			name: "several lines",
			in:   "prepend domain-name-servers\n  169.254.25.10,\n  10.0.0.2;\ntimeout 3;\n",
			want: "# unloop: prepend domain-name-servers\n# unloop:   169.254.25.10,\n# unloop:   10.0.0.2;\ntimeout 3;\n",
		},
		{
			name: "shares its line with other statements",
			in:   "timeout 3; prepend domain-name-servers 127.0.0.1; retry 60;\n",
			want: "timeout 3; \n# unloop: prepend domain-name-servers 127.0.0.1;\n retry 60;\n",
		},
		{
			name: "second of two on a line, trailing comment kept on it",
			in:   "append domain-name-servers 10.0.0.1; supersede domain-name-servers 127.0.0.1; # loop\n",
			nth:  1,
			want: "append domain-name-servers 10.0.0.1; \n# unloop: supersede domain-name-servers 127.0.0.1; # loop\n",
		},
		{
			name: "block closes on the same line",
			in:   "interface \"eth0\" { prepend domain-name-servers 127.0.0.1; }",
			want: "interface \"eth0\" { \n# unloop: prepend domain-name-servers 127.0.0.1;\n }",
		},
		{
			name: "last line without newline",
			in:   "timeout 3;\nprepend domain-name-servers 127.0.0.1;",
			want: "timeout 3;\n# unloop: prepend domain-name-servers 127.0.0.1;",
		},
		{
			name: "crlf",
			in:   "timeout 3; prepend domain-name-servers 127.0.0.1; retry 6;\r\nx 1;\r\n",
			want: "timeout 3; \r\n# unloop: prepend domain-name-servers 127.0.0.1;\r\n retry 6;\r\nx 1;\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf, err := ParseConfig("/etc/dhcp/dhclient.conf", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			in := []byte(tt.in)
			st := conf.Statements[tt.nth]
			got := Neutralise(in, st, "unloop")
			if string(got) != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
			if string(in) != tt.in {
				t.Errorf("input changed")
			}
			checkNeutralised(t, in, got, conf, tt.nth)
		})
	}
}

// checkNeutralised: the result parses, and holds every statement but the nth.
func checkNeutralised(t *testing.T, before, after []byte, conf *Config, nth int) {
	t.Helper()
	conf2, err := ParseConfig(conf.Path, after)
	if err != nil {
		t.Fatalf("the result does not parse: %v\n%s", err, after)
	}
	want := stmts(append(append([]Statement(nil), conf.Statements[:nth]...), conf.Statements[nth+1:]...))
	got := stmts(conf2.Statements)
	for i := range got { // line numbers may move: compare without them
		got[i] = got[i][:strings.LastIndexByte(got[i], '@')]
	}
	for i := range want {
		want[i] = want[i][:strings.LastIndexByte(want[i], '@')]
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("statements after %q, want %q\n%s", got, want, after)
	}
	// Taking the marker away gives the statement back.
	restored := strings.ReplaceAll(string(after), "# unloop: ", "")
	conf3, err := ParseConfig(conf.Path, []byte(restored))
	if err != nil || len(conf3.Statements) != len(conf.Statements) {
		t.Fatalf("restoring by removing the marker: %v, %d statements of %d\n%s", err, len(conf3.Statements), len(conf.Statements), restored)
	}
	_ = before
}

func TestNeutraliseMismatch(t *testing.T) {
	in := []byte("prepend domain-name-servers 127.0.0.1;\n")
	for _, st := range []Statement{
		{Start: -1, End: 5},
		{Start: 0, End: 100},
		{Start: 5, End: 5},
		{Start: 0, End: 10},
	} {
		if got := Neutralise(in, st, "unloop"); string(got) != string(in) {
			t.Errorf("%+v changed the data to %q", st, got)
		}
	}
}

func TestLoadConfigs(t *testing.T) {
	r := parsetest.Root(t, map[string]string{
		"/etc/dhcp/dhclient.conf":      "prepend domain-name-servers 169.254.25.10;\n",
		"/etc/dhclient.conf":           "-> dhcp/dhclient.conf", // the same file: read once
		"/etc/dhcp/dhclient-eth1.conf": "supersede domain-name-servers 10.0.0.2;\n",
		"/etc/dhclient-ens5.conf":      "# nothing\n",
		"/etc/dhcp/dhclient-bad.conf":  "prepend domain-name-servers x;\n",
		"/etc/dhcp/dhclient-dir.conf/": "",
		"/etc/dhcp/dhclient-gone.conf": "-> /nowhere",
	})
	confs, err := LoadConfigs(r)
	parsetest.WantFileError(t, err, "/etc/dhcp/dhclient-bad.conf", 1, `"x"`)
	var got []string
	for _, c := range confs {
		got = append(got, fmt.Sprintf("%s[%s]%d", c.Path, c.Interface, len(c.Statements)))
	}
	want := []string{"/etc/dhcp/dhclient.conf[]1", "/etc/dhcp/dhclient-eth1.conf[eth1]1", "/etc/dhclient-ens5.conf[ens5]0"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLoadConfigsNone(t *testing.T) {
	confs, err := LoadConfigs(parsetest.Root(t, map[string]string{"/etc/": ""}))
	if err != nil || len(confs) != 0 {
		t.Errorf("got %v, %v", confs, err)
	}
}

func TestLoadLeases(t *testing.T) {
	r := parsetest.Root(t, map[string]string{
		"/var/lib/dhcp/dhclient.eth0.leases": `default-duid "\000\001\000\001";
lease {
  interface "eth0";
  fixed-address 10.0.0.5;
  option subnet-mask 255.255.255.0;
  option domain-name-servers 10.0.0.2,10.0.0.3;
  option domain-name "example.internal";
  renew 4 2024/01/04 10:00:00;
}
lease {
  interface "eth0";
  fixed-address 10.0.0.5;
  option domain-name-servers 169.254.25.10;
  renew 4 2024/01/04 11:00:00;
}
`,
		"/var/lib/dhcp/dhclient.eth1.leases": "lease {\n  interface \"eth1\";\n  fixed-address 10.1.0.5;\n}\n",
		"/var/lib/dhclient/dhclient6--eth0.lease": `default-duid "\000\001";
lease6 {
  interface "eth0";
  ia-na 1a:2b:3c:4d {
    starts 1700000000;
    iaaddr 2001:db8::5 {
      starts 1700000000;
      preferred-life 3600;
    }
  }
  option dhcp6.name-servers 2001:db8::53, ::1;
}
`,
		"/var/lib/dhclient/bad.lease": "lease { interface \"eth2\"; option domain-name-servers 10.0.0.999; }\n",
		"/var/lib/dhcp/notes.txt":     "lease { interface \"eth9\"; }\n",
		"/var/lib/dhcp/junk.leases":   "\x00\x00\x00",
		"/var/lib/dhcp/empty.leases":  "",
	})
	leases, err := LoadLeases(r)
	if err == nil || !strings.Contains(err.Error(), "/var/lib/dhclient/bad.lease:1") || !strings.Contains(err.Error(), "/var/lib/dhcp/junk.leases:1") {
		t.Errorf("error %v should name bad.lease:1 and junk.leases:1", err)
	}
	var got []string
	for _, l := range leases {
		got = append(got, fmt.Sprintf("%s v6=%v %v %s:%d", l.Interface, l.V6, l.DNS, l.Path, l.Line))
	}
	want := []string{
		"eth0 v6=false [169.254.25.10] /var/lib/dhcp/dhclient.eth0.leases:13",
		"eth0 v6=true [2001:db8::53 ::1] /var/lib/dhclient/dhclient6--eth0.lease:11",
		"eth1 v6=false [] /var/lib/dhcp/dhclient.eth1.leases:1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"prepend domain-name-servers 169.254.25.10;\n",
		"timeout 3; interface \"eth0\" { supersede domain-name-servers 10.0.0.1, 10.0.0.2; }\n",
		"# c\nsend host-name \"a\\\"b\";\nappend dhcp6.name-servers ::1;\r\n",
		"default domain-name-servers\n 10.0.0.1\n;\n",
		"lease { interface \"eth0\"; option domain-name-servers 1.2.3.4; }",
		"{}}{",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		conf, err := ParseConfig("/etc/dhcp/dhclient.conf", data)
		if _, lerr := ParseLeases("/var/lib/dhcp/x.leases", data); lerr != nil {
			var fe *hostcfg.FileError
			if !errors.As(lerr, &fe) || fe.Path != "/var/lib/dhcp/x.leases" {
				t.Fatalf("lease error %v does not name the file", lerr)
			}
		}
		if err != nil {
			var fe *hostcfg.FileError
			if !errors.As(err, &fe) || fe.Path != "/etc/dhcp/dhclient.conf" {
				t.Fatalf("error %v does not name the file", err)
			}
			return
		}
		for i, s := range conf.Statements {
			if s.Start < 0 || s.End > len(data) || s.Start >= s.End || data[s.End-1] != ';' || len(s.Addrs) == 0 {
				t.Fatalf("statement %+v", s)
			}
			for _, a := range s.Addrs {
				if !a.IsValid() {
					t.Fatalf("statement %+v", s)
				}
			}
			checkNeutralised(t, data, Neutralise(data, s, "unloop"), conf, i)
		}
	})
}
