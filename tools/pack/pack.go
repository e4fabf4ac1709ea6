// Package pack packs disk images (or any files) into a zstd-compressed
// sparse tar, the disk-img.tar.zst of IC-OS, with a sha256sum-style
// checksum file beside it.
//
// The pipeline streams: each file is scanned for zero blocks and then its
// data copied (tools/sparse), the tar stream is compressed as it is
// produced (tools/zst) and the compressed bytes are hashed on their way to
// the output. Memory use does not depend on the size of the images.
package pack

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/icos-build/icos/tools/outfile"
	"github.com/icos-build/icos/tools/sparse"
	"github.com/icos-build/icos/tools/tarpath"
	"github.com/icos-build/icos/tools/zst"
)

// SumSuffix is appended to the output path to name the checksum file.
const SumSuffix = ".sha256"

// Options configure Pack.
type Options struct {
	// Level is the zstd level (see tools/zst); 0 means zst.ArchiveLevel.
	Level int
	// Concurrency is the number of zstd encoder goroutines; 0 means one
	// per CPU. It never changes the output.
	Concurrency int
	// ModTime is the mtime of the tar entries; the zero value means the
	// Unix epoch.
	ModTime time.Time
	// NameInTar, if set, is the entry name of the single input file
	// (for example "disk.img" for an input called disk-img.raw). Without
	// it each file is stored under its base name.
	NameInTar string
}

// input is one file to pack.
type input struct {
	path, name string
}

// Pack writes output (a .tar.zst) and output+SumSuffix from files. Entries
// are named after the files' base names and sorted by name, so the order of
// files does not matter; each is a regular file entry with mode 0644, owner
// 0:0 and mtime opts.ModTime, sparse when it contains zero blocks. Both
// outputs appear only if everything succeeded.
//
// Errors raised here start with "pack: "; errors of the packages it calls
// (outfile, zst, sparse) are returned with their own prefix.
func Pack(output string, files []string, opts Options) error {
	if len(files) == 0 {
		return fmt.Errorf("pack: no input files")
	}
	if opts.NameInTar != "" && len(files) != 1 {
		return fmt.Errorf("pack: a name in the tar (%q) needs exactly one input file, got %d", opts.NameInTar, len(files))
	}
	outName := filepath.Base(output)
	if strings.ContainsAny(outName, "\\\n") {
		return fmt.Errorf("pack: output name %q contains a backslash or newline, which sha256sum would escape", outName)
	}
	ins := make([]input, len(files))
	seen := map[string]string{}
	for i, f := range files {
		name := filepath.Base(f)
		if opts.NameInTar != "" {
			name = opts.NameInTar
		}
		clean, err := tarpath.Clean(name)
		if err != nil {
			return fmt.Errorf("pack: %s: %w", f, err)
		}
		if clean == "" || strings.Contains(clean, "/") {
			return fmt.Errorf("pack: %s: entry name %q must be a single file name", f, name)
		}
		if prev, ok := seen[clean]; ok {
			return fmt.Errorf("pack: %s and %s would both be stored as %q", prev, f, clean)
		}
		seen[clean] = f
		ins[i] = input{f, clean}
	}
	sort.Slice(ins, func(i, j int) bool { return tarpath.Less(ins[i].name, ins[j].name) })

	out, err := outfile.Create(output, 0o644)
	if err != nil {
		return err
	}
	defer out.Abort()
	bw := bufio.NewWriterSize(out, 1<<20)
	level := opts.Level
	if level == 0 {
		level = zst.ArchiveLevel
	}
	zw, err := zst.NewWriter(bw, zst.Options{Level: level, Concurrency: opts.Concurrency})
	if err != nil {
		return err
	}
	defer zw.Close()
	sw, err := sparse.NewWriter(zw, sparse.Options{ModTime: opts.ModTime})
	if err != nil {
		return err
	}
	for _, in := range ins {
		if err := addFile(sw, in); err != nil {
			return fmt.Errorf("pack: %s: %w", in.path, err)
		}
	}
	if err := sw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("pack: %s: %w", output, err)
	}

	sumPath := output + SumSuffix
	sf, err := outfile.Create(sumPath, 0o644)
	if err != nil {
		return err
	}
	defer sf.Abort()
	if _, err := sf.WriteString(zst.SHA256Line(zw.Sum(), outName)); err != nil {
		return fmt.Errorf("pack: %s: %w", sumPath, err)
	}
	if err := out.Commit(); err != nil {
		return err
	}
	if err := sf.Commit(); err != nil {
		os.Remove(output) // never leave an archive without its checksum
		return err
	}
	return nil
}

func addFile(sw *sparse.Writer, in input) error {
	f, err := os.Open(in.path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	return sw.AddFile(in.name, f, st.Size())
}
