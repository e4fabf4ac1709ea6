// Package imagetest is the test binary of an image_test target of
// icos_build: it checks one image's outputs against the spec file given
// with -spec (see package imagecheck).
package imagetest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/icos-build/icos/tools/imagecheck"
)

var specPath = flag.String("spec", "", "imagecheck spec (JSON) of the image to check; it and the relative paths in it are relative to the runfiles root under Bazel, else to the working directory")

func TestImage(t *testing.T) {
	if *specPath == "" {
		t.Skip("no -spec: run by the image_test targets of icos_build")
	}
	base, err := runfilesRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := *specPath
	if !filepath.IsAbs(path) {
		path = filepath.Join(base, path)
	}
	spec, err := imagecheck.LoadSpec(path)
	if err != nil {
		t.Fatal(err)
	}
	work := os.Getenv("TEST_TMPDIR")
	if work == "" {
		work = t.TempDir()
	} else if work, err = os.MkdirTemp(work, "imagecheck"); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	err = imagecheck.Check(spec, base, work, &log)
	t.Logf("%s:\n%s", spec.Name, log.String())
	if err != nil {
		t.Fatal(err)
	}
}

// runfilesRoot is the directory the spec's relative paths start from: the
// main repository's runfiles under Bazel (whose go_test runs in the
// package's directory, not there), else the working directory.
func runfilesRoot() (string, error) {
	if dir, ws := os.Getenv("TEST_SRCDIR"), os.Getenv("TEST_WORKSPACE"); dir != "" && ws != "" {
		return filepath.Join(dir, ws), nil
	}
	return os.Getwd()
}
