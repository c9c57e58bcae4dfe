package watch

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func TestScheduleDebounce(t *testing.T) {
	s := NewSchedule(500*time.Millisecond, 5*time.Minute)
	if got := s.Next(t0); !got.Equal(t0) {
		t.Fatalf("first check due at %v, want at once", got)
	}
	s.Started(t0)
	if got := s.Next(t0); !got.Equal(t0.Add(5 * time.Minute)) {
		t.Fatalf("with no change, next check at %v, want an interval later", got)
	}
	// Three writes within the debounce are one check, 500 ms after the first.
	for _, d := range []time.Duration{10, 100, 400} {
		s.Changed(t0.Add(time.Second + d*time.Millisecond))
	}
	want := t0.Add(time.Second + 510*time.Millisecond)
	if got := s.Next(t0); !got.Equal(want) {
		t.Fatalf("after a burst of writes, check due at %v, want %v", got, want)
	}
	if !s.Started(want) {
		t.Fatal("the check due for a change does not say so")
	}
	if got := s.Next(want); !got.Equal(want.Add(5 * time.Minute)) {
		t.Fatalf("after the check, next at %v, want an interval later", got)
	}
}

// A file rewritten in a tight loop: checks back off to one a minute and
// never closer, and the gap closes once the writes stop.
func TestScheduleBacksOffFromALoop(t *testing.T) {
	s := NewSchedule(500*time.Millisecond, 5*time.Minute)
	now := t0
	s.Started(now)
	var starts []time.Time
	// Writes every millisecond for 10 minutes, simulated at each check.
	for now.Before(t0.Add(10 * time.Minute)) {
		s.Changed(now)
		due := s.Next(now)
		if due.Before(now) {
			t.Fatalf("check due in the past: %v < %v", due, now)
		}
		now = due
		s.Changed(now.Add(-time.Millisecond))
		s.Started(now)
		starts = append(starts, now)
		now = now.Add(time.Millisecond)
	}
	if n := len(starts); n > 40 {
		t.Errorf("%d checks in 10 minutes of a rewrite loop, want the back-off to keep them few", n)
	}
	last := starts[len(starts)-5:]
	for i := 1; i < len(last); i++ {
		if gap := last[i].Sub(last[i-1]); gap < time.Minute-time.Second || gap > time.Minute+time.Second {
			t.Errorf("checks %v apart once backed off, want one a minute", gap)
		}
	}
	if s.Gap() != time.Minute {
		t.Errorf("gap %v during the loop, want 1m", s.Gap())
	}
	// Quiet for a minute: the next change is checked after the debounce.
	quiet := now.Add(2 * time.Minute)
	s.Changed(quiet)
	if got := s.Next(quiet); !got.Equal(quiet.Add(500 * time.Millisecond)) {
		t.Errorf("after the loop stopped, check due at %v, want after the debounce", got)
	}
	if s.Gap() != 0 {
		t.Errorf("gap %v after the loop stopped, want 0", s.Gap())
	}
}

// Up to Burst checks a minute, changes are checked after the debounce alone
// (a renew and an admin's edit are not a loop).
func TestScheduleBurstIsNotThrottled(t *testing.T) {
	s := NewSchedule(500*time.Millisecond, 5*time.Minute)
	now := t0
	s.Started(now)
	for i := range 10 {
		now = now.Add(5 * time.Second)
		s.Changed(now)
		if got := s.Next(now); !got.Equal(now.Add(500 * time.Millisecond)) {
			t.Fatalf("change %d: due at %v, want after the debounce", i+1, got)
		}
		s.Started(s.Next(now))
	}
	if s.Gap() != 0 {
		t.Errorf("gap %v after 10 changes a minute, want none", s.Gap())
	}
	now = now.Add(5 * time.Second)
	s.Changed(now)
	if s.Gap() == 0 {
		t.Error("no back-off at the 11th change within a minute")
	}
}

// A looping write is checked Quick after it; the writes of the same burst,
// looping or not, are in that one check; an ordinary change before it is
// pulled in with it.
func TestScheduleLoopingIsQuickAndCoalesces(t *testing.T) {
	s := NewSchedule(500*time.Millisecond, 5*time.Minute)
	s.Started(t0)
	at := t0.Add(time.Second)
	s.Looping(at)
	for _, d := range []time.Duration{5, 20, 45} {
		s.Looping(at.Add(d * time.Millisecond))
		s.Changed(at.Add(d * time.Millisecond))
	}
	if got := s.Next(at); !got.Equal(at.Add(QuickDebounce)) {
		t.Fatalf("a burst of looping writes: check due at %v, want %v", got, at.Add(QuickDebounce))
	}
	if !s.Started(s.Next(at)) {
		t.Fatal("the check due for the burst does not say so")
	}
	if got := s.Next(at.Add(QuickDebounce)); !got.Equal(at.Add(QuickDebounce + 5*time.Minute)) {
		t.Errorf("after the burst's one check, next due at %v, want an interval later", got)
	}

	// Churn first (due after the debounce), then a looping write: the
	// looping one pulls the check in, and it is one check for both.
	at = t0.Add(time.Minute)
	s.Changed(at)
	s.Looping(at.Add(100 * time.Millisecond))
	if got := s.Next(at); !got.Equal(at.Add(100*time.Millisecond + QuickDebounce)) {
		t.Errorf("churn then a looping write: due at %v, want %v", got, at.Add(100*time.Millisecond+QuickDebounce))
	}
	// A looping write never puts the check later than it was due.
	s.Looping(at.Add(140 * time.Millisecond))
	if got := s.Next(at); !got.Equal(at.Add(100*time.Millisecond + QuickDebounce)) {
		t.Errorf("a later looping write moved the check to %v", got)
	}
}

// The quick debounce is never longer than the one asked for.
func TestScheduleQuickNoLongerThanDebounce(t *testing.T) {
	s := NewSchedule(10*time.Millisecond, time.Minute)
	s.Looping(t0)
	if got := s.Next(t0); !got.Equal(t0.Add(10 * time.Millisecond)) {
		t.Errorf("--debounce 10ms, a looping write due at %v, want after 10ms", got)
	}
}
