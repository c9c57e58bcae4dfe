// Command ociarchive writes an OCI image archive (an OCI image layout in a
// tar, what `ctr images import` reads) of one static binary: no Docker daemon
// and no registry, which this machine has neither of.
//
//	ociarchive -name unloop.test/pause:1 -bin pause -path /pause -o pause.tar [-- ARG...]
//
// The image has one uncompressed layer holding the binary at -path and the
// folders a container runtime mounts over (/etc, /tmp, /proc, /sys, /dev),
// and runs -path with the arguments after --.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"
	"time"
)

func main() {
	name := flag.String("name", "", "the image's name, with its tag")
	bin := flag.String("bin", "", "the static binary to put in the image")
	at := flag.String("path", "", "where the binary is in the image (its entrypoint)")
	out := flag.String("o", "", "the archive to write")
	arch := flag.String("arch", runtime.GOARCH, "the image's architecture")
	flag.Parse()
	if *name == "" || *bin == "" || *at == "" || *out == "" || !strings.Contains(*name, ":") {
		fmt.Fprintln(os.Stderr, "usage: ociarchive -name NAME:TAG -bin FILE -path /IN/IMAGE -o OUT.tar [-- ARG...]")
		os.Exit(2)
	}
	if err := write(*out, *name, *bin, *at, *arch, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "ociarchive: %v\n", err)
		os.Exit(1)
	}
}

// A blob is one content-addressed file of the layout.
type blob struct {
	digest string
	data   []byte
}

func newBlob(data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{"sha256:" + hex.EncodeToString(sum[:]), data}
}

func (b blob) descriptor(mediaType string, annotations map[string]string) map[string]any {
	d := map[string]any{"mediaType": mediaType, "digest": b.digest, "size": len(b.data)}
	if annotations != nil {
		d["annotations"] = annotations
	}
	return d
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of strings and numbers are marshalled
	}
	return b
}

// write builds the layer in memory (the binaries are ~100 MB at most) and
// writes the layout's tar to out through a temporary file.
func write(out, name, bin, at, arch string, args []string) error {
	layer, err := layerTar(bin, at)
	if err != nil {
		return err
	}
	lb := newBlob(layer)
	config := newBlob(mustJSON(map[string]any{
		"architecture": arch, "os": "linux",
		"config": map[string]any{"Entrypoint": []string{at}, "Cmd": args,
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		// Uncompressed: the layer's digest is its diff ID.
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{lb.digest}},
	}))
	manifest := newBlob(mustJSON(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": config.descriptor("application/vnd.oci.image.config.v1+json", nil),
		"layers": []any{lb.descriptor("application/vnd.oci.image.layer.v1.tar", nil)},
	}))
	tag := name[strings.LastIndex(name, ":")+1:]
	index := mustJSON(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []any{manifest.descriptor("application/vnd.oci.image.manifest.v1+json", map[string]string{
			// containerd names the image by the first, other tools by the second.
			"io.containerd.image.name":          name,
			"org.opencontainers.image.ref.name": tag,
		})},
	})

	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	type file struct {
		name string
		data []byte
	}
	files := []file{{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {"index.json", index}}
	for _, b := range []blob{lb, config, manifest} {
		files = append(files, file{"blobs/sha256/" + strings.TrimPrefix(b.digest, "sha256:"), b.data})
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	for _, file := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: file.name, Mode: 0o644, Size: int64(len(file.data)), ModTime: epoch}); err != nil {
			return err
		}
		if _, err := tw.Write(file.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// epoch is every entry's time: the same binary gives the same archive.
var epoch = time.Unix(0, 0)

// layerTar is the image's one layer: the folders a runtime mounts over, and
// bin at the image path at.
func layerTar(bin, at string) ([]byte, error) {
	src, err := os.Open(bin)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := []string{"etc/", "tmp/", "proc/", "sys/", "dev/", "var/", "run/"}
	for p := path.Dir(strings.TrimPrefix(path.Clean(at), "/")); p != "."; p = path.Dir(p) {
		dirs = append(dirs, p+"/")
	}
	for _, d := range dirs {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(path.Clean(at), "/"), Mode: 0o755, Size: st.Size(), ModTime: epoch}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := io.Copy(tw, src); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
