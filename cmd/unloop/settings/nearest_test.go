package settings

import "testing"

func TestNearest(t *testing.T) {
	for _, c := range []struct {
		name, typo string
		names      []string
		want       string
	}{
		{"one letter more", "rooot", []string{"root", "config", "output"}, "root"},
		{"two swapped", "stratgey", Keys(), "strategy"},
		{"a letter less", "upstrea", Keys(), "upstream"},
		{"the plural of another key", "upstreams", Keys(), "upstream"},
		{"too far", "zzzzzz", Keys(), ""},
		{"three edits", "rxxxt", []string{"root"}, ""},
		{"a tie says nothing", "ab", []string{"aa", "bb"}, ""},
		{"no names", "root", nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Nearest(c.typo, c.names); got != c.want {
				t.Errorf("Nearest(%q) = %q, want %q", c.typo, got, c.want)
			}
		})
	}
}
