package hostcfg

import "errors"

// Token is one word of a Corefile, where it is.
type Token struct {
	Text   string
	Line   int
	Offset int // byte offset in the file, for splicing
}

// Forward is one `forward FROM TO...` directive.
type Forward struct {
	From string
	Line int
	To   []Token // IPs, IP:port, dns://IP, or a file path such as /etc/resolv.conf
}

// ServerBlock is one server block of a Corefile.
type ServerBlock struct {
	Keys     []string // as written: ".:53", "example.org"
	Line     int
	Port     string // "53" when no key names a port
	Binds    []Token
	Loop     bool // the loop plugin is on
	Reload   bool // the reload plugin is on
	Forwards []Forward
}

// Corefile is a parsed Corefile (no import or env expansion).
type Corefile struct {
	Path    string
	Servers []ServerBlock
}

// ParseCorefile lexes data with the caddy lexer; unbalanced braces and other
// syntax errors name path and line.
func ParseCorefile(path string, data []byte) (*Corefile, error) {
	return nil, errors.New("not implemented")
}
