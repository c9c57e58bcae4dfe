package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

var update = flag.Bool("update", false, "rewrite testdata/archive.golden")

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// build runs the command for the binaries in bins (arch to content), given
// in the order of archs, and is the archive it wrote.
func build(t *testing.T, name string, bins map[string]string, archs ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "out.tar")
	args := []string{"-name", name, "-o", out}
	for _, arch := range archs {
		p := filepath.Join(dir, arch)
		if err := os.WriteFile(p, []byte(bins[arch]), 0o755); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-bin", arch+"="+p)
	}
	if err := run(args); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("the temporary archive is left behind (%v)", err)
	}
	return must(os.ReadFile(out))
}

// An entry is one tar header and its content.
type entry struct {
	h    *tar.Header
	data []byte
}

// entries reads the archive as a plain tar reader does, and checks what
// every entry of it has in common: root's, at the epoch, a fixed mode.
func entries(t *testing.T, data []byte) []entry {
	t.Helper()
	var es []entry
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return es
		}
		if err != nil {
			t.Fatal(err)
		}
		mode := map[byte]int64{tar.TypeDir: 0o755, tar.TypeReg: 0o644}[h.Typeflag]
		if h.Mode != mode || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(epoch) || h.Format != tar.FormatUSTAR {
			t.Errorf("%s: mode %o, owner %d:%d (%q:%q), time %v, format %v; want %o, root's, at the epoch, ustar",
				h.Name, h.Mode, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime, h.Format, mode)
		}
		es = append(es, entry{h, must(io.ReadAll(tr))})
	}
}

// TestImage reads the archive back as a runtime would: a plain tar of an
// OCI layout (the folders, oci-layout and index.json, then the blobs by
// digest) that go-containerregistry's layout reader opens and validates
// (every digest, size and diff ID). index.json names the image
// (containerd's full reference, the OCI tag); its index has one manifest per
// architecture, in the order of the architectures' names; each image runs
// that architecture's binary from /usr/bin/unloop. The same binaries give
// the same archive, in whatever order they are given.
func TestImage(t *testing.T) {
	bins := map[string]string{"amd64": "binary for amd64", "arm64": "binary for arm64"}
	data := build(t, "unloop:1.2.3", bins, "amd64", "arm64")

	es := entries(t, data)
	var names []string
	dir := t.TempDir()
	for _, e := range es {
		names = append(names, e.h.Name)
		p := filepath.Join(dir, filepath.FromSlash(e.h.Name))
		if e.h.Typeflag == tar.TypeDir {
			check(t, os.MkdirAll(p, 0o755))
		} else {
			check(t, os.WriteFile(p, e.data, 0o644))
		}
	}
	if len(names) < 4 || !slices.Equal(names[:4], []string{"blobs/", "blobs/sha256/", "oci-layout", "index.json"}) ||
		!slices.IsSorted(names[4:]) || len(names) != 4+7 {
		t.Errorf("entries %q; want blobs/, blobs/sha256/, oci-layout, index.json and 7 blobs by digest", names)
	}
	var version struct{ ImageLayoutVersion string }
	if err := json.Unmarshal(es[2].data, &version); err != nil || version.ImageLayoutVersion != "1.0.0" {
		t.Errorf("oci-layout: %v %s", err, es[2].data)
	}

	p := must(layout.FromPath(dir))
	top := must(p.ImageIndex())
	if err := validate.Index(top); err != nil {
		t.Fatalf("the layout does not validate: %v", err)
	}
	tm := must(top.IndexManifest())
	if tm.MediaType != types.OCIImageIndex || len(tm.Manifests) != 1 {
		t.Fatalf("index.json: %s", es[3].data)
	}
	named := tm.Manifests[0]
	want := map[string]string{"io.containerd.image.name": "docker.io/library/unloop:1.2.3", "org.opencontainers.image.ref.name": "1.2.3"}
	if named.MediaType != types.OCIImageIndex || fmt.Sprint(named.Annotations) != fmt.Sprint(want) {
		t.Errorf("index.json names %+v; want an OCI index annotated %v", named, want)
	}
	idx := must(top.ImageIndex(named.Digest))
	im := must(idx.IndexManifest())
	var archs []string
	for _, m := range im.Manifests {
		if m.Platform == nil || m.Platform.OS != "linux" || m.Platform.Variant != "" || m.MediaType != types.OCIManifestSchema1 {
			t.Fatalf("manifest %+v", m)
		}
		arch := m.Platform.Architecture
		archs = append(archs, arch)
		img := must(idx.Image(m.Digest))
		man := must(img.Manifest())
		if man.MediaType != types.OCIManifestSchema1 || man.Config.MediaType != types.OCIConfigJSON || len(man.Layers) != 1 || man.Layers[0].MediaType != types.OCILayer {
			t.Errorf("%s: manifest %+v; want OCI media types and one gzipped layer", arch, man)
		}
		cf := must(img.ConfigFile())
		c := cf.Config
		if cf.Architecture != arch || cf.OS != "linux" || !cf.Created.Equal(epoch) ||
			!slices.Equal(c.Entrypoint, []string{"/usr/bin/unloop"}) || c.Cmd != nil || c.User != "" || c.WorkingDir != "" ||
			!slices.Equal(c.Env, []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}) ||
			fmt.Sprint(c.Labels) != "map[org.opencontainers.image.version:1.2.3]" {
			t.Errorf("%s: config %+v", arch, cf)
		}
		layers := must(img.Layers())
		// The layer is gzipped as it always was (compress/gzip, best
		// level, no name or time): its digest stays for the same binary.
		var gz bytes.Buffer
		zw := must(gzip.NewWriterLevel(&gz, gzip.BestCompression))
		must(zw.Write(must(layerTar([]byte(bins[arch])))))
		check(t, zw.Close())
		if got := must(io.ReadAll(must(layers[0].Compressed()))); !bytes.Equal(got, gz.Bytes()) {
			t.Errorf("%s: the layer is not layerTar's tar gzipped at the best level", arch)
		}
		rc := must(layers[0].Uncompressed())
		tr := tar.NewReader(rc)
		var files []string
		var bin string
		for h, err := tr.Next(); err == nil; h, err = tr.Next() {
			files = append(files, fmt.Sprintf("%s %o", h.Name, h.Mode))
			if h.Name == "usr/bin/unloop" {
				bin = string(must(io.ReadAll(tr)))
			}
		}
		rc.Close()
		wantFiles := []string{"dev/ 755", "etc/ 755", "proc/ 755", "run/ 755", "sys/ 755", "tmp/ 1777", "usr/ 755", "usr/bin/ 755", "var/ 755", "usr/bin/unloop 755"}
		if !slices.Equal(files, wantFiles) || bin != bins[arch] {
			t.Errorf("%s: the layer holds %q, /usr/bin/unloop %q; want %q, %q", arch, files, bin, wantFiles, bins[arch])
		}
	}
	if !slices.Equal(archs, []string{"amd64", "arm64"}) {
		t.Errorf("architectures %v, want amd64 and arm64", archs)
	}

	if again := build(t, "unloop:1.2.3", bins, "arm64", "amd64"); !bytes.Equal(data, again) {
		t.Errorf("the same binaries gave another archive: sha256 %x, then %x", sha256.Sum256(data), sha256.Sum256(again))
	}
}

// TestArchiveGolden pins the archive's bytes for given binaries: its entries,
// every JSON file of it, and its sha256. A change here (a new
// go-containerregistry, say) changes every image's digest: review it, then
// run go test -update.
func TestArchiveGolden(t *testing.T) {
	data := build(t, "unloop:1.2.3", map[string]string{"amd64": "binary for amd64", "arm64": "binary for arm64"}, "amd64", "arm64")
	var b strings.Builder
	for _, e := range entries(t, data) {
		fmt.Fprintf(&b, "%s %o %d\n", e.h.Name, e.h.Mode, e.h.Size)
		if json.Valid(e.data) {
			fmt.Fprintf(&b, "\t%s\n", bytes.ReplaceAll(bytes.TrimSpace(e.data), []byte("\n"), []byte("\n\t")))
		}
	}
	fmt.Fprintf(&b, "sha256 %x\n", sha256.Sum256(data))
	golden := filepath.Join("testdata", "archive.golden")
	if *update {
		check(t, os.MkdirAll("testdata", 0o755))
		check(t, os.WriteFile(golden, []byte(b.String()), 0o644))
	}
	if want := string(must(os.ReadFile(golden))); b.String() != want {
		t.Errorf("the archive is not %s (go test -update rewrites it):\n%s", golden, b.String())
	}
}

func TestReference(t *testing.T) {
	for _, tc := range []struct{ name, full, tag string }{
		{"unloop:1.2.3", "docker.io/library/unloop:1.2.3", "1.2.3"},
		{"me/unloop:v1", "docker.io/me/unloop:v1", "v1"},
		{"registry.example:5000/ops/unloop:v1-dirty", "registry.example:5000/ops/unloop:v1-dirty", "v1-dirty"},
		{"localhost/unloop:dev", "localhost/unloop:dev", "dev"},
	} {
		full, tag, err := reference(tc.name)
		if err != nil || full != tc.full || tag != tc.tag {
			t.Errorf("reference(%q) = %q, %q, %v; want %q, %q", tc.name, full, tag, err, tc.full, tc.tag)
		}
	}
	for _, bad := range []string{"unloop", "registry.example:5000/unloop", "unloop:"} {
		if _, _, err := reference(bad); err == nil {
			t.Errorf("reference(%q): no error", bad)
		}
	}
}
