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
			if !strings.HasPrefix(string(spliced), tt.data) || !strings.HasSuffix(string(spliced), "y=2\n"+End+Hash("a note", "y=2\n")+")\n") {
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
	begin := strings.SplitAfter(Text("note", "y=2\n", false), "\n")[0]
	_, _, err := Remove("/f", []byte("x=1\n"+begin+"y=2\n"))
	if err == nil || !strings.Contains(err.Error(), "/f:2") || !strings.Contains(err.Error(), End) {
		t.Fatalf("begin without end: %v", err)
	}
}

// An admin's lines that only look like unloop's markers are theirs: a comment
// "# BEGIN unloop-free zone" is neither refused over nor removed, an Ansible
// blockinfile block with the marker "# {mark} unloop" stays byte for byte,
// and so does unloop's own block once someone edited what is inside it.
// Splice adds unloop's block after them; Remove takes out only that.
func TestAdminBlocksKept(t *testing.T) {
	edited := strings.Replace(Text("a note", "y=2\n", false), "y=2", "y=5", 1)
	for name, admin := range map[string]string{
		"comment":          "#!/bin/bash\n# BEGIN unloop-free zone\nnew_routers=''\n",
		"blockinfile":      "#!/bin/bash\n# BEGIN unloop\nnew_routers=''\n# END unloop\n",
		"blockinfile-open": "#!/bin/bash\n# BEGIN unloop\nnew_routers=''\n",
		"old-note-edited":  "# BEGIN unloop: " + legacy[0].note + "\n" + legacy[0].body + "new_routers=''\n# END unloop\n",
		"new-body-edited":  edited,
	} {
		t.Run(name, func(t *testing.T) {
			out, found, err := Remove("/f", []byte(admin))
			if err != nil || found || string(out) != admin {
				t.Fatalf("Remove = %q, %v, %v; want the admin's file untouched", out, found, err)
			}
			spliced, err := Splice("/f", []byte(admin), "a note", "y=2\n")
			if err != nil || string(spliced) != admin+Text("a note", "y=2\n", false) {
				t.Fatalf("Splice = %q, %v; want the block after the admin's lines", spliced, err)
			}
			out, found, err = Remove("/f", spliced)
			if err != nil || !found || string(out) != admin {
				t.Fatalf("Remove after Splice = %q, %v, %v; want %q", out, found, err, admin)
			}
		})
	}
}

// A block the previous release wrote (old markers "# BEGIN unloop: NOTE" and
// "# END unloop", no hash) is unloop's when it is byte for byte what that
// release wrote: Remove takes it out (rollback of a run made by the old
// release), and Splice replaces it with the new markers (a re-apply).
func TestLegacyBlock(t *testing.T) {
	old := legacyBegin + legacy[0].note + "\n" + legacy[0].body + legacyEnd + "\n"
	oldNoEOL := legacyBegin + legacy[0].note + eol + "\n" + legacy[0].body + legacyEnd + "\n"
	for name, tt := range map[string]struct{ owner, file string }{
		"created":         {"", old},
		"spliced":         {"#!/bin/bash\nnew_routers=''\n", "#!/bin/bash\nnew_routers=''\n" + old},
		"spliced-no-eol":  {"new_routers=''", "new_routers=''\n" + oldNoEOL},
		"edited-above-it": {"#!/bin/bash\n# later\n", "#!/bin/bash\n# later\n" + old},
	} {
		t.Run(name, func(t *testing.T) {
			out, found, err := Remove("/f", []byte(tt.file))
			if err != nil || !found || string(out) != tt.owner {
				t.Fatalf("Remove = %q, %v, %v; want %q", out, found, err, tt.owner)
			}
			spliced, err := Splice("/f", []byte(tt.file), legacy[0].note, legacy[0].body)
			if err != nil || strings.Contains(string(spliced), legacyEnd+"\n") || strings.Count(string(spliced), Begin) != 1 {
				t.Fatalf("Splice = %q, %v; want one block, new markers only", spliced, err)
			}
		})
	}
}
