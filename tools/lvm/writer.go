package lvm

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"unicode"

	"github.com/icos-build/icos/tools/sparse"
)

// DefaultExtentSize is the extent size of the volume groups we write.
const DefaultExtentSize = 4 << 20

// Config describes the physical volume image to write.
type Config struct {
	Size         int64    // PV (image) size in bytes, a multiple of 512
	VGName       string   // volume group name
	VGUUID       string   // VG UUID (see ParseUUID)
	PVUUID       string   // PV UUID
	ExtentSize   int64    // extent size in bytes; 0 means DefaultExtentSize
	CreationTime int64    // creation_time of the VG text and every LV (seconds since 1970)
	CreationHost string   // creation_host of the VG text and every LV
	PVDevice     string   // device hint stored for pv0, e.g. "/dev/sda3"
	Volumes      []Volume // logical volumes, in order
}

// Layout is a validated Config with every volume placed.
type Layout struct {
	Config
	PECount int64    // number of physical extents
	Volumes []Volume // volumes with Start resolved
	Text    string   // metadata text
}

// Offset returns the byte offset of the first extent of v in the image.
func (l *Layout) Offset(v Volume) int64 { return peStart + v.Start*l.ExtentSize }

// VolumeSize returns the size of v in bytes.
func (l *Layout) VolumeSize(v Volume) int64 { return v.Extents * l.ExtentSize }

// Plan validates c and places its volumes: packed starts, overlaps, the end
// of the PV, names and UUIDs. Errors name the volume and its line.
func Plan(c Config) (*Layout, error) {
	if c.ExtentSize == 0 {
		c.ExtentSize = DefaultExtentSize
	}
	if c.ExtentSize < 4096 || c.ExtentSize&(c.ExtentSize-1) != 0 {
		return nil, fmt.Errorf("lvm: extent size %d is not a power of two of at least 4 KiB", c.ExtentSize)
	}
	if c.Size%sectorSize != 0 || c.Size < peStart+c.ExtentSize {
		return nil, fmt.Errorf("lvm: PV size %d is not a multiple of %d of at least %d bytes (1 MiB of headers + one extent)", c.Size, sectorSize, peStart+c.ExtentSize)
	}
	if err := checkName(c.VGName); err != nil {
		return nil, fmt.Errorf("lvm: VG name: %w", err)
	}
	var err error
	if c.VGUUID, err = ParseUUID(c.VGUUID); err != nil {
		return nil, fmt.Errorf("lvm: VG: %w", err)
	}
	if c.PVUUID, err = ParseUUID(c.PVUUID); err != nil {
		return nil, fmt.Errorf("lvm: PV: %w", err)
	}
	for _, s := range []struct{ what, v string }{{"creation host", c.CreationHost}, {"PV device", c.PVDevice}} {
		for _, r := range s.v {
			if r == '\n' || unicode.IsControl(r) {
				return nil, fmt.Errorf("lvm: %s %q: control characters not allowed", s.what, s.v)
			}
		}
	}
	if c.PVDevice == "" {
		return nil, fmt.Errorf("lvm: empty PV device hint")
	}
	l := &Layout{Config: c, PECount: (c.Size - peStart) / c.ExtentSize}
	seenName := map[string]bool{}
	seenUUID := map[string]string{c.VGUUID: "the VG", c.PVUUID: "the PV"}
	next := int64(0)
	for _, v := range c.Volumes {
		where := fmt.Sprintf("lvm: volume %s", v.Name)
		if v.Line > 0 {
			where = fmt.Sprintf("lvm: line %d: %s", v.Line, v.Name)
		}
		if err := checkLVName(v.Name); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if seenName[v.Name] {
			return nil, fmt.Errorf("%s: name used twice", where)
		}
		seenName[v.Name] = true
		if v.UUID, err = ParseUUID(v.UUID); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if other, ok := seenUUID[v.UUID]; ok {
			return nil, fmt.Errorf("%s: UUID %s already used by %s", where, v.UUID, other)
		}
		seenUUID[v.UUID] = "volume " + v.Name
		if v.Extents <= 0 {
			return nil, fmt.Errorf("%s: size of %d extents", where, v.Extents)
		}
		if v.Start < 0 {
			v.Start = next
		}
		if end := v.Start + v.Extents; end > l.PECount {
			return nil, fmt.Errorf("%s: extents [%d, %d) do not fit the %d extents of a %d-byte PV", where, v.Start, end, l.PECount, c.Size)
		}
		for _, o := range l.Volumes {
			if v.Start < o.Start+o.Extents && o.Start < v.Start+v.Extents {
				return nil, fmt.Errorf("%s: extents [%d, %d) overlap %s at [%d, %d)", where, v.Start, v.Start+v.Extents, o.Name, o.Start, o.Start+o.Extents)
			}
		}
		next = v.Start + v.Extents
		l.Volumes = append(l.Volumes, v)
	}
	l.Text = metadataText(&l.Config, c.Size/sectorSize, l.PECount, l.Volumes)
	if room := int64(peStart - mdaOffset - mdaHdrSize); int64(len(l.Text)) > room {
		return nil, fmt.Errorf("lvm: metadata text is %d bytes, the metadata area holds %d", len(l.Text), room)
	}
	return l, nil
}

// Lookup returns the volume named name.
func (l *Layout) Lookup(name string) (Volume, bool) {
	for _, v := range l.Volumes {
		if v.Name == name {
			return v, true
		}
	}
	return Volume{}, false
}

// Write writes the PV image to f, a fresh empty file: label, metadata area
// and, for each entry of images (LV name to image path, raw or .zst), the
// image copied into its LV with sparse.CopyImage. The file is sized to l.Size.
func (l *Layout) Write(f *os.File, images map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(images)) {
		if _, ok := l.Lookup(name); !ok {
			return fmt.Errorf("lvm: image for %q: no such logical volume", name)
		}
	}
	if err := f.Truncate(l.Size); err != nil {
		return fmt.Errorf("lvm: %w", err)
	}
	mdaSize := uint64(peStart - mdaOffset)
	label := labelSectorBytes(l.PVUUID, uint64(l.Size), diskLocn{offset: peStart}, diskLocn{offset: mdaOffset, size: mdaSize})
	text := []byte(l.Text)
	header := mdaHeaderBytes(mdaOffset, mdaSize, mdaHdrSize, uint64(len(text)), crc(text))
	for _, w := range []struct {
		what string
		b    []byte
		off  int64
	}{
		{"label", label, labelSector * sectorSize},
		{"metadata area header", header, mdaOffset},
		{"metadata text", text, mdaOffset + mdaHdrSize},
	} {
		if _, err := f.WriteAt(w.b, w.off); err != nil {
			return fmt.Errorf("lvm: writing %s: %w", w.what, err)
		}
	}
	for _, v := range l.Volumes {
		path, ok := images[v.Name]
		if !ok {
			continue
		}
		if err := sparse.CopyImage(f, l.Offset(v), l.VolumeSize(v), path); err != nil {
			return fmt.Errorf("lvm: volume %s: %w", v.Name, err)
		}
	}
	return nil
}
