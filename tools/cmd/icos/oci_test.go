package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// TestOCIFromTar: the layout holds one image whose single layer is the tar,
// and two runs (different dirs) print the same digest.
func TestOCIFromTar(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "rootfs.tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755})
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/hostname", Mode: 0o644, Size: 3})
	tw.Write([]byte("ic\n"))
	tw.Close()
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var digests []string
	for _, name := range []string{"a", "b"} {
		var out bytes.Buffer
		app := newApp()
		app.Writer = &out
		dest := filepath.Join(dir, name, "layout")
		os.MkdirAll(filepath.Dir(dest), 0o755)
		if err := app.Run([]string{"icos", "oci", "from-tar", "-i", in, "-o", dest, "--created", "1700000000"}); err != nil {
			t.Fatal(err)
		}
		digests = append(digests, strings.TrimSpace(out.String()))
		p, err := layout.FromPath(dest)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := p.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		m, err := idx.IndexManifest()
		if err != nil || len(m.Manifests) != 1 || m.Manifests[0].Digest.String() != digests[len(digests)-1] {
			t.Fatalf("index %+v, %v; want one manifest %s", m, err, digests[len(digests)-1])
		}
		img, _ := idx.Image(m.Manifests[0].Digest)
		cfg, err := img.ConfigFile()
		if err != nil || cfg.Created.Unix() != 1700000000 || cfg.OS != "linux" {
			t.Fatalf("config %+v, %v", cfg, err)
		}
		layers, _ := img.Layers()
		if len(layers) != 1 {
			t.Fatalf("%d layers, want 1", len(layers))
		}
	}
	if digests[0] != digests[1] || !strings.HasPrefix(digests[0], "sha256:") {
		t.Fatalf("digests %q differ or are malformed", digests)
	}
	if err := newApp().Run([]string{"icos", "oci", "from-tar", "-i", filepath.Join(dir, "missing.tar"), "-o", filepath.Join(dir, "c")}); err == nil {
		t.Fatal("missing input accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "c")); !os.IsNotExist(err) {
		t.Fatal("output left behind after a failure")
	}
}

// TestRootfsRejectsTamperedLayer: a layer blob rewritten under its old
// digest (a valid gzip tar, "hello" turned into "jello") makes icos rootfs
// fail, naming the blob, and leaves no output, whether the image is read
// from an OCI layout or from the store.
func TestRootfsRejectsTamperedLayer(t *testing.T) {
	tarOf := func(content string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "hello.txt", Mode: 0o644, Size: int64(len(content))})
		tw.Write([]byte(content))
		tw.Close()
		return buf.Bytes()
	}
	for _, via := range []string{"--oci-layout", "--store"} {
		t.Run(via, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "hello.tar")
			if err := os.WriteFile(in, tarOf("hello"), 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			app := newApp()
			app.Writer = &out
			lay := filepath.Join(dir, "layout")
			if err := app.Run([]string{"icos", "oci", "from-tar", "-i", in, "-o", lay}); err != nil {
				t.Fatal(err)
			}
			digest := strings.TrimSpace(out.String())
			p, _ := layout.FromPath(lay)
			idx, _ := p.ImageIndex()
			m, _ := idx.IndexManifest()
			img, err := idx.Image(m.Manifests[0].Digest)
			if err != nil {
				t.Fatal(err)
			}
			layers, _ := img.Layers()
			lh, _ := layers[0].Digest()
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			zw.Write(tarOf("jello"))
			zw.Close()
			blob := filepath.Join(lay, "blobs", lh.Algorithm, lh.Hex)
			os.Chmod(blob, 0o644)
			if err := os.WriteFile(blob, gz.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			rootfs := filepath.Join(dir, "rootfs.tar")
			args := []string{"icos", "rootfs", "--image", digest, via, lay, "-o", rootfs}
			err = newApp().Run(args)
			if err == nil || !strings.Contains(err.Error(), lh.String()) {
				t.Fatalf("icos rootfs %s: err = %v, want one naming %s", via, err, lh)
			}
			if _, err := os.Stat(rootfs); !os.IsNotExist(err) {
				t.Fatal("output left behind")
			}
		})
	}
}

// TestOCIFromTarModes: the layout's directories and files get the same
// modes whatever the umask of the run.
func TestOCIFromTarModes(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "rootfs.tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "f", Mode: 0o644, Size: 1})
	tw.Write([]byte("x"))
	tw.Close()
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	modes := func(umask int) string {
		old := syscall.Umask(umask)
		defer syscall.Umask(old)
		dest := filepath.Join(dir, fmt.Sprintf("layout-%03o", umask))
		app := newApp()
		app.Writer = io.Discard
		if err := app.Run([]string{"icos", "oci", "from-tar", "-i", in, "-o", dest}); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dest, p)
			fmt.Fprintf(&b, "%s %v\n", rel, fi.Mode())
			return nil
		})
		return b.String()
	}
	a, b := modes(0o022), modes(0o077)
	if a != b {
		t.Fatalf("modes differ between umask 022 and 077:\n%s\nvs\n%s", a, b)
	}
	if !strings.Contains(a, "oci-layout -rw-r--r--") {
		t.Fatalf("oci-layout mode not 0644:\n%s", a)
	}
}
