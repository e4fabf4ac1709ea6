// Package imgdiff explains how two build outputs differ: raw GPT disk images,
// tar or tar+zstd archives holding a disk.img or an update image (boot.img,
// root.img, VERSION.TXT), or bare ext4/vfat partition images.
//
// Identical inputs give one line, "identical (sha256 <hex>)". Otherwise each
// difference is one line naming where it is, outermost first, for example
//
//	partition 5 A_root (ext4): file /usr/bin/x: content differs at bytes 0-4095, 8192-12287
//	partition 5 A_root (ext4): file /etc/y: only in A
//	partition 5 A_root (ext4): file /z: mode 0644 != 0755
//	partition 5 A_root (ext4): inode table of group 0: blocks 35-35 differ
//	partition 5 A_root (ext4): inodes 18 (/usr/bin/x) differ
//	GPT: partition 2: partition GUID 6788E4CF-... != 0C4C1F2E-...
//
// The filesystems are read with this module's own read-only readers
// (tools/imgdiff/ext4r and tools/imgdiff/fatr). Bytes that belong to no file
// are explained by what holds them (superblock, group descriptors, bitmaps,
// inode tables, directories, journal, FATs, unallocated space...). Lines come
// in a fixed order: archive members by name, GPT, partitions by number,
// files by path, metadata by position. Ranges are merged when adjacent and at
// most Options.MaxRanges are printed per line.
//
// Nothing holds a whole image in memory: images are compared in 1 MiB chunks,
// holes that both sides have are skipped with SEEK_DATA (an optimization
// only; holes read as zeros either way), and archives are unpacked into
// sparse temporary files.
package imgdiff

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// Options configure Diff.
type Options struct {
	// MaxRanges is the most ranges printed per line before "... and N
	// more"; 0 means 10.
	MaxRanges int
	// TempDir is where archives are unpacked; "" means os.TempDir().
	TempDir string
}

// Result is the outcome of Diff.
type Result struct {
	Identical bool
	Lines     []string // the report, one difference per line
}

// report collects lines under a prefix.
type report struct {
	lines []string
	seen  map[string]bool
	max   int
}

// add appends a line, unless the same line was already reported.
func (r *report) add(prefix, format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if prefix != "" {
		s = prefix + ": " + s
	}
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	if !r.seen[s] {
		r.seen[s] = true
		r.lines = append(r.lines, s)
	}
}

// Diff compares the files at paths a and b. Its errors (files that cannot
// be read, archives that cannot be unpacked) are prefixed "imgdiff: ";
// filesystems that cannot be read are not errors but report lines, and the
// bytes are compared instead.
func Diff(a, b string, opts Options) (*Result, error) {
	res, err := diffFiles(a, b, opts)
	if err != nil {
		return nil, fmt.Errorf("imgdiff: %w", err)
	}
	return res, nil
}

func diffFiles(a, b string, opts Options) (*Result, error) {
	if opts.MaxRanges <= 0 {
		opts.MaxRanges = 10
	}
	fa, err := os.Open(a)
	if err != nil {
		return nil, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return nil, err
	}
	defer fb.Close()
	va, err := fileView(fa)
	if err != nil {
		return nil, err
	}
	vb, err := fileView(fb)
	if err != nil {
		return nil, err
	}
	same, sum, err := sameBytes(va, vb)
	if err != nil {
		return nil, err
	}
	if same {
		return &Result{Identical: true, Lines: []string{"identical (sha256 " + sum + ")"}}, nil
	}
	r := &report{max: opts.MaxRanges}
	ka, err := detect(va)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a, err)
	}
	kb, err := detect(vb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b, err)
	}
	if (ka == kindArchive) != (kb == kindArchive) {
		r.add("", "format %s != %s", ka, kb)
		return &Result{Lines: r.lines}, nil
	}
	if ka == kindArchive {
		if err := r.diffArchives(fa, fb, opts.TempDir); err != nil {
			return nil, err
		}
	} else if err := r.diffImage("", va, vb); err != nil {
		return nil, err
	}
	if len(r.lines) == 0 {
		r.add("", "the files differ, but no difference was found in their content (sizes %d and %d)", va.size, vb.size)
	}
	return &Result{Lines: r.lines}, nil
}

// sameBytes compares two views in one pass and returns the sha256 of a when
// they are equal.
func sameBytes(a, b *view) (bool, string, error) {
	if a.size != b.size {
		return false, "", nil
	}
	h := sha256.New()
	ba := make([]byte, chunkSize)
	bb := make([]byte, chunkSize)
	var zeros [chunkSize]byte
	for off := int64(0); off < a.size; {
		// Where both sides are holes, hash zeros without reading.
		if s := min(a.nextData(off), b.nextData(off), a.size); s > off {
			for off < s {
				k := min(int64(chunkSize), s-off)
				h.Write(zeros[:k])
				off += k
			}
			continue
		}
		k := int(min(int64(chunkSize), a.size-off))
		if err := readFull(a, ba[:k], off); err != nil {
			return false, "", err
		}
		if err := readFull(b, bb[:k], off); err != nil {
			return false, "", err
		}
		if !bytes.Equal(ba[:k], bb[:k]) {
			return false, "", nil
		}
		h.Write(ba[:k])
		off += int64(k)
	}
	return true, hex.EncodeToString(h.Sum(nil)), nil
}

// imageKind is what a file or partition holds.
type imageKind int

const (
	kindRaw imageKind = iota
	kindDisk
	kindExt4
	kindVFAT
	kindArchive
	kindEmpty
)

// String names the kind as reports print it.
func (k imageKind) String() string {
	return [...]string{"raw", "GPT disk", "ext4", "vfat", "archive", "empty"}[k]
}

// detect tells the kind of an image by its magic numbers.
func detect(v *view) (imageKind, error) {
	b := make([]byte, 4096)
	n, err := v.ReadAt(b, 0)
	if err != nil && err != io.EOF {
		return kindRaw, err
	}
	b = b[:n]
	switch {
	case n == 0 || bytes.Count(b, []byte{0}) == n && v.nextData(0) >= v.size:
		return kindEmpty, nil
	case n >= 4 && bytes.Equal(b[:4], []byte{0x28, 0xB5, 0x2F, 0xFD}):
		return kindArchive, nil
	case n >= 512 && string(b[257:262]) == "ustar":
		return kindArchive, nil
	case n >= 520 && string(b[512:520]) == "EFI PART":
		return kindDisk, nil
	case n >= 1082 && b[1080] == 0x53 && b[1081] == 0xEF:
		return kindExt4, nil
	case n >= 512 && b[510] == 0x55 && b[511] == 0xAA && isFATBoot(b):
		return kindVFAT, nil
	}
	return kindRaw, nil
}

func isFATBoot(b []byte) bool {
	return string(b[54:57]) == "FAT" || string(b[82:87]) == "FAT32"
}

// Range is a half-open interval [Start, End).
type Range struct{ Start, End int64 }

// addRange appends [s, e) to rs, merging it with the last range if adjacent.
func addRange(rs []Range, s, e int64) []Range {
	if n := len(rs); n > 0 && rs[n-1].End >= s {
		rs[n-1].End = max(rs[n-1].End, e)
		return rs
	}
	return append(rs, Range{s, e})
}

// formatRanges prints ranges as inclusive "a-b" lists, scaled by unit, at
// most max of them.
func formatRanges(rs []Range, max int) string {
	var sb strings.Builder
	for i, r := range rs {
		if i == max {
			fmt.Fprintf(&sb, " ... and %d more", len(rs)-max)
			break
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%d-%d", r.Start, r.End-1)
	}
	return sb.String()
}

// overlaps reports whether [s, e) meets any of the sorted ranges rs.
func overlaps(rs []Range, s, e int64) bool {
	lo, hi := 0, len(rs)
	for lo < hi {
		m := (lo + hi) / 2
		if rs[m].End <= s {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(rs) && rs[lo].Start < e
}
