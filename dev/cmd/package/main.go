// Command package stages the function app into dist/app and zips it into
// dist/switchboard.zip: host.json, the function folders and the linux/amd64
// handler binary, the layout the Functions host (and `azd deploy`) expects.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"switchboard/dev/appdir"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
}

func run() error {
	repo, err := appdir.RepoRoot()
	if err != nil {
		return err
	}
	dist := filepath.Join(repo, "dist")
	app := filepath.Join(dist, "app")
	if err := os.RemoveAll(app); err != nil {
		return err
	}
	if _, err := appdir.Stage(context.Background(), repo, app, appdir.Options{GOOS: "linux", GOARCH: "amd64"}); err != nil {
		return err
	}
	zipPath := filepath.Join(dist, "switchboard.zip")
	if err := appdir.Zip(app, zipPath); err != nil {
		return err
	}
	fmt.Println("staged dist/app (host.json, function folders, linux/amd64 handler)\npackaged dist/switchboard.zip")
	return nil
}
