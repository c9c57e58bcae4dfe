// Command image writes unloop's container image as an OCI image archive (an
// OCI image layout in a tar), with no Docker daemon and no registry: one
// image per architecture under one index, named NAME:TAG (`make image` runs
// it).
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
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
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
	data, err := archive(ref, tag, images)
	if err != nil {
		return err
	}
	tmp := *out + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
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

// A blob is one content-addressed file of the layout.
type blob struct {
	mediaType, digest string
	data              []byte
}

func newBlob(mediaType string, data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{mediaType, "sha256:" + hex.EncodeToString(sum[:]), data}
}

func jsonBlob(mediaType string, v any) blob {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps, slices, strings and numbers
	}
	return newBlob(mediaType, data)
}

func (b blob) descriptor(extra map[string]any) map[string]any {
	d := map[string]any{"mediaType": b.mediaType, "digest": b.digest, "size": len(b.data)}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// archive is the layout's tar: index.json names one index (ref under
// containerd's, podman's and docker's annotation, tag under the OCI one),
// which lists one manifest per architecture.
func archive(ref, tag string, images []image) ([]byte, error) {
	var blobs []blob
	var manifests []any
	for _, img := range images {
		layer, diffID, err := layerOf(img.bin)
		if err != nil {
			return nil, err
		}
		config := jsonBlob(mediaConfig, map[string]any{
			"architecture": img.arch, "os": "linux",
			"config": map[string]any{
				"Entrypoint": []string{binPath},
				"Env":        []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
				"Labels":     map[string]string{"org.opencontainers.image.version": tag},
			},
			"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		})
		manifest := jsonBlob(mediaManifest, map[string]any{
			"schemaVersion": 2, "mediaType": mediaManifest,
			"config": config.descriptor(nil),
			"layers": []any{layer.descriptor(nil)},
		})
		blobs = append(blobs, layer, config, manifest)
		manifests = append(manifests, manifest.descriptor(map[string]any{
			"platform": map[string]string{"architecture": img.arch, "os": "linux"},
		}))
	}
	index := jsonBlob(mediaIndex, map[string]any{"schemaVersion": 2, "mediaType": mediaIndex, "manifests": manifests})
	blobs = append(blobs, index)
	top, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": mediaIndex,
		"manifests": []any{index.descriptor(map[string]any{"annotations": map[string]string{
			"io.containerd.image.name":          ref,
			"org.opencontainers.image.ref.name": tag,
		}})},
	})
	if err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	files := []blob{{digest: "oci-layout", data: []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {digest: "index.json", data: top}}
	for _, b := range blobs {
		files = append(files, blob{digest: "blobs/sha256/" + strings.TrimPrefix(b.digest, "sha256:"), data: b.data})
	}
	for _, f := range files {
		if err := writeFile(tw, f.digest, 0o644, f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// epoch is every entry's time: the same binaries give the same archive.
var epoch = time.Unix(0, 0)

// layerOf is the image's one layer, gzipped, and its diff ID (the digest of
// the tar before gzip).
func layerOf(bin []byte) (blob, string, error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, d := range []string{"dev/", "etc/", "proc/", "run/", "sys/", "tmp/", "usr/", "usr/bin/", "var/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, ModTime: epoch}); err != nil {
			return blob{}, "", err
		}
	}
	if err := writeFile(tw, strings.TrimPrefix(binPath, "/"), 0o755, bin); err != nil {
		return blob{}, "", err
	}
	if err := tw.Close(); err != nil {
		return blob{}, "", err
	}
	sum := sha256.Sum256(raw.Bytes())
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return blob{}, "", err
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return blob{}, "", err
	}
	if err := zw.Close(); err != nil {
		return blob{}, "", err
	}
	return newBlob(mediaLayer, gz.Bytes()), "sha256:" + hex.EncodeToString(sum[:]), nil
}

func writeFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}
