package gpt

import (
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/diskfs/go-diskfs/backend"
	diskfsgpt "github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/icos-build/icos/tools/sparse"
)

// WriteTable writes the protective MBR and the primary and backup GPT of t
// to f, which must be at least t.DiskSize bytes long (or a fresh file: the
// backup GPT extends it).
func WriteTable(f *os.File, t *Table) error {
	dt := &diskfsgpt.Table{
		LogicalSectorSize:  SectorSize,
		PhysicalSectorSize: SectorSize,
		GUID:               t.DiskGUID,
		ProtectiveMBR:      true,
	}
	for _, p := range t.Partitions {
		dt.Partitions = append(dt.Partitions, &diskfsgpt.Partition{
			Index: p.Index,
			Start: uint64(p.Start / SectorSize),
			End:   uint64(p.End()/SectorSize - 1),
			Size:  uint64(p.Size),
			Type:  diskfsgpt.Type(p.Type),
			Name:  p.Name,
			GUID:  p.GUID,
		})
	}
	// Hide Sync from go-diskfs: it syncs after every sector it writes,
	// which is pointless for an output the caller commits as a whole.
	if err := dt.Write(noSync{f}, t.DiskSize); err != nil {
		return fmt.Errorf("gpt: writing table: %w", err)
	}
	// go-diskfs stores the protective partition's size as a truncated
	// uint32; the UEFI spec wants 0xFFFFFFFF when the disk is larger.
	if sectors := t.DiskSize/SectorSize - 1; sectors > 0xFFFFFFFF {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], 0xFFFFFFFF)
		if _, err := f.WriteAt(b[:], 446+12); err != nil {
			return fmt.Errorf("gpt: writing protective MBR: %w", err)
		}
	}
	return nil
}

// noSync passes only the backend.WritableFile methods of a file.
type noSync struct{ backend.WritableFile }

// Assemble writes a whole disk to f, a fresh empty file: the partition
// table, then each image of images (partition name to image path) copied
// sparsely into its partition, then the file is sized to t.DiskSize.
// Partitions without an image stay empty (holes). Images are visited in
// table order.
func Assemble(f *os.File, t *Table, images map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(images)) {
		if _, ok := t.Lookup(name); !ok {
			return fmt.Errorf("gpt: image for %q: no such partition", name)
		}
	}
	if err := f.Truncate(t.DiskSize); err != nil {
		return fmt.Errorf("gpt: %w", err)
	}
	if err := WriteTable(f, t); err != nil {
		return err
	}
	for _, p := range t.Partitions {
		path, ok := images[p.Name]
		if !ok {
			continue
		}
		if err := sparse.CopyImage(f, p.Start, p.Size, path); err != nil {
			return fmt.Errorf("gpt: partition %s: %w", p.Name, err)
		}
	}
	return nil
}
