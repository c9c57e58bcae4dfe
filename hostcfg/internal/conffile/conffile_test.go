package conffile

import (
	"fmt"
	"reflect"
	"testing"
)

// TestForEachINILine runs systemd's own vectors for config_parse (config_file[]
// in src/test/test-conf-parser.c: cases 0–8, the setting renamed) and a few of
// ours. Each line of want is "NUM:TEXT".
func TestForEachINILine(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		// systemd's test-conf-parser.c config_file[0..8]: setting1 ends as "1", "1 2 3", or 1\\ \\2.
		{"systemd 0", "[Section]\nsetting1=1\n", []string{"1:[Section]", "2:setting1=1"}},
		{"systemd 1: no final newline", "[Section]\nsetting1=1", []string{"1:[Section]", "2:setting1=1"}},
		{"systemd 2: blank lines", "\n\n\n\n[Section]\n\n\nsetting1=1", []string{"5:[Section]", "8:setting1=1"}},
		{"systemd 3: repeated", "[Section]\n[Section]\nsetting1=1\nsetting1=2\nsetting1=1\n",
			[]string{"1:[Section]", "2:[Section]", "3:setting1=1", "4:setting1=2", "5:setting1=1"}},
		{"systemd 4: continuation", "[Section]\nsetting1=1\\\n2\\\n3\n", []string{"1:[Section]", "2:setting1=1 2 3"}},
		{"systemd 5: no continuation in a comment", "[Section]\n#hogehoge\\\nsetting1=1\\\n2\\\n3\n", []string{"1:[Section]", "3:setting1=1 2 3"}},
		{"systemd 6: comment inside a continuation", "[Section]\nsetting1=1\\\n#hogehoge\\\n2\\\n3\n", []string{"1:[Section]", "2:setting1=1 2 3"}},
		{"systemd 7: continuation at the end", "[Section]\nsetting1=1\\\n2\\\n3\\\n", []string{"1:[Section]", "2:setting1=1 2 3"}},
		{"systemd 8: escaped backslashes", "[Section]\nsetting1=1\\\\\\\n\\\\2\n", []string{"1:[Section]", `2:setting1=1\\ \\2`}},

		{"even backslashes do not continue", "a=1\\\\\nb=2\n", []string{`1:a=1\\`, "2:b=2"}},
		{"byte order mark", "\ufeff[Network]\nDNS=1.1.1.1\n", []string{"1:[Network]", "2:DNS=1.1.1.1"}},
		{"byte order mark only first", "\ufeff\n\ufeffx=1\n", []string{"2:\ufeffx=1"}},
		{"crlf and ; comments", "; c\r\n  a = 1 \r\n", []string{"2:a = 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := ForEachINILine([]byte(tt.in), func(num int, text string) error {
				got = append(got, fmt.Sprintf("%d:%s", num, text))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
