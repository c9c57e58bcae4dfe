package cli

import (
	"sync"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/watch"
)

// hold is what watch remembers of its last run, so that neither its own
// writes nor an apply that fails the same way each time make it churn. An
// apply that failed (verification, a rename refused by chattr +i, a site's
// drop-in that wins) rolls back: its write and its rollback are inotify
// events like any, and checking on them would apply, fail and roll back
// again, forever. So a change counts only when what the paths hold differs
// from what the last run left (watch.Sum), and an apply that failed is not
// tried again, on a change or an interval, until its inputs differ.
type hold struct {
	tree *hostcfg.Root

	mu       sync.Mutex
	paths    []string // what the last run read, with the sources' paths
	after    string   // their Sum when the last run ended; "": unknown, check on any change
	failedOn []string // the paths of the last apply that failed
	failed   string   // their Sum then; "": no apply held back
	reason   string   // why that apply failed
	skips    float64  // changes that left every input as the last run left it
	refuse   float64  // applies not made again on the same inputs
}

// before is the Sum of the last run's paths now, as a run starts; with
// ended, it tells a change made by someone else during the run.
func (h *hold) before() (paths []string, sum string) {
	h.mu.Lock()
	paths = h.paths
	h.mu.Unlock()
	return paths, watch.Sum(h.tree, paths)
}

// unchanged says whether every watched path holds what the last run left:
// a change event then is the run's own write or rollback, or a rewrite
// with the same bytes, and no check is due. It counts the skip.
func (h *hold) unchanged() bool {
	h.mu.Lock()
	paths, after := h.paths, h.after
	h.mu.Unlock()
	if after == "" || watch.Sum(h.tree, paths) != after {
		return false
	}
	h.mu.Lock()
	h.skips++
	h.mu.Unlock()
	return true
}

// held says why an apply now would be the one that failed last time on
// the very same inputs ("" when it would not), and counts the refusal.
func (h *hold) held() string {
	h.mu.Lock()
	paths, failed, reason := h.failedOn, h.failed, h.reason
	h.mu.Unlock()
	if failed == "" || watch.Sum(h.tree, paths) != failed {
		return ""
	}
	h.mu.Lock()
	h.refuse++
	h.mu.Unlock()
	return reason
}

// ended records a run: prev and sum are before's. applied says the run was
// an apply (not one held back); wrote, that it changed the node on purpose
// (an apply that went through); failed, why an apply failed ("" if it did
// not). A held apply stays held: held compares the failed run's own paths. A run that wrote nothing leaves the
// paths as they were at its start: if they differ now, someone else
// changed them meanwhile, perhaps after the run read them, and the next
// change is checked (and a failed apply may be tried again).
func (h *hold) ended(prev []string, sum string, inputs []string, applied, wrote bool, failed string) {
	paths := watchedPaths(inputs)
	if inputs == nil {
		paths = prev // no report: the last run's list is the best known
	}
	after := watch.Sum(h.tree, paths)
	if !wrote && watch.Sum(h.tree, prev) != sum {
		after = ""
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.paths, h.after = paths, after
	if !applied {
		return
	}
	h.failedOn, h.failed, h.reason = nil, "", ""
	if failed != "" && after != "" {
		h.failedOn, h.failed, h.reason = paths, after, failed
	}
}
