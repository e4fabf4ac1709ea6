// Package lvm writes an LVM2 physical volume image holding one volume group
// with linear logical volumes, without the lvm tools and without randomness:
// every UUID, the creation time and the creation host come from the caller.
//
// # Layout of the image
//
//	sector 0        zero
//	sector 1        label header "LABELONE" + pv_header (+ extension)
//	4 KiB           metadata area: mda_header, then at +512 the metadata text
//	1 MiB           pe_start: physical extents, 4 MiB each by default
//
// This is what pvcreate/vgcreate of lvm2 2.03 write by default (one metadata
// area, pe_start at 1 MiB), with seqno 1 and the text at the start of the
// metadata ring buffer.
//
// # volumes.csv
//
// One logical volume per row, in order, read with package table as
// partitions.csv is: '#' comments and blank lines are ignored, fields are
// trimmed and a UTF-8 byte order mark at the start of the file is skipped:
//
//	name,start,size,uuid[,comment]
//	config, 0e, 25e, SIs20R-l6gh-2Rli-KAP0-ZO88-3Y4q-G9JPAm, Config partition
//	A_boot,   , 1G,  0BQNUA-dzGu-wvW5-mMRh-Ptr6-J6DT-Ff2a9x
//
// The fields:
//
//   - name: the LV name (letters, digits, "+_.-", not starting with "-").
//   - start: first physical extent. Empty means right after the previous
//     volume (the first one starts at extent 0).
//   - size: the LV size.
//   - uuid: the LV UUID, 32 characters, written bare or in lvm's 6-4-4-4-4-4-6
//     grouping.
//
// Starts and sizes are a number of extents ("25e") or a size as package
// size parses it (bytes, s for 512-byte sectors, K, M, G, T or KiB..TiB
// for powers of 1024) that is a whole number of extents. Volumes must not
// overlap and must fit the physical volume.
package lvm

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/icos-build/icos/tools/size"
	"github.com/icos-build/icos/tools/table"
)

// Volume is one linear logical volume.
type Volume struct {
	Line    int    // line in volumes.csv (0 when not read from a file)
	Name    string // LV name
	Start   int64  // first physical extent; -1 for "after the previous volume"
	Extents int64  // size in extents
	UUID    string // LV UUID, canonical 6-4-4-4-4-4-6 form
}

// ParseVolumes reads a volumes.csv (see the package documentation). source
// names the file in error messages; extentSize converts byte sizes to
// extents.
func ParseVolumes(r io.Reader, source string, extentSize int64) ([]Volume, error) {
	var vols []Volume
	uuids := map[string]int{}
	err := table.Read(r, source, columns, func(row table.Row) error {
		v, err := parseVolume(row, extentSize)
		if err != nil {
			return err
		}
		if prev, ok := uuids[v.UUID]; ok {
			return fmt.Errorf("%s: UUID %s already used on line %d", v.Name, v.UUID, prev)
		}
		uuids[v.UUID] = v.Line
		vols = append(vols, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lvm: %w", err)
	}
	return vols, nil
}

// columns are the fields of a volumes.csv row.
const columns = "name,start,size,uuid[,comment]"

func parseVolume(row table.Row, extentSize int64) (Volume, error) {
	f := row.Fields
	v := Volume{Line: row.Line, Name: f[0], Start: -1}
	if err := checkLVName(v.Name); err != nil {
		return v, fmt.Errorf("LV name: %w", err)
	}
	if f[1] != "" {
		n, err := parseExtents(f[1], extentSize)
		if err != nil {
			return v, fmt.Errorf("%s: start: %w", v.Name, err)
		}
		v.Start = n
	}
	n, err := parseExtents(f[2], extentSize)
	if err != nil {
		return v, fmt.Errorf("%s: size: %w", v.Name, err)
	}
	if n == 0 {
		return v, fmt.Errorf("%s: size is zero", v.Name)
	}
	v.Extents = n
	if v.UUID, err = ParseUUID(f[3]); err != nil {
		return v, fmt.Errorf("%s: uuid: %w", v.Name, err)
	}
	return v, nil
}

// maxExtents bounds a count of extents ("e"), far above any real volume.
const maxExtents = 1 << 40

// parseExtents parses "25e" (extents) or a size (package size) that is a
// whole number of extents.
func parseExtents(s string, extentSize int64) (int64, error) {
	if num, ok := strings.CutSuffix(s, "e"); ok {
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil || n > maxExtents {
			return 0, fmt.Errorf("%q is not a whole number of extents up to %d", s, uint64(maxExtents))
		}
		return int64(n), nil
	}
	b, err := size.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("%w (or e for extents)", err)
	}
	if b%extentSize != 0 {
		return 0, fmt.Errorf("%s (%d bytes) is not a whole number of %d-byte extents", s, b, extentSize)
	}
	return b / extentSize, nil
}

// uuidChars are the characters lvm allows in its identifiers.
const uuidChars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#"

// uuidGroups is the grouping lvm prints UUIDs in.
var uuidGroups = []int{6, 4, 4, 4, 4, 4, 6}

// ParseUUID checks an lvm UUID, 32 characters from [0-9a-zA-Z!#], given bare
// or grouped 6-4-4-4-4-4-6 with dashes, and returns the grouped form.
func ParseUUID(s string) (string, error) {
	bare := s
	if len(s) == 38 {
		var b strings.Builder
		pos := 0
		for i, g := range uuidGroups {
			if i > 0 {
				if s[pos] != '-' {
					return "", fmt.Errorf("UUID %q: want 32 characters grouped 6-4-4-4-4-4-6", s)
				}
				pos++
			}
			b.WriteString(s[pos : pos+g])
			pos += g
		}
		bare = b.String()
	}
	if len(bare) != 32 {
		return "", fmt.Errorf("UUID %q: want 32 characters grouped 6-4-4-4-4-4-6", s)
	}
	for _, c := range bare {
		if !strings.ContainsRune(uuidChars, c) {
			return "", fmt.Errorf("UUID %q: character %q not allowed", s, c)
		}
	}
	var b strings.Builder
	pos := 0
	for i, g := range uuidGroups {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(bare[pos : pos+g])
		pos += g
	}
	return b.String(), nil
}

// bareUUID removes the dashes of a grouped UUID (the on-disk pv_header form).
func bareUUID(s string) string { return strings.ReplaceAll(s, "-", "") }

// reservedLV are substrings lvm reserves for its internal volumes.
var reservedLV = []string{"_cdata", "_cmeta", "_corig", "_cpool", "_cvol", "_wcorig",
	"_mlog", "_mimage", "_pmspare", "_rimage", "_rmeta", "_tdata", "_tmeta", "_vorigin", "_vdata"}

// checkName applies lvm's rules for VG and LV names.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	if len(name) > 127 {
		return fmt.Errorf("%q: longer than 127 characters", name)
	}
	if name == "." || name == ".." || name[0] == '-' {
		return fmt.Errorf("%q: not allowed", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("+_.-", c)) {
			return fmt.Errorf("%q: character %q not allowed (letters, digits, +_.-)", name, c)
		}
	}
	return nil
}

// checkLVName adds the LV-only rules to checkName.
func checkLVName(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if strings.HasPrefix(name, "snapshot") || strings.HasPrefix(name, "pvmove") {
		return fmt.Errorf("%q: names starting with snapshot or pvmove are reserved", name)
	}
	for _, r := range reservedLV {
		if strings.Contains(name, r) {
			return fmt.Errorf("%q: %q is reserved by lvm", name, r)
		}
	}
	return nil
}
