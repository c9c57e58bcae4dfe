package block

import (
	"strings"
	"testing"
)

// Splicing and removing the block gives back every byte of the owner's file,
// with or without a line break at its end; a begin line without its end is
// refused with the file and line.
func TestSpliceRemove(t *testing.T) {
	tests := []struct {
		name, data string
	}{
		{"empty", ""},
		{"line-break-at-end", "x=1\n"},
		{"no-line-break-at-end", "x=1"},
		{"crlf", "x=1\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spliced, err := Splice("/f", []byte(tt.data), "a note", "y=2\n")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(spliced), tt.data) || !strings.HasSuffix(string(spliced), "y=2\n"+End+"\n") {
				t.Fatalf("spliced %q", spliced)
			}
			again, err := Splice("/f", spliced, "a note", "y=3\n")
			if err != nil || strings.Count(string(again), Begin) != 1 {
				t.Fatalf("spliced again %q (%v): want one block", again, err)
			}
			out, found, err := Remove("/f", again)
			if err != nil || !found || string(out) != tt.data {
				t.Fatalf("Remove = %q, %v, %v; want %q", out, found, err, tt.data)
			}
		})
	}
	_, _, err := Remove("/f", []byte("x=1\n"+Begin+": note\ny=2\n"))
	if err == nil || !strings.Contains(err.Error(), "/f:2") || !strings.Contains(err.Error(), End) {
		t.Fatalf("begin without end: %v", err)
	}
}
