// Package journal is apply's journal: the originals of every path a run
// touches, kept on the node (Dir/ID/manifest.json) before the first write,
// and the rollback that puts them back while a path still holds what the run
// left there. It knows files (hostcfg), not strategies or units: the run's
// units are recorded for remediate to restart.
package journal

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/diff"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/block"
)

// Dir is the node's folder that holds one folder per run, named by its ID.
const Dir = "/var/lib/unloop/runs"

const (
	journalManifest = "manifest.json"
	// journalVersion 2 added what the run left at each path, the files'
	// extended attributes and the conflict state. Version 1 is still read.
	journalVersion = 2
	// maxManifestSize bounds a manifest: it holds the originals of a run's
	// files (each at most hostcfg.MaxFileSize), base64 in JSON.
	maxManifestSize = 8 * hostcfg.MaxFileSize
)

// journalRoot is the folder above Dir that unloop makes too.
const journalRoot = "/var/lib/unloop"

// RunState is how far a run got; the manifest records it after each step.
type RunState string

const (
	RunStarted    RunState = "started"     // originals journaled; changes may be half made
	RunApplied    RunState = "applied"     // every change made and verified
	RunRolledBack RunState = "rolled-back" // every original put back
	// RunConflict: a rollback restored some paths and refused others,
	// which hold content newer than the run's (an admin's edit, a DHCP
	// renew); Refused names them.
	RunConflict RunState = "conflict"
)

// Crashpoint, when set (remediate's crashtest build), is called after each
// path a rollback restored, so tests can kill or signal a rollback midway.
var Crashpoint func(name string)

// ErrNoRun is returned (wrapped) when there is no journaled run to load.
var ErrNoRun = errors.New("no run journaled")

// Journal is one run of apply: the originals of every path it touches, kept
// under Dir on the node until rollback needs them. The manifest holds
// everything, the originals' bytes included, so it is replaced in one atomic
// write and is never half new.
type Journal struct {
	ID         string              `json:"id"`
	Dir        string              `json:"-"` // the node's path: Dir/ID
	Created    time.Time           `json:"created"`
	Strategies []string            `json:"strategies"`
	Snapshots  []*hostcfg.Snapshot `json:"snapshots"`
	Units      []string            `json:"units_restarted"`
	// Dirs are the folders the run made, parents first; rollback removes
	// them again when they are still empty.
	Dirs  []string `json:"dirs_created,omitempty"`
	State RunState `json:"state"`
	// Left is what the run put at each path (version 2): a rollback restores
	// a path only while it holds that or its original, never newer content.
	Left []Left `json:"left,omitempty"`
	// Refused are the paths the last rollback left alone (state conflict).
	Refused []string `json:"refused,omitempty"`
	// ConfigMaps are the ConfigMap keys the run changes through the API,
	// written after every file (an addition to version 2: older manifests
	// have none).
	ConfigMaps []ConfigMap `json:"configmaps,omitempty"`

	root *hostcfg.Root
	// restoreCM restores ConfigMaps entries (SetConfigMapRestorer).
	restoreCM RestoreConfigMap
}

// SetConfigMapRestorer says how rollback reaches the API server for the
// run's ConfigMaps; without it, such an entry fails to roll back.
func (j *Journal) SetConfigMapRestorer(f RestoreConfigMap) { j.restoreCM = f }

// Left is what a run put at a path: nothing, a link, or a file by its bytes
// hash (the bytes themselves would double the manifest).
type Left struct {
	Path   string `json:"path"`
	Exists bool   `json:"exists"`
	Link   string `json:"link,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// holds reports whether s is exactly what the run left.
func (l *Left) holds(s *hostcfg.Snapshot) bool {
	if l == nil || s == nil || l.Exists != s.Exists {
		return false
	}
	if !l.Exists {
		return true
	}
	if l.Link != "" || s.Link != "" {
		return l.Link == s.Link
	}
	return l.SHA256 == sha256Hex(s.Data)
}

// LeftFile is a file with data that a run leaves at p.
func LeftFile(p string, data []byte) Left {
	return Left{Path: p, Exists: true, SHA256: sha256Hex(data)}
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
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

// New records a run's originals before it changes anything: it makes
// Dir/id and writes the manifest (state started) with the snapshots of
// every path the run will touch, synced to disk before it returns. A run whose
// ID is already journaled is refused, and so are two snapshots of one path.
//
// dirs are the folders the run will make (parents first), recorded in the
// same first write of the manifest.
//
// left is what the run will put at each path.
func New(r *hostcfg.Root, id string, strategies []string, snaps []*hostcfg.Snapshot, left []Left, dirs []string) (*Journal, error) {
	if err := checkRunID(id); err != nil {
		return nil, fmt.Errorf("journaling the run: %w", err)
	}
	if err := checkSnapshots(snaps); err != nil {
		return nil, fmt.Errorf("journaling run %s: %w", id, err)
	}
	if err := checkDirs(dirs, snaps); err != nil {
		return nil, fmt.Errorf("journaling run %s: %w", id, err)
	}
	if err := checkJournalRoot(r); err != nil {
		return nil, err
	}
	j := &Journal{
		ID:         id,
		Dir:        path.Join(Dir, id),
		Created:    time.Now().UTC(),
		Strategies: slices.Clone(strategies),
		Snapshots:  slices.Clone(snaps),
		Dirs:       slices.Clone(dirs),
		Left:       slices.Clone(left),
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
	if err := r.MkdirAll(path.Dir(path.Dir(Dir)), 0o755); err != nil {
		return nil, fmt.Errorf("journaling run %s: %w", id, err)
	}
	if err := r.MkdirAll(journalRoot, 0o700); err != nil {
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

// checkDirs: a folder the run makes is a parent of a file it creates, and
// never the root. A tampered list must not have rollback remove other folders.
func checkDirs(dirs []string, snaps []*hostcfg.Snapshot) error {
	for _, d := range dirs {
		if d == "" || d == "/" || d != path.Clean(d) || !path.IsAbs(d) {
			return fmt.Errorf("dirs_created: %q is not a clean absolute path below /", d)
		}
		if !slices.ContainsFunc(snaps, func(s *hostcfg.Snapshot) bool {
			return s != nil && !s.Exists && strings.HasPrefix(s.Path, d+"/")
		}) {
			return fmt.Errorf("dirs_created: %s holds no file the run created", d)
		}
	}
	return nil
}

// checkJournalRoot refuses a journal that someone other than unloop's user
// (root) could have written: its manifests say what rollback writes where.
// A link there (/var/lib on another disk) is followed inside the root, as
// every write to the journal follows it: the folder it leads to is checked.
func checkJournalRoot(r *hostcfg.Root) error {
	for _, p := range []string{journalRoot, Dir} {
		fi, err := r.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("checking the journal: %w", err)
		}
		if !fi.IsDir() {
			return hostcfg.Errorf(p, 0, "the journal's folder is not a folder: refusing to trust it")
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
			return hostcfg.Errorf(p, 0, "the journal's folder is owned by uid %d, not root: refusing to trust it (chown root)", st.Uid)
		}
		if fi.Mode().Perm()&0o022 != 0 {
			return hostcfg.Errorf(p, 0, "the journal's folder is writable by group or others (%#o): refusing to trust it (chmod go-w)", uint32(fi.Mode().Perm()))
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
		// Load could not read it back: refuse now, before any change.
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

// Load reads the run id back from the node. A run that isn't there
// wraps ErrNoRun.
func Load(r *hostcfg.Root, id string) (*Journal, error) {
	if err := checkRunID(id); err != nil {
		return nil, err
	}
	if err := checkJournalRoot(r); err != nil {
		return nil, err
	}
	p := path.Join(Dir, id, journalManifest)
	data, err := r.ReadFileMax(p, maxManifestSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("run %s: %w under %s", id, ErrNoRun, Dir)
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
	j.Dir, j.root = path.Join(Dir, id), r
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
	if f.Version < 1 || f.Version > journalVersion {
		return nil, hostcfg.Errorf(p, 0, "manifest version %d, this unloop reads versions 1 to %d: refusing a journal it does not know", f.Version, journalVersion)
	}
	if err := checkRunID(j.ID); err != nil {
		return nil, hostcfg.Errorf(p, 0, "%w", err)
	}
	switch j.State {
	case RunStarted, RunApplied, RunRolledBack, RunConflict:
	default:
		return nil, hostcfg.Errorf(p, 0, "unknown run state %q", j.State)
	}
	if err := checkSnapshots(j.Snapshots); err != nil {
		return nil, hostcfg.Errorf(p, 0, "%w", err)
	}
	if err := checkDirs(j.Dirs, j.Snapshots); err != nil {
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

// Last loads the newest run by ID. Folders without a manifest are runs
// that stopped before their originals were journaled, so before any change:
// they are skipped. No run at all wraps ErrNoRun.
func Last(r *hostcfg.Root) (*Journal, error) {
	if err := checkJournalRoot(r); err != nil {
		return nil, err
	}
	ents, err := r.ReadDir(Dir)
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
		if !hasManifest(r, id) {
			continue
		}
		j, err := Load(r, id)
		if err != nil {
			return nil, err
		}
		if last == nil || j.Created.After(last.Created) {
			last = j
		}
	}
	if last == nil {
		return nil, fmt.Errorf("%w under %s", ErrNoRun, Dir)
	}
	return last, nil
}

// List reads every journaled run, newest first in the order Last
// uses (by the ID's second, then by Created), so the first is what rollback
// undoes. No journal at all is no runs; a folder without a manifest (a run
// stopped before any change) is skipped. It changes nothing on the node.
func List(r *hostcfg.Root) ([]*Journal, error) {
	if err := checkJournalRoot(r); err != nil {
		return nil, err
	}
	ents, err := r.ReadDir(Dir)
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	runs := []*Journal{}
	for _, e := range ents {
		if !e.IsDir() || checkRunID(e.Name()) != nil {
			continue
		}
		if !hasManifest(r, e.Name()) {
			continue
		}
		j, err := Load(r, e.Name())
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

// hasManifest: run id has a manifest to load. An empty one (a disk that
// lost the write) counts as none: apply and rollback quarantine it.
func hasManifest(r *hostcfg.Root, id string) bool {
	fi, err := r.Lstat(path.Join(Dir, id, journalManifest))
	return err == nil && !(fi.Mode().IsRegular() && fi.Size() == 0)
}

// runSecond is the time part of a run ID (20261125T203500Z of 20261125T203500Z-1a2b).
func runSecond(id string) string {
	s, _, _ := strings.Cut(id, "-")
	return s
}

// Outcomes of a rollback at one path.
const (
	PathRestored     = "restored"      // put back as it was before the run
	PathUnchanged    = "unchanged"     // already as it was before the run
	PathBlockRemoved = "block-removed" // unloop's block taken out, the rest kept
	PathRefused      = "refused"       // holds newer content than the run's: kept
	PathFailed       = "failed"
)

// PathResult is what a rollback did at one path.
type PathResult struct {
	Path   string `json:"path"`
	Result string `json:"result"`
	// Diff (refused) is what --force would change: from the content there
	// now to the content before the run.
	Diff  string `json:"diff,omitempty"`
	Error string `json:"error,omitempty"`

	err error
}

// ErrConflict is returned (wrapped) when a rollback refused paths that hold
// content newer than the run's.
var ErrConflict = errors.New("paths changed since the run; their newer content was kept")

// Rollback puts every journaled path back as it was, last first, but only
// while the path holds what the run left there or its original content: a
// path with newer content (an admin's edit, a DHCP renew) is refused and
// kept, unless force. A block unloop spliced into someone else's file is
// taken out by its markers instead. It goes on past a path that fails or is
// refused, so that as much as possible is restored. With every path back the
// run is marked rolled-back; with some refused, conflict (a second rollback
// may then try them again); a failure leaves the state, so a failed rollback
// can be run again. Restarting the units again is the caller's job.
func (j *Journal) Rollback(r *hostcfg.Root, force bool) ([]PathResult, error) {
	return j.rollbackFirst(r, len(j.Snapshots), force)
}

// Undo rolls back a run that failed: only its first n journaled paths,
// those its writes may have reached; the manifest keeps them all, so a
// recovery of the run still finds every original. When every path is back
// but the manifest can't say so, the run is forgotten: left started, the
// next apply would replay it over whatever changed meanwhile.
func (j *Journal) Undo(r *hostcfg.Root, n int, log *slog.Logger) error {
	_, err := j.rollbackFirst(r, n, false)
	if errors.Is(err, errUnmarked) {
		if ferr := j.forget(r); ferr == nil {
			log.Warn("run rolled back; its journal could not be marked so and was removed", "run", j.ID, "err", err)
			return nil
		}
	}
	return err
}

// rollbackFirst is Rollback of the first n journaled paths only: those a
// failed apply's writes may have reached. The others were never written by
// the run, so whatever is there is not the run's to put back.
func (j *Journal) rollbackFirst(r *hostcfg.Root, n int, force bool) ([]PathResult, error) {
	var errs []error
	var results []PathResult
	var refused []string
	// The ConfigMaps were written last: they go back first. One the run
	// never wrote (a write that failed earlier) is unchanged, the restorer
	// decides it by the versions.
	for i := range slices.Backward(j.ConfigMaps) {
		res := j.restoreConfigMap(&j.ConfigMaps[i], force)
		switch res.Result {
		case PathFailed:
			errs = append(errs, res.err)
		case PathRefused:
			refused = append(refused, res.Path)
		}
		results = append(results, res)
	}
	for _, s := range slices.Backward(j.Snapshots[:n]) {
		res := j.restore(r, s, force)
		if Crashpoint != nil {
			Crashpoint("restored " + s.Path)
		}
		switch res.Result {
		case PathFailed:
			errs = append(errs, res.err)
		case PathRefused:
			refused = append(refused, s.Path)
		}
		results = append(results, res)
	}
	for _, d := range slices.Backward(j.Dirs) {
		// A folder someone has put a file in since is theirs now: keep it;
		// and RemoveDir removes nothing but an empty folder.
		if err := r.RemoveDir(d); err != nil && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) && !errors.Is(err, syscall.ENOTDIR) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return results, fmt.Errorf("rolling back run %s: %w", j.ID, errors.Join(errs...))
	}
	j.root = r
	state := RunRolledBack
	if len(refused) > 0 {
		state = RunConflict
	}
	j.Refused = refused
	if err := j.SetState(state); err != nil {
		if state == RunConflict {
			return results, fmt.Errorf("rolling back run %s: %w (%s), and the run could not be marked conflict: %w", j.ID, ErrConflict, strings.Join(refused, ", "), err)
		}
		return results, fmt.Errorf("rolling back run %s: files restored, but %w: %w", j.ID, errUnmarked, err)
	}
	if len(refused) > 0 {
		return results, fmt.Errorf("rolling back run %s: %w (%s); --force restores them", j.ID, ErrConflict, strings.Join(refused, ", "))
	}
	return results, nil
}

// restore puts one path back, when it may. Every write goes only over the
// very file it decided on (cur), checked again just before its rename: a
// writer that got there in between keeps its content, and the path is
// refused as if it had been there first.
func (j *Journal) restore(r *hostcfg.Root, s *hostcfg.Snapshot, force bool) PathResult {
	res := PathResult{Path: s.Path}
	fail := func(err error) PathResult {
		if errors.Is(err, hostcfg.ErrChanged) || errors.Is(err, hostcfg.ErrSwapped) {
			if now, serr := r.Snapshot(s.Path); serr == nil {
				return refuse(res, now, s, j.ID)
			}
		}
		res.Result, res.Error, res.err = PathFailed, err.Error(), err
		return res
	}
	cur, err := r.Snapshot(s.Path)
	if err != nil {
		return fail(err)
	}
	if cur.Equal(s) {
		res.Result = PathUnchanged
		return res
	}
	switch {
	case cur.SameContent(s) || j.leftAt(s.Path).holds(cur):
	case spliceable(s, cur):
		// Someone else's file unloop spliced its block into (RHEL's
		// dhclient-enter-hooks): the block goes by its markers, and what
		// its owner changed since stays.
		out, found, err := block.Remove(s.Path, cur.Data)
		if err != nil {
			return fail(err)
		}
		if found {
			if err := r.ReplaceFile(cur, out, cur.Mode, cur.UID, cur.GID); err != nil {
				return fail(err)
			}
			res.Result = PathBlockRemoved
			return res
		}
		if !force {
			return refuse(res, cur, s, j.ID)
		}
	case !force:
		return refuse(res, cur, s, j.ID)
	}
	if err := r.RestoreOver(cur, s); err != nil {
		return fail(err)
	}
	res.Result = PathRestored
	return res
}

// spliceable: the original was a file without unloop's block, and a file is
// there now (whether it holds the block, block.Remove tells).
func spliceable(orig, cur *hostcfg.Snapshot) bool {
	if !orig.Exists || orig.Link != "" || !cur.Exists || cur.Link != "" {
		return false
	}
	_, _, had, err := block.Find(orig.Path, orig.Data)
	return err == nil && !had
}

// refuse keeps the newer content at a path and says what --force would do.
func refuse(res PathResult, cur, orig *hostcfg.Snapshot, id string) PathResult {
	res.Result = PathRefused
	res.Diff = string(diff.Diff(cur.Path+" (now)", describe(cur), cur.Path+" (before run "+id+")", describe(orig)))
	return res
}

// describe is a path's content as text for a diff.
func describe(s *hostcfg.Snapshot) []byte {
	switch {
	case !s.Exists:
		return nil
	case s.Link != "":
		return []byte("symbolic link to " + s.Link + "\n")
	}
	return s.Data
}

// Paths are the paths the run journaled.
func (j *Journal) Paths() []string {
	var out []string
	for _, s := range j.Snapshots {
		out = append(out, s.Path)
	}
	for _, c := range j.ConfigMaps {
		out = append(out, c.Path)
	}
	return out
}

func (j *Journal) leftAt(p string) *Left {
	for i := range j.Left {
		if j.Left[i].Path == p {
			return &j.Left[i]
		}
	}
	return nil
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
