// Command package stages the function app into dist/app and zips it into
// dist/switchboard.zip: host.json, the function folders and the linux/amd64
// handler binary, the layout the Functions host (and `azd deploy`) expects.
// The zip carries the handler's execute bit on every OS, Windows included:
// deploy it with `az functionapp deployment source config-zip` where azd
// cannot keep the bit (docs/deploy.md).
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
	if _, err := appdir.Package(context.Background(), repo, filepath.Join(repo, "dist")); err != nil {
		return err
	}
	fmt.Println("staged dist/app (host.json, function folders, linux/amd64 handler)\npackaged dist/switchboard.zip")
	return nil
}
