package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readArchive is the archive's files by name.
func readArchive(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			files[h.Name] = must(io.ReadAll(tr))
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func decode(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int               `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	} `json:"platform"`
}

// blobOf is the blob d names, checked against its digest and size.
func blobOf(t *testing.T, files map[string][]byte, d descriptor) []byte {
	t.Helper()
	data, ok := files["blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:")]
	sum := sha256.Sum256(data)
	if !ok || "sha256:"+hex.EncodeToString(sum[:]) != d.Digest || len(data) != d.Size {
		t.Fatalf("blob %s (%d bytes): missing or not what its descriptor says", d.Digest, d.Size)
	}
	return data
}

// TestImage reads the archive back as a runtime would: index.json names
// the image (containerd's full reference, the OCI tag), its index has one
// manifest per architecture, and each image runs that architecture's
// binary from /usr/bin/unloop; every blob matches its digest. The same
// binaries give the same archive.
func TestImage(t *testing.T) {
	dir := t.TempDir()
	bins := map[string]string{"amd64": "binary for amd64", "arm64": "binary for arm64"}
	args := []string{"-name", "unloop:1.2.3", "-o", filepath.Join(dir, "a.tar")}
	for arch, data := range bins {
		p := filepath.Join(dir, arch)
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-bin", arch+"="+p)
	}
	if err := run(args); err != nil {
		t.Fatal(err)
	}
	data := must(os.ReadFile(filepath.Join(dir, "a.tar")))
	files := readArchive(t, data)
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout: %s", files["oci-layout"])
	}
	var top struct{ Manifests []descriptor }
	if err := json.Unmarshal(files["index.json"], &top); err != nil || len(top.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, files["index.json"])
	}
	named := top.Manifests[0]
	if named.MediaType != mediaIndex || named.Annotations["io.containerd.image.name"] != "docker.io/library/unloop:1.2.3" ||
		named.Annotations["org.opencontainers.image.ref.name"] != "1.2.3" {
		t.Errorf("index.json names %+v", named)
	}
	var index struct{ Manifests []descriptor }
	decode(t, blobOf(t, files, named), &index)
	seen := map[string]bool{}
	for _, m := range index.Manifests {
		if m.Platform == nil || m.Platform.OS != "linux" || m.MediaType != mediaManifest {
			t.Fatalf("manifest %+v", m)
		}
		arch := m.Platform.Architecture
		seen[arch] = true
		var man struct {
			Config descriptor
			Layers []descriptor
		}
		decode(t, blobOf(t, files, m), &man)
		var config struct {
			Architecture string
			Config       struct{ Entrypoint []string }
			RootFS       struct {
				DiffIDs []string `json:"diff_ids"`
			} `json:"rootfs"`
		}
		decode(t, blobOf(t, files, man.Config), &config)
		if config.Architecture != arch || len(config.Config.Entrypoint) != 1 || config.Config.Entrypoint[0] != "/usr/bin/unloop" || len(man.Layers) != 1 {
			t.Fatalf("%s: config %+v, %d layers", arch, config, len(man.Layers))
		}
		raw := must(io.ReadAll(must(gzip.NewReader(bytes.NewReader(blobOf(t, files, man.Layers[0]))))))
		sum := sha256.Sum256(raw)
		if len(config.RootFS.DiffIDs) != 1 || config.RootFS.DiffIDs[0] != "sha256:"+hex.EncodeToString(sum[:]) {
			t.Errorf("%s: diff IDs %v do not match the layer", arch, config.RootFS.DiffIDs)
		}
		tr := tar.NewReader(bytes.NewReader(raw))
		var bin string
		for h, err := tr.Next(); err == nil; h, err = tr.Next() {
			if h.Name == "usr/bin/unloop" && h.Mode == 0o755 {
				bin = string(must(io.ReadAll(tr)))
			}
		}
		if bin != bins[arch] {
			t.Errorf("%s: /usr/bin/unloop (mode 0755) holds %q", arch, bin)
		}
	}
	if len(seen) != 2 || !seen["amd64"] || !seen["arm64"] {
		t.Errorf("architectures %v, want amd64 and arm64", seen)
	}

	args[3] = filepath.Join(dir, "b.tar")
	if err := run(args); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, must(os.ReadFile(args[3]))) {
		t.Error("the same binaries gave another archive")
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
