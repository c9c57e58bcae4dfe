package node

import "github.com/unloop/unloop/remediate/finding"

// The finding types live in remediate/finding, a leaf package, so that the
// sources here and the packages that print and act on findings share them
// without a cycle. node's API keeps the names of the types it returns; the
// codes are spelled finding.CodeX everywhere.
type (
	Code    = finding.Code
	Finding = finding.Finding
	Ignore  = finding.Ignore
	Loop    = finding.Loop
	Reader  = finding.Reader
)

// Status is "error" if any finding is an error, else "warning" if any is a
// warning, else "ok". Ignored findings do not count.
func Status(fs []Finding) string { return finding.Status(fs) }
