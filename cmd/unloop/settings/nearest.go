package settings

// Nearest is the name among names closest to a misspelled one (--rooot,
// "stratgey"), within two edits as cobra suggests subcommands
// (SuggestionsMinimumDistance); "" when none is that close or two are
// equally close, where a guess would mislead.
func Nearest(name string, names []string) string {
	best, bestD, tie := "", 3, false
	for _, n := range names {
		switch d := editDistance(name, n); {
		case d < bestD:
			best, bestD, tie = n, d, false
		case d == bestD:
			tie = true
		}
	}
	if tie {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance: insertions, deletions and
// substitutions of bytes (setting names are ASCII). cobra has one but does
// not export it.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Keys are the config file's keys: every setting but config, and ignore.
func Keys() []string {
	var out []string
	for _, s := range settings {
		if s.name != "config" {
			out = append(out, s.name)
		}
	}
	return append(out, "ignore")
}
