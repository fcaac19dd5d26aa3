// Package appdir stages the deployable function app: host.json, every
// functions/<name>/ folder and the handler binary side by side, the layout the
// Functions host expects at its app root. `make package`, `make run` and the
// end-to-end tests all stage the app through it.
package appdir

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// BinaryName is host.json's customHandler.description.defaultExecutablePath.
const BinaryName = "handler"

// RepoRoot walks up from the working directory to the folder holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from inside the repository")
		}
		dir = parent
	}
}

// Options choose the target platform; zero values mean this machine's.
type Options struct {
	GOOS, GOARCH string
}

// Stage writes the app root into dir (created if needed) and returns the
// binary's path. The binary is built from handler/ with CGO disabled, so the
// linux/amd64 build runs on the Functions Linux workers.
func Stage(ctx context.Context, repo, dir string, opts Options) (string, error) {
	if err := stageFiles(repo, dir); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, BinaryName)
	return bin, Build(ctx, repo, bin, opts)
}

// StageWithBinary writes the app root into dir with a handler binary that
// was built already (tests build once and stage many times).
func StageWithBinary(repo, dir, binary string) error {
	if err := stageFiles(repo, dir); err != nil {
		return err
	}
	return copyFile(binary, filepath.Join(dir, BinaryName), 0o755)
}

// Build compiles the handler to out.
func Build(ctx context.Context, repo, out string, opts Options) error {
	if opts.GOOS == "" {
		opts.GOOS = runtime.GOOS
	}
	if opts.GOARCH == "" {
		opts.GOARCH = runtime.GOARCH
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./handler")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+opts.GOOS, "GOARCH="+opts.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./handler: %w\n%s", err, out)
	}
	return os.Chmod(out, 0o755)
}

// stageFiles copies host.json and every function folder into dir.
func stageFiles(repo, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(repo, "host.json"), filepath.Join(dir, "host.json"), 0o644); err != nil {
		return err
	}
	fns, err := Functions(repo)
	if err != nil {
		return err
	}
	for _, name := range fns {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			return err
		}
		src := filepath.Join(repo, "functions", name, "function.json")
		if err := copyFile(src, filepath.Join(dir, name, "function.json"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Functions lists the function folders (those holding a function.json).
func Functions(repo string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(repo, "functions"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(repo, "functions", e.Name(), "function.json")); err == nil {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Package stages the app root into dist/app and zips it into
// dist/switchboard.zip, for linux/amd64: what `make package` makes, and
// what azd (dist/app) or `az functionapp deployment source config-zip`
// (the zip) deploys. It returns the zip's path.
func Package(ctx context.Context, repo, dist string) (string, error) {
	app := filepath.Join(dist, "app")
	if err := os.RemoveAll(app); err != nil {
		return "", err
	}
	if _, err := Stage(ctx, repo, app, Options{GOOS: "linux", GOARCH: "amd64"}); err != nil {
		return "", err
	}
	zipPath := filepath.Join(dist, "switchboard.zip")
	return zipPath, Zip(app, zipPath)
}

// Zip packs a staged app root into path as the Linux host wants it: every
// entry carries Unix modes, 0755 for the handler binary (the host cannot start
// it otherwise) and 0644 for the rest, whatever the file system says (Windows
// keeps no execute bit).
func Zip(dir, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		hdr.Method = zip.Deflate
		mode := os.FileMode(0o644)
		if hdr.Name == BinaryName {
			mode = 0o755
		}
		hdr.SetMode(mode)
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(w, src)
		return err
	})
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("zip %s: %w", path, err)
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if strings.HasSuffix(src, ".json") && len(b) == 0 {
		return fmt.Errorf("%s is empty", src)
	}
	return os.WriteFile(dst, b, mode)
}
