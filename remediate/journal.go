package remediate

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/unloop/unloop/hostcfg"
)

// JournalDir is the node's folder that holds one folder per run, named by its ID.
const JournalDir = "/var/lib/unloop/runs"

const (
	journalManifest = "manifest.json"
	journalVersion  = 1
	// maxManifestSize bounds a manifest: it holds the originals of a run's
	// files (each at most hostcfg.MaxFileSize), base64 in JSON.
	maxManifestSize = 8 * hostcfg.MaxFileSize
)

// RunState is how far a run got; the manifest records it after each step.
type RunState string

const (
	RunStarted    RunState = "started"     // originals journaled; changes may be half made
	RunApplied    RunState = "applied"     // every change made and verified
	RunRolledBack RunState = "rolled-back" // every original put back
)

// ErrNoRun is returned (wrapped) when there is no journaled run to load.
var ErrNoRun = errors.New("no run journaled")

// Journal is one run of apply: the originals of every path it touches, kept
// under Dir on the node until rollback needs them. The manifest holds
// everything, the originals' bytes included, so it is replaced in one atomic
// write and is never half new.
type Journal struct {
	ID         string              `json:"id"`
	Dir        string              `json:"-"` // the node's path: JournalDir/ID
	Created    time.Time           `json:"created"`
	Strategies []string            `json:"strategies"`
	Snapshots  []*hostcfg.Snapshot `json:"snapshots"`
	Units      []string            `json:"units_restarted"`
	// Dirs are the folders the run made, parents first; rollback removes
	// them again when they are still empty.
	Dirs  []string `json:"dirs_created,omitempty"`
	State RunState `json:"state"`

	root *hostcfg.Root
}

// journalFile is the manifest on disk: the journal and the format's version.
type journalFile struct {
	Version int `json:"version"`
	*Journal
}

// NewRunID returns an ID that sorts by time (UTC, to the second) and tells
// two runs of the same second apart: 20261125T203500Z-1a2b.
func NewRunID(now time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// runIDPattern keeps an ID a single harmless path component: IDs come from
// the command line (rollback --run ID).
var runIDPattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$`)

func checkRunID(id string) error {
	if !runIDPattern.MatchString(id) {
		return fmt.Errorf("run ID %q: want letters, digits, '.', '_' and '-' (as in 20261125T203500Z-1a2b)", id)
	}
	return nil
}

// newJournal records a run's originals before it changes anything: it makes
// JournalDir/id and writes the manifest (state started) with the snapshots of
// every path the run will touch, synced to disk before it returns. A run whose
// ID is already journaled is refused, and so are two snapshots of one path.
//
// dirs are the folders the run will make (parents first), recorded in the
// same first write of the manifest.
func newJournal(r *hostcfg.Root, id string, strategies []string, snaps []*hostcfg.Snapshot, dirs []string) (*Journal, error) {
	if err := checkRunID(id); err != nil {
		return nil, fmt.Errorf("journaling the run: %w", err)
	}
	if err := checkSnapshots(snaps); err != nil {
		return nil, fmt.Errorf("journaling run %s: %w", id, err)
	}
	j := &Journal{
		ID:         id,
		Dir:        path.Join(JournalDir, id),
		Created:    time.Now().UTC(),
		Strategies: slices.Clone(strategies),
		Snapshots:  slices.Clone(snaps),
		Dirs:       slices.Clone(dirs),
		State:      RunStarted,
		root:       r,
	}
	if _, err := r.Lstat(j.Dir); err == nil {
		return nil, fmt.Errorf("journaling run %s: %s already exists", id, j.Dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("journaling run %s: %w", id, err)
	}
	// The parents are ordinary system folders; the run's own folders hold
	// copies of configuration that may be private.
	if err := r.MkdirAll(path.Dir(path.Dir(JournalDir)), 0o755); err != nil {
		return nil, fmt.Errorf("journaling run %s: %w", id, err)
	}
	if err := r.MkdirAll(j.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("journaling run %s: %w", id, err)
	}
	if err := j.save(r); err != nil {
		return nil, err
	}
	return j, nil
}

func checkSnapshots(snaps []*hostcfg.Snapshot) error {
	seen := make(map[string]bool, len(snaps))
	for i, s := range snaps {
		if s == nil {
			return fmt.Errorf("snapshot %d is empty", i)
		}
		if s.Path == "" || s.Path != path.Clean(s.Path) || !path.IsAbs(s.Path) {
			return fmt.Errorf("snapshot %d: path %q is not a clean absolute path", i, s.Path)
		}
		if seen[s.Path] {
			return fmt.Errorf("%s is snapshotted twice", s.Path)
		}
		seen[s.Path] = true
		if s.Exists && s.Link != "" && len(s.Data) > 0 {
			return fmt.Errorf("snapshot of %s is both a link and a file", s.Path)
		}
	}
	return nil
}

// SetUnits records the units the run restarted, so a rollback can name them.
func (j *Journal) SetUnits(units []string) error {
	j.Units = slices.Clone(units)
	return j.save(j.root)
}

// SetState records how far the run got.
func (j *Journal) SetState(state RunState) error {
	j.State = state
	return j.save(j.root)
}

func (j *Journal) manifestPath() string { return path.Join(j.Dir, journalManifest) }

// save replaces the manifest atomically and durably (hostcfg.WriteFile syncs
// the file and its folder).
func (j *Journal) save(r *hostcfg.Root) error {
	data, err := j.encode()
	if err != nil {
		return fmt.Errorf("journaling run %s: %w", j.ID, err)
	}
	if len(data) > maxManifestSize {
		// LoadJournal could not read it back: refuse now, before any change.
		return hostcfg.Errorf(j.manifestPath(), 0, "the originals take %d bytes, more than the %d a manifest may have", len(data), maxManifestSize)
	}
	if err := r.WriteFile(j.manifestPath(), data, 0o600, -1, -1); err != nil {
		return fmt.Errorf("journaling run %s: %w", j.ID, err)
	}
	return nil
}

func (j *Journal) encode() ([]byte, error) {
	data, err := json.MarshalIndent(journalFile{Version: journalVersion, Journal: j}, "", "  ")
	return append(data, '\n'), err
}

// LoadJournal reads the run id back from the node. A run that isn't there
// wraps ErrNoRun.
func LoadJournal(r *hostcfg.Root, id string) (*Journal, error) {
	if err := checkRunID(id); err != nil {
		return nil, err
	}
	p := path.Join(JournalDir, id, journalManifest)
	data, err := r.ReadFileMax(p, maxManifestSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("run %s: %w under %s", id, ErrNoRun, JournalDir)
	}
	if err != nil {
		return nil, fmt.Errorf("loading run %s: %w", id, err)
	}
	j, err := decodeJournal(p, data)
	if err != nil {
		return nil, err
	}
	if j.ID != id {
		return nil, hostcfg.Errorf(p, 0, "the manifest is for run %q, not %q", j.ID, id)
	}
	j.Dir, j.root = path.Join(JournalDir, id), r
	return j, nil
}

// decodeJournal parses and checks a manifest; p names it in errors.
func decodeJournal(p string, data []byte) (*Journal, error) {
	j := &Journal{}
	f := journalFile{Journal: j}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, hostcfg.Errorf(p, jsonErrorLine(data, err), "not a run manifest: %w", err)
	}
	if dec.More() {
		return nil, hostcfg.Errorf(p, 0, "not a run manifest: data after the JSON object")
	}
	if f.Version != journalVersion {
		return nil, hostcfg.Errorf(p, 0, "manifest version %d, this unloop reads %d", f.Version, journalVersion)
	}
	if err := checkRunID(j.ID); err != nil {
		return nil, hostcfg.Errorf(p, 0, "%w", err)
	}
	switch j.State {
	case RunStarted, RunApplied, RunRolledBack:
	default:
		return nil, hostcfg.Errorf(p, 0, "unknown run state %q", j.State)
	}
	if err := checkSnapshots(j.Snapshots); err != nil {
		return nil, hostcfg.Errorf(p, 0, "%w", err)
	}
	return j, nil
}

// jsonErrorLine turns the byte offset of a JSON error into a line (0: unknown).
func jsonErrorLine(data []byte, err error) int {
	var off int64
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	default:
		return 0
	}
	off = min(max(off, 0), int64(len(data)))
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

// LastJournal loads the newest run by ID. Folders without a manifest are runs
// that stopped before their originals were journaled, so before any change:
// they are skipped. No run at all wraps ErrNoRun.
func LastJournal(r *hostcfg.Root) (*Journal, error) {
	ents, err := r.ReadDir(JournalDir)
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && checkRunID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	slices.Sort(ids)
	// IDs sort by their second; within one second (a crashed run and the
	// apply that recovers it) the manifests' Created times decide.
	var last *Journal
	for _, id := range slices.Backward(ids) {
		if last != nil && runSecond(id) != runSecond(last.ID) {
			break
		}
		if _, err := r.Lstat(path.Join(JournalDir, id, journalManifest)); err != nil {
			continue
		}
		j, err := LoadJournal(r, id)
		if err != nil {
			return nil, err
		}
		if last == nil || j.Created.After(last.Created) {
			last = j
		}
	}
	if last == nil {
		return nil, fmt.Errorf("%w under %s", ErrNoRun, JournalDir)
	}
	return last, nil
}

// Journals reads every journaled run, newest first in the order LastJournal
// uses (by the ID's second, then by Created), so the first is what rollback
// undoes. No journal at all is no runs; a folder without a manifest (a run
// stopped before any change) is skipped. It changes nothing on the node.
func Journals(r *hostcfg.Root) ([]*Journal, error) {
	ents, err := r.ReadDir(JournalDir)
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	runs := []*Journal{}
	for _, e := range ents {
		if !e.IsDir() || checkRunID(e.Name()) != nil {
			continue
		}
		if _, err := r.Lstat(path.Join(JournalDir, e.Name(), journalManifest)); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		j, err := LoadJournal(r, e.Name())
		if err != nil {
			return nil, err
		}
		runs = append(runs, j)
	}
	slices.SortFunc(runs, func(a, b *Journal) int {
		if c := strings.Compare(runSecond(b.ID), runSecond(a.ID)); c != 0 {
			return c
		}
		return b.Created.Compare(a.Created)
	})
	return runs, nil
}

// runSecond is the time part of a run ID (20261125T203500Z of 20261125T203500Z-1a2b).
func runSecond(id string) string {
	s, _, _ := strings.Cut(id, "-")
	return s
}

// Rollback puts every journaled path back as it was, last first, and goes on
// past a path that fails so that as much as possible is restored; the error
// joins every failure, each naming its path. Only when all are back is the run
// marked rolled-back, so a failed rollback can be run again; rolling back twice
// is harmless (a path already as recorded is not touched). Restarting the
// units again is the caller's job.
func (j *Journal) Rollback(r *hostcfg.Root) error {
	var errs []error
	for _, s := range slices.Backward(j.Snapshots) {
		if err := restore(r, s); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range slices.Backward(j.Dirs) {
		// A folder someone has put a file in since is theirs now: keep it.
		if err := r.Remove(d); err != nil && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("rolling back run %s: %w", j.ID, errors.Join(errs...))
	}
	j.root = r
	if err := j.SetState(RunRolledBack); err != nil {
		return fmt.Errorf("rolling back run %s: files restored, but %w: %w", j.ID, errUnmarked, err)
	}
	return nil
}

// restore puts one path back. A file of someone else's that unloop spliced its
// block into (RHEL's dhclient-enter-hooks) gets the block removed by its
// markers rather than the whole file restored: what its owner changed since
// stays, and when nothing did the result is the original byte for byte.
func restore(r *hostcfg.Root, s *hostcfg.Snapshot) error {
	if !s.Exists || s.Link != "" {
		return r.Restore(s)
	}
	if _, _, had, err := findBlock(s.Path, s.Data); err != nil || had {
		return r.Restore(s)
	}
	cur, err := r.Snapshot(s.Path)
	if err != nil || !cur.Exists || cur.Link != "" {
		return r.Restore(s)
	}
	out, found, err := removeBlock(s.Path, cur.Data)
	if err != nil {
		return err
	}
	if !found {
		return r.Restore(s)
	}
	return r.WriteFile(s.Path, out, cur.Mode, cur.UID, cur.GID)
}

// errUnmarked: every path is back, but the manifest could not be rewritten to
// say so (a full disk has no room for its temp file).
var errUnmarked = errors.New("the run could not be marked rolled back")

// forget removes the manifest and the run's folder, which needs no room on a
// full disk. Only for a run that apply undid itself: without its manifest no
// later apply replays it over what changed on the node since.
func (j *Journal) forget(r *hostcfg.Root) error {
	if err := r.Remove(j.manifestPath()); err != nil {
		return err
	}
	_ = r.Remove(j.Dir) // empty unless a killed write left a temp file
	return nil
}
