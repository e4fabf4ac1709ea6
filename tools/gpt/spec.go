// Package gpt assembles GUID partition table disks from a partitions.csv
// description and partition images.
//
// # partitions.csv
//
// One partition per row, in table order (row k becomes partition number k):
//
//	# comment lines and blank lines are ignored
//	name,start,size,type,uuid[,comment]
//	esp   ,    1M, 100M, U, B78084E2-3363-1346-8C25-D426F26B8928, EFI system partition
//	grub  ,      , 100M, L, 6788E4CF-F456-104E-9A34-A2C58CFB0EE6
//	store ,      , rest, V,
//
// The file is read with package table: fields are trimmed of surrounding
// blanks, a UTF-8 byte order mark at the start of the file (as some
// editors save CSV) is skipped, and errors name the file and line.
//
//   - name: the GPT partition name (at most 36 UTF-16 code units), unique.
//   - start: where the partition begins. Empty means right after the previous
//     partition (the first one starts at 1 MiB).
//   - size: the partition size, or "rest" (last row only) for the rest of the
//     disk up to the last whole MiB before the backup GPT.
//   - type: a letter as used by the system we replace (U = EFI system,
//     L = Linux filesystem, M = Microsoft basic data, V = Linux LVM) or a full
//     type GUID.
//   - uuid: the partition GUID. Empty means one derived from the disk GUID and
//     the partition name (never random).
//   - comment: free text, ignored.
//
// Starts and sizes are written as package size parses them: bytes, or a
// number with a unit such as s (512-byte sectors), K, M, G or T (powers of
// 1024), or MiB. Every start and size must be a multiple of 1 MiB, so a
// bare sector count such as "2048", which the system we replace would have
// taken as sectors, is rejected rather than read as 2048 bytes. Partitions
// must not overlap and must end before the backup GPT (the last 33 sectors
// of the disk).
//
// # Disk
//
// Layout places the rows on a disk of a given size; the disk GUID is given or
// derived from the table content (a name-based UUID, never random). Assemble
// writes the protective MBR and both GPT copies with go-diskfs partition/gpt
// for the full disk size (so the backup GPT sits at the end of the expanded
// disk), then copies each partition image (raw, zstd when its name ends in
// ".zst", or an .img.tar.zst archive) into place with sparse.CopyImage:
// 1 MiB reads, one write per run of non-zero 4 KiB blocks, holes for zero
// blocks. Partitions without an image
// stay holes.
package gpt

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf16"

	"github.com/google/uuid"

	"github.com/icos-build/icos/tools/size"
	"github.com/icos-build/icos/tools/table"
)

// MiB is the alignment of every partition start and size.
const MiB = 1 << 20

// Row is one partition as written in partitions.csv, before layout.
type Row struct {
	Line  int    // line number in the file, for error messages
	Name  string // GPT partition name
	Start int64  // start in bytes; -1 when the row leaves it empty
	Size  int64  // size in bytes; -1 for "rest"
	Type  string // partition type GUID, upper case
	GUID  string // partition GUID, upper case; empty when the row leaves it empty
}

// Spec is a parsed partitions.csv.
type Spec struct {
	Source string // file name used in error messages
	Rows   []Row  // rows in table order
}

// typeLetters maps the one-letter type codes to partition type GUIDs.
var typeLetters = map[string]string{
	"U": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", // EFI system partition
	"L": "0FC63DAF-8483-4772-8E79-3D69D8477DE4", // Linux filesystem
	"M": "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", // Microsoft basic data
	"V": "E6D6D379-F507-44C2-A23C-238F2A3DF928", // Linux LVM
}

// ParseGUID checks a GUID in its canonical 8-4-4-4-12 form and returns it
// in upper case.
func ParseGUID(s string) (string, error) {
	if len(s) != 36 {
		return "", fmt.Errorf("GUID %q is not of the form XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX", s)
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", fmt.Errorf("GUID %q: %w", s, err)
	}
	if u == uuid.Nil {
		return "", fmt.Errorf("GUID %q is the nil GUID", s)
	}
	return strings.ToUpper(u.String()), nil
}

// Parse reads a partitions.csv. source names the file in error messages.
// It checks each row on its own (fields, units, alignment, types, GUIDs,
// unique names and GUIDs); Layout checks the rows against each other and
// the disk size.
func Parse(r io.Reader, source string) (*Spec, error) {
	spec := &Spec{Source: source}
	guids := map[string]int{}
	err := table.Read(r, source, columns, func(tr table.Row) error {
		row, err := parseRow(tr)
		if err != nil {
			return err
		}
		if row.GUID != "" {
			if prev, ok := guids[row.GUID]; ok {
				return fmt.Errorf("%s: GUID %s already used on line %d", row.Name, row.GUID, prev)
			}
			guids[row.GUID] = row.Line
		}
		spec.Rows = append(spec.Rows, row)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gpt: %w", err)
	}
	if len(spec.Rows) == 0 {
		return nil, fmt.Errorf("gpt: %s: no partitions", source)
	}
	if len(spec.Rows) > maxPartitions {
		return nil, fmt.Errorf("gpt: %s: %d partitions, a GPT holds at most %d", source, len(spec.Rows), maxPartitions)
	}
	for _, row := range spec.Rows[:len(spec.Rows)-1] {
		if row.Size < 0 {
			return nil, fmt.Errorf("gpt: %s:%d: %s: size \"rest\" is only allowed on the last row", source, row.Line, row.Name)
		}
	}
	return spec, nil
}

// columns are the fields of a partitions.csv row.
const columns = "name,start,size,type,uuid[,comment]"

// maxPartitions is the number of entries in the partition array we write.
const maxPartitions = 128

func parseRow(tr table.Row) (Row, error) {
	f := tr.Fields
	row := Row{Line: tr.Line, Name: f[0], Start: -1}
	if row.Name == "" {
		return row, fmt.Errorf("empty partition name")
	}
	if n := len(utf16.Encode([]rune(row.Name))); n > 36 {
		return row, fmt.Errorf("%s: name has %d UTF-16 code units, GPT allows 36", row.Name, n)
	}
	if f[1] != "" {
		v, err := size.Parse(f[1])
		if err != nil {
			return row, fmt.Errorf("%s: start: %w", row.Name, err)
		}
		if v%MiB != 0 || v == 0 {
			return row, fmt.Errorf("%s: start %s (%d bytes) is not a non-zero multiple of 1 MiB", row.Name, f[1], v)
		}
		row.Start = v
	}
	if strings.EqualFold(f[2], "rest") {
		row.Size = -1
	} else {
		v, err := size.Parse(f[2])
		if err != nil {
			return row, fmt.Errorf("%s: %w", row.Name, err)
		}
		if v%MiB != 0 || v == 0 {
			return row, fmt.Errorf("%s: size %s (%d bytes) is not a non-zero multiple of 1 MiB", row.Name, f[2], v)
		}
		row.Size = v
	}
	if t, ok := typeLetters[strings.ToUpper(f[3])]; ok && len(f[3]) == 1 {
		row.Type = t
	} else if len(f[3]) == 36 {
		t, err := ParseGUID(f[3])
		if err != nil {
			return row, fmt.Errorf("%s: type: %w", row.Name, err)
		}
		row.Type = t
	} else {
		return row, fmt.Errorf("%s: unknown type %q (want U, L, M, V or a type GUID)", row.Name, f[3])
	}
	if f[4] != "" {
		g, err := ParseGUID(f[4])
		if err != nil {
			return row, fmt.Errorf("%s: uuid: %w", row.Name, err)
		}
		row.GUID = g
	}
	return row, nil
}
