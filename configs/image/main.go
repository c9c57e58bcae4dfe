// Command image writes unloop's container image as an OCI image archive (an
// OCI image layout in a tar), with no Docker daemon and no registry: one
// image per architecture under one index, named NAME:TAG (`make image` runs
// it). go-containerregistry builds the images, the index and the layout; this
// command writes the layer's files and tars the layout.
//
//	go run . -name unloop:0.1.0 -bin amd64=../../dist/bin/amd64/unloop -bin arm64=../../dist/bin/arm64/unloop -o ../../dist/unloop-0.1.0.tar
//
// Each image is one gzipped layer: the static binary at /usr/bin/unloop and
// the folders a container runtime mounts over. Its entrypoint is unloop;
// the DaemonSet gives the command (configs/kubernetes/daemonset.yaml).
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	imagespec "github.com/opencontainers/image-spec/specs-go/v1"
)

// binPath is where the binary is in the image.
const binPath = "/usr/bin/unloop"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

// binFlags is -bin ARCH=FILE, repeated.
type binFlags map[string]string

func (b binFlags) String() string { return fmt.Sprint(map[string]string(b)) }

func (b binFlags) Set(v string) error {
	arch, file, ok := strings.Cut(v, "=")
	if !ok || arch == "" || file == "" {
		return fmt.Errorf("want ARCH=FILE, got %q", v)
	}
	if _, dup := b[arch]; dup {
		return fmt.Errorf("%s given twice", arch)
	}
	b[arch] = file
	return nil
}

func run(args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	name := fs.String("name", "", "the image's name and tag (unloop:0.1.0)")
	out := fs.String("o", "", "the archive to write")
	bins := binFlags{}
	fs.Var(bins, "bin", "ARCH=FILE: the static unloop for a Go architecture (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" || *out == "" || len(bins) == 0 || fs.NArg() > 0 {
		return fmt.Errorf("usage: image -name NAME:TAG -bin ARCH=FILE... -o OUT.tar")
	}
	ref, tag, err := reference(*name)
	if err != nil {
		return err
	}
	var images []image
	for _, arch := range slices.Sorted(maps.Keys(bins)) {
		data, err := os.ReadFile(bins[arch])
		if err != nil {
			return err
		}
		images = append(images, image{arch: arch, bin: data})
	}
	idx, err := index(ref, tag, images)
	if err != nil {
		return err
	}
	tmp := *out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // a no-op once renamed
	if err := archive(f, idx); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, *out)
}

// reference is name as a full reference (docker.io/library/unloop:0.1.0:
// what containerd's CRI looks up for a pod's `image: unloop:0.1.0`) and its
// tag. name must carry a tag.
func reference(name string) (full, tag string, err error) {
	i := strings.LastIndex(name, ":")
	if i <= strings.LastIndex(name, "/") || i == len(name)-1 {
		return "", "", fmt.Errorf("image name %q has no tag (want NAME:TAG)", name)
	}
	repo, tag := name[:i], name[i+1:]
	first, _, hasSlash := strings.Cut(repo, "/")
	switch {
	case !hasSlash:
		repo = "docker.io/library/" + repo
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		repo = "docker.io/" + repo
	}
	return repo + ":" + tag, tag, nil
}

// An image is one architecture's binary.
type image struct {
	arch string
	bin  []byte
}

// epoch is every time in the archive (tar entries, the config's created,
// its history): the same binaries give the same archive.
var epoch = time.Unix(0, 0).UTC()

// index is the layout's top index: one entry naming (ref under containerd's,
// podman's and docker's annotation, tag under the OCI one) an image index
// that lists one manifest per architecture, in the order given.
func index(ref, tag string, images []image) (v1.ImageIndex, error) {
	var adds []mutate.IndexAddendum
	for _, img := range images {
		im, err := imageOf(img, tag)
		if err != nil {
			return nil, fmt.Errorf("the %s image: %w", img.arch, err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: im, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "linux", Architecture: img.arch},
		}})
	}
	// empty.Index is already OCI; said again so that it can't drift to a
	// Docker manifest list.
	archs := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
	named := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: archs, Descriptor: v1.Descriptor{
		Annotations: map[string]string{
			"io.containerd.image.name":  ref,
			imagespec.AnnotationRefName: tag,
		},
	}})
	return mutate.IndexMediaType(named, types.OCIImageIndex), nil
}

// imageOf is one architecture's OCI image: its layer, and a config that runs
// unloop.
func imageOf(img image, tag string) (v1.Image, error) {
	raw, err := layerTar(img.bin)
	if err != nil {
		return nil, err
	}
	// Gzip at the best level, as the archive always was: the layer's digest
	// (and the archive's bytes) stay what they were for the same binary.
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	base, err = mutate.ConfigFile(base, &v1.ConfigFile{
		Architecture: img.arch,
		OS:           "linux",
		Created:      v1.Time{Time: epoch},
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Entrypoint: []string{binPath},
			Env:        []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
			Labels:     map[string]string{imagespec.AnnotationVersion: tag},
		},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{Created: v1.Time{Time: epoch}}})
}

// layerTar is the image's one layer before gzip: the binary and the folders
// a container runtime mounts over.
func layerTar(bin []byte) ([]byte, error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, d := range []string{"dev/", "etc/", "proc/", "run/", "sys/", "tmp/", "usr/", "usr/bin/", "var/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	if err := writeFile(tw, strings.TrimPrefix(binPath, "/"), 0o755, bytes.NewReader(bin), int64(len(bin))); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return raw.Bytes(), nil
}

// archive writes idx to w as an OCI image archive: layout.Write lays it out
// in a temporary folder, and this tars that folder. go-containerregistry's
// tarball package writes Docker-save archives (manifest.json, no index.json),
// not OCI archives, so the tar is written here: the layout's metadata first,
// then the blobs by digest, every entry owned by root at the epoch with a fixed
// mode (not the umask's), so the same images give the same bytes.
func archive(w io.Writer, idx v1.ImageIndex) error {
	dir, err := os.MkdirTemp("", "unloop-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if _, err := layout.Write(dir, idx); err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	blobs, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	names := []string{"oci-layout", "index.json"}
	for _, b := range blobs { // ReadDir sorts by name
		names = append(names, "blobs/sha256/"+b.Name())
	}
	for _, name := range names {
		if err := tarFile(tw, dir, name); err != nil {
			return err
		}
	}
	return tw.Close()
}

// tarFile copies dir/name into tw as name.
func tarFile(tw *tar.Writer, dir, name string) error {
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s in the layout is not a file", name)
	}
	return writeFile(tw, name, 0o644, f, st.Size())
}

func writeFile(tw *tar.Writer, name string, mode int64, r io.Reader, size int64) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: size, ModTime: epoch}); err != nil {
		return err
	}
	_, err := io.CopyN(tw, r, size)
	return err
}
