package rootfs

import (
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/icos-build/icos/tools/outfile"
)

// ApplyImage applies the layers of img, oldest first.
func (t *Tree) ApplyImage(img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("rootfs: image layers: %w", err)
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return fmt.Errorf("rootfs: layer %d: %w", i+1, err)
		}
		err = t.ApplyLayer(rc)
		if cerr := rc.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("rootfs: layer %d: %w", i+1, cerr)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Options describes one rootfs build.
type Options struct {
	Image    v1.Image // base image; nil starts from an empty tree (or BaseTar)
	BaseTar  string   // a tar applied as the bottom layer instead of Image (e.g. an earlier flatten)
	Spec     *Spec    // layer applied on top; nil for none
	SpecBase string   // directory the spec's file sources are relative to
	Output   string   // tar file written atomically
	TmpDir   string   // spool directory ("" for the default)
	WriteOptions
}

// Build flattens the image, applies the spec and writes the tar to
// opt.Output. On error nothing is left at opt.Output.
func Build(opt Options) (Stats, error) {
	t, err := New(opt.TmpDir)
	if err != nil {
		return Stats{}, err
	}
	defer t.Close()
	if opt.Image != nil {
		if err := t.ApplyImage(opt.Image); err != nil {
			return Stats{}, err
		}
	}
	if opt.BaseTar != "" {
		f, err := os.Open(opt.BaseTar)
		if err != nil {
			return Stats{}, fmt.Errorf("rootfs: base tar: %w", err)
		}
		err = t.applyLayer(f)
		f.Close()
		if err != nil {
			return Stats{}, fmt.Errorf("rootfs: base tar %s: %w", opt.BaseTar, err)
		}
	}
	if opt.Spec != nil {
		var modTime int64
		if opt.ModTime != nil {
			modTime = *opt.ModTime
		}
		if err := t.ApplySpec(opt.Spec, opt.SpecBase, modTime); err != nil {
			return Stats{}, err
		}
	}
	return t.WriteFile(opt.Output, opt.WriteOptions)
}

// WriteFile writes the tree to the file name atomically (see Write).
func (t *Tree) WriteFile(name string, opt WriteOptions) (Stats, error) {
	f, err := outfile.Create(filepath.Clean(name), 0o644)
	if err != nil {
		return Stats{}, fmt.Errorf("rootfs: %w", err)
	}
	defer f.Abort()
	st, err := t.Write(f, opt)
	if err != nil {
		return st, err
	}
	return st, f.Commit()
}
