// Command packaging builds unloop's .deb and .rpm with nfpm as a library,
// from nfpm.yaml beside it (`make package` runs it). It is its own module so
// nfpm's dependencies stay out of unloop's.
//
//	go run . -version 0.1.0 -arch amd64 -bin ../../bin/unloop -man ../../dist/man -completion ../../dist/completion -out ../../dist
//	go run . -list ../../dist/unloop-0.1.0-1.x86_64.rpm
//
// -list prints an .rpm's name, version, files (mode, config flags) and
// scripts as JSON: the tests read the .rpm with it (there is no rpm on a
// Debian machine; the .deb they install with the real dpkg).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb"
	_ "github.com/goreleaser/nfpm/v2/rpm"
	rpmutils "github.com/sassoftware/go-rpmutils"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "packaging: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("packaging", flag.ContinueOnError)
	var (
		version = fs.String("version", "0.0.0", "package version (semver; a leading v is dropped)")
		arch    = fs.String("arch", "amd64", "Go architecture of the binary")
		bin     = fs.String("bin", "", "the unloop binary (static)")
		man     = fs.String("man", "", "folder of gzipped man pages")
		compl   = fs.String("completion", "", "folder of unloop.bash, unloop.zsh, unloop.fish")
		configs = fs.String("configs", "..", "the repository's configs/ folder")
		config  = fs.String("config", "nfpm.yaml", "nfpm's config")
		out     = fs.String("out", ".", "folder for the packages")
		formats = fs.String("formats", "deb,rpm", "package formats")
		list    = fs.String("list", "", "print an .rpm's contents as JSON instead of building")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *list != "" {
		return listRPM(*list)
	}
	if *bin == "" || *man == "" || *compl == "" {
		return fmt.Errorf("-bin, -man and -completion are required")
	}
	env := map[string]string{"UNLOOP_VERSION": strings.TrimPrefix(*version, "v"), "UNLOOP_ARCH": *arch}
	for k, p := range map[string]string{"UNLOOP_BIN": *bin, "UNLOOP_MAN": *man, "UNLOOP_COMPLETION": *compl, "UNLOOP_CONFIGS": *configs} {
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return err
		}
		env[k] = abs
	}
	// Only our own variables: the build machine's environment must not leak
	// into a package.
	cfg, err := nfpm.ParseFileWithEnvMapping(*config, func(k string) string { return env[k] })
	if err != nil {
		return fmt.Errorf("reading %s: %w", *config, err)
	}
	// nfpm reads scripts relative to the working directory: make them
	// relative to the config file instead.
	dir := filepath.Dir(*config)
	for _, s := range []*string{&cfg.Scripts.PreInstall, &cfg.Scripts.PostInstall, &cfg.Scripts.PreRemove, &cfg.Scripts.PostRemove} {
		if *s != "" && !filepath.IsAbs(*s) {
			*s = filepath.Join(dir, *s)
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, format := range strings.Split(*formats, ",") {
		p, err := build(&cfg, format, *out)
		if err != nil {
			return fmt.Errorf("%s: %w", format, err)
		}
		fmt.Println(p)
	}
	return nil
}

// build writes one package of cfg into out and returns its path.
func build(cfg *nfpm.Config, format, out string) (string, error) {
	info, err := cfg.Get(format)
	if err != nil {
		return "", err
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.Validate(info); err != nil {
		return "", err
	}
	pkgr, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	path := filepath.Join(out, pkgr.ConventionalFileName(info))
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	if err := pkgr.Package(info, f); err != nil {
		f.Close()
		os.Remove(tmp)
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// rpmFile is one file of an .rpm as -list prints it.
type rpmFile struct {
	Path      string `json:"path"`
	Mode      string `json:"mode"`
	Owner     string `json:"owner"`
	Config    bool   `json:"config"`
	NoReplace bool   `json:"noreplace"`
}

func listRPM(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := rpmutils.ReadRpm(f)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	nevra, err := r.Header.GetNEVRA()
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	fis, err := r.Header.GetFiles()
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	out := struct {
		Name       string            `json:"name"`
		Version    string            `json:"version"`
		Release    string            `json:"release"`
		Arch       string            `json:"arch"`
		Recommends []string          `json:"recommends"`
		Files      []rpmFile         `json:"files"`
		Scripts    map[string]string `json:"scripts"`
	}{Name: nevra.Name, Version: nevra.Version, Release: nevra.Release, Arch: nevra.Arch, Scripts: map[string]string{}}
	for _, fi := range fis {
		out.Files = append(out.Files, rpmFile{Path: fi.Name(), Mode: fmt.Sprintf("%o", fi.Mode()), Owner: fi.UserName() + ":" + fi.GroupName(),
			Config: fi.Flags()&rpmutils.RPMFILE_CONFIG != 0, NoReplace: fi.Flags()&rpmutils.RPMFILE_NOREPLACE != 0})
	}
	// RECOMMENDNAME (5046) is a newer tag than the library names.
	if rec, err := r.Header.GetStrings(5046); err == nil {
		out.Recommends = rec
	}
	for name, tag := range map[string]int{"postin": rpmutils.POSTIN, "preun": rpmutils.PREUN, "postun": rpmutils.POSTUN} {
		if s, err := r.Header.GetString(tag); err == nil {
			out.Scripts[name] = s
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
