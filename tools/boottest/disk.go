package boottest

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/icos-build/icos/tools/grubenv"
	"github.com/icos-build/icos/tools/zst"
)

// Partition is one GPT partition of a disk image, as sfdisk reports it.
type Partition struct {
	Name   string
	Offset int64 // bytes from the start of the disk
	Size   int64 // bytes
}

// sfdiskTable is the part of `sfdisk --json` output read here.
type sfdiskTable struct {
	PartitionTable struct {
		Label      string `json:"label"`
		SectorSize int64  `json:"sectorsize"`
		Partitions []struct {
			Start int64  `json:"start"`
			Size  int64  `json:"size"`
			Name  string `json:"name"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

// parseSfdisk reads the JSON of `sfdisk --json` into partitions by name.
func parseSfdisk(b []byte) (map[string]Partition, error) {
	var t sfdiskTable
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("boottest: sfdisk --json: %w", err)
	}
	pt := t.PartitionTable
	if pt.Label != "gpt" {
		return nil, fmt.Errorf("boottest: sfdisk --json: partition table %q, want gpt", pt.Label)
	}
	sector := pt.SectorSize
	if sector == 0 {
		sector = 512
	}
	parts := map[string]Partition{}
	for _, p := range pt.Partitions {
		if _, dup := parts[p.Name]; dup || p.Name == "" {
			return nil, fmt.Errorf("boottest: sfdisk --json: partition name %q empty or repeated", p.Name)
		}
		parts[p.Name] = Partition{Name: p.Name, Offset: p.Start * sector, Size: p.Size * sector}
	}
	return parts, nil
}

// Partitions reads the GPT of the raw disk image with sfdisk.
func Partitions(disk string) (map[string]Partition, error) {
	out, err := exec.Command("sfdisk", "--json", disk).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("boottest: sfdisk --json %s: %w\n%s", disk, err, ee.Stderr)
		}
		return nil, fmt.Errorf("boottest: sfdisk --json %s: %w", disk, err)
	}
	return parseSfdisk(out)
}

// WriteUpdate writes the partition images of an update-img.tar.zst
// (boot.img, root.img: sparse tar entries) into the partitions boot and root of the
// raw disk, as an upgrade writes the inactive system. Only non-zero 4 KiB
// blocks are written: the target partitions must read as zeros (unused
// since the disk was made), which keeps the disk sparse.
func WriteUpdate(disk, update string, boot, root Partition) error {
	f, err := os.Open(update)
	if err != nil {
		return fmt.Errorf("boottest: %w", err)
	}
	defer f.Close()
	zr, err := zst.NewReader(f)
	if err != nil {
		return fmt.Errorf("boottest: %s: %w", update, err)
	}
	defer zr.Close()
	d, err := os.OpenFile(disk, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("boottest: %w", err)
	}
	defer d.Close()
	targets := map[string]Partition{"boot.img": boot, "root.img": root}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("boottest: %s: %w", update, err)
		}
		p, ok := targets[h.Name]
		if !ok {
			continue
		}
		delete(targets, h.Name)
		n, err := writeNonZero(d, tr, p.Offset, p.Size)
		if err != nil {
			return fmt.Errorf("boottest: %s: %s into %s: %w", update, h.Name, p.Name, err)
		}
		if n == 0 {
			return fmt.Errorf("boottest: %s: %s is empty", update, h.Name)
		}
	}
	if len(targets) > 0 {
		return fmt.Errorf("boottest: %s: no %v", update, keys(targets))
	}
	return d.Sync()
}

func keys(m map[string]Partition) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	return s
}

// writeNonZero copies r to w at off, skipping all-zero 4 KiB blocks; more
// than limit bytes is an error. It returns the bytes read.
func writeNonZero(w io.WriterAt, r io.Reader, off, limit int64) (int64, error) {
	buf := make([]byte, 1<<20)
	zero := make([]byte, 4096)
	var n int64
	for {
		m, err := io.ReadFull(r, buf)
		if m > 0 {
			if n+int64(m) > limit {
				return n, fmt.Errorf("image larger than the partition (%d bytes)", limit)
			}
			for i := 0; i < m; i += len(zero) {
				blk := buf[i:min(i+len(zero), m)]
				if bytes.Equal(blk, zero[:len(blk)]) {
					continue
				}
				if _, err := w.WriteAt(blk, off+n+int64(i)); err != nil {
					return n, err
				}
			}
			n += int64(m)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// mtoolsImage is the mtools name of the FAT filesystem in partition p of disk.
func mtoolsImage(disk string, p Partition) string {
	return fmt.Sprintf("%s@@%d", disk, p.Offset)
}

// ReadGrubenv reads the variables of /grubenv in the FAT filesystem of
// partition p (with mtools).
func ReadGrubenv(disk string, p Partition) ([]grubenv.Var, error) {
	out, err := exec.Command("mcopy", "-n", "-i", mtoolsImage(disk, p), "::grubenv", "-").Output()
	if err != nil {
		return nil, fmt.Errorf("boottest: mcopy ::grubenv from %s: %w", p.Name, err)
	}
	vars, err := grubenv.Decode(out)
	if err != nil {
		return nil, fmt.Errorf("boottest: grubenv of %s: %w", p.Name, err)
	}
	return vars, nil
}

// SetGrubenv sets variables ("name=value") in /grubenv of the FAT
// filesystem of partition p, keeping the others, as grub-editenv would.
func SetGrubenv(disk string, p Partition, set ...string) error {
	vars, err := ReadGrubenv(disk, p)
	if err != nil {
		return err
	}
	for _, s := range set {
		name, value, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("boottest: grubenv: %q is not name=value", s)
		}
		vars = grubenv.Set(vars, name, value)
	}
	b, err := grubenv.Encode(vars)
	if err != nil {
		return fmt.Errorf("boottest: grubenv: %w", err)
	}
	tmp, err := os.CreateTemp("", "grubenv")
	if err != nil {
		return fmt.Errorf("boottest: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("boottest: %w", err)
	}
	tmp.Close()
	if out, err := exec.Command("mcopy", "-n", "-o", "-i", mtoolsImage(disk, p), tmp.Name(), "::grubenv").CombinedOutput(); err != nil {
		return fmt.Errorf("boottest: mcopy grubenv to %s: %w\n%s", p.Name, err, out)
	}
	return nil
}

// FlipByte inverts one byte of the disk at offset off of partition p.
func FlipByte(disk string, p Partition, off int64) error {
	if off < 0 || off >= p.Size {
		return fmt.Errorf("boottest: offset %d outside partition %s", off, p.Name)
	}
	f, err := os.OpenFile(disk, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("boottest: %w", err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, p.Offset+off); err != nil {
		return fmt.Errorf("boottest: %w", err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, p.Offset+off); err != nil {
		return fmt.Errorf("boottest: %w", err)
	}
	return f.Sync()
}
