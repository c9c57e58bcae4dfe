package watch

import "time"

// Schedule decides when unloop watch checks: a while after a change
// (Debounce, so that a burst of writes is one check), every Interval when
// nothing changes, and, when changes keep coming (a file rewritten in a
// loop), at a growing gap up to MaxGap: more than Burst checks on change
// within MaxGap double the gap at each check, as systemd's TriggerLimitBurst
// stops a path unit. The gap closes again once nothing changed for MaxGap.
// A change that puts a looping address in a file (Looping) is checked
// after Quick instead: a DHCP renew that writes node-local-dns's address
// back is the window in which a new pod gets the loop.
// It is a plain value with the time passed in, so tests step through it.
type Schedule struct {
	Debounce, Quick, Interval, MaxGap time.Duration
	Burst                             int

	pending    bool
	due        time.Time
	lastChange time.Time
	lastStart  time.Time
	lastByChg  time.Time
	recent     []time.Time // starts of checks on change within MaxGap
	gap        time.Duration
}

// QuickDebounce is the debounce of a change that carries a looping
// address: long enough for a writer's truncate and writes (and the rename
// of an atomic rewrite, which dhclient-script and systemd-resolved do) to
// land together, short against the debounce of ordinary churn.
const QuickDebounce = 50 * time.Millisecond

// NewSchedule is the watch's default: debounce (500 ms in watch's flag),
// QuickDebounce for a looping change (never more than debounce), up to one
// check a minute, 10 checks on change a minute before backing off.
func NewSchedule(debounce, interval time.Duration) *Schedule {
	return &Schedule{Debounce: debounce, Quick: min(QuickDebounce, debounce), Interval: interval, MaxGap: time.Minute, Burst: 10}
}

// Changed records a change seen at now.
func (s *Schedule) Changed(now time.Time) {
	if !s.lastChange.IsZero() && now.Sub(s.lastChange) >= s.MaxGap {
		s.gap, s.recent = 0, nil // quiet for a while: the loop stopped
	}
	s.lastChange = now
	if s.pending {
		return // the check due already sees this change too
	}
	s.pending = true
	s.recent = after(s.recent, now.Add(-s.MaxGap))
	if s.gap > 0 || len(s.recent) >= s.Burst {
		s.gap = min(max(2*s.gap, 2*s.Debounce), s.MaxGap)
	}
	s.due = now.Add(s.Debounce)
	if next := s.lastByChg.Add(s.gap); s.gap > 0 && next.After(s.due) {
		s.due = next
	}
}

// Looping records a change seen at now that put a looping address in a
// file: the check is due Quick after it, or sooner if it was due already,
// so later writes of the same burst are in it too. While checks back off
// from a rewrite loop the gap holds as for any change: a file rewritten in
// a loop with a looping address in it is checked no more often than one
// without, and at most Burst quick checks come before the back-off.
func (s *Schedule) Looping(now time.Time) {
	s.Changed(now)
	if q := now.Add(s.Quick); s.gap == 0 && q.Before(s.due) {
		s.due = q
	}
}

// Next is when the next check is due: the pending change's time, or an
// interval after the last check (now, before the first).
func (s *Schedule) Next(now time.Time) time.Time {
	if s.pending {
		return s.due
	}
	if s.lastStart.IsZero() {
		return now
	}
	return s.lastStart.Add(s.Interval)
}

// Started records that a check starts at now, and whether a change was
// what it was due for.
func (s *Schedule) Started(now time.Time) (onChange bool) {
	onChange = s.pending && !now.Before(s.due)
	s.lastStart = now
	if onChange {
		s.pending = false
		s.lastByChg = now
		s.recent = append(after(s.recent, now.Add(-s.MaxGap)), now)
	}
	return onChange
}

// Gap is the current back-off between checks on change: 0 unless a file is
// being rewritten in a loop.
func (s *Schedule) Gap() time.Duration { return s.gap }

// after drops the times before t.
func after(ts []time.Time, t time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(t) {
		i++
	}
	return ts[i:]
}
