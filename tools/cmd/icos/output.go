package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/icos-build/icos/tools/outfile"
	"github.com/icos-build/icos/tools/pack"
	"github.com/icos-build/icos/tools/zst"
)

// imageOutput is an image being written by a subcommand (ext4, vfat, disk,
// lvm). It behaves like an outfile.File. When the destination ends in
// ".tar.zst", the raw image stays in the outfile's temporary file and, on
// Commit, is packed as a sparse tar holding one entry (like icos pack, with
// a ".sha256" beside it, at zst.ArchiveLevel); when it ends in ".zst", the
// raw image is compressed (at zst.DefaultLevel). So a Bazel action can hand a big sparse image to the next
// step, or to a cache, compressed.
type imageOutput struct {
	*outfile.File
	dest      string
	compress  bool // dest ends in ".zst"
	nameInTar string
}

// createImage starts writing the image dest. nameInTar names the entry of
// a ".tar.zst" destination (default: dest's base name without ".tar.zst").
func createImage(dest, nameInTar string) (*imageOutput, error) {
	o := &imageOutput{dest: dest, compress: strings.HasSuffix(dest, ".zst")}
	if base := filepath.Base(dest); o.compress && strings.HasSuffix(base, ".tar.zst") {
		o.nameInTar = nameInTar
		if o.nameInTar == "" {
			o.nameInTar = strings.TrimSuffix(base, ".tar.zst")
		}
	}
	// For compressed destinations the raw image is never committed: it is
	// read back from the temporary file, so a signal or a killed run leaves
	// nothing but a temporary of dest (see outfile).
	f, err := outfile.Create(dest, 0o644)
	if err != nil {
		return nil, err
	}
	o.File = f
	return o, nil
}

// Commit finishes the image and, for compressed destinations, compresses
// it; the raw temporary file is removed either way.
func (o *imageOutput) Commit() error {
	if !o.compress {
		return o.File.Commit()
	}
	defer o.File.Abort()
	raw := o.File.Name()
	if o.nameInTar != "" {
		return pack.Pack(o.dest, []string{raw}, pack.Options{Level: zst.ArchiveLevel, NameInTar: o.nameInTar})
	}
	return compressFile(raw, o.dest, zst.DefaultLevel)
}

// compressFile writes src, zstd-compressed, to dest.
func compressFile(src, dest string, level int) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("compress: %w", err)
	}
	defer in.Close()
	out, err := outfile.Create(dest, 0o644)
	if err != nil {
		return fmt.Errorf("compress: %w", err)
	}
	defer out.Abort()
	bw := bufio.NewWriterSize(out, 1<<20)
	zw, err := zst.NewWriter(bw, zst.Options{Level: level})
	if err != nil {
		return fmt.Errorf("compress: %w", err)
	}
	defer zw.Close()
	// zst.Writer deliberately has no ReadFrom (its output would differ):
	// copy through a plain buffer.
	if _, err := io.CopyBuffer(struct{ io.Writer }{zw}, in, make([]byte, 1<<20)); err != nil {
		return fmt.Errorf("compress: %s: %w", src, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compress: %s: %w", dest, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("compress: %s: %w", dest, err)
	}
	return out.Commit()
}
