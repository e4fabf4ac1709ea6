// Package imagetest is the test binary of an image_test target of
// icos_build: it checks one image's outputs against the spec file given
// with -spec (see package imagecheck).
package imagetest

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/icos-build/icos/tools/imagecheck"
)

var specPath = flag.String("spec", "", "imagecheck spec (JSON) of the image to check; relative paths in it are relative to the working directory")

func TestImage(t *testing.T) {
	if *specPath == "" {
		t.Skip("no -spec: run by the image_test targets of icos_build")
	}
	spec, err := imagecheck.LoadSpec(*specPath)
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.Getwd()
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
