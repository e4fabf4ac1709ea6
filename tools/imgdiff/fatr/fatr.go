// Package fatr reads FAT12, FAT16 and FAT32 filesystem images without writing
// to them: the BIOS parameter block, FAT chains and directories with VFAT long
// names. Like tools/imgdiff/ext4r it also tells what each sector is used for
// (Layout), to explain differences between images.
//
// The format follows Microsoft's "FAT: General Overview of On-Disk Format"
// (fatgen103).
package fatr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"unicode/utf16"
)

// ErrNotFAT is returned by Open when the boot sector is not a FAT one.
var ErrNotFAT = errors.New("fatr: no FAT boot sector")

// Attribute bits of a directory entry.
const (
	AttrReadOnly  = 0x01
	AttrHidden    = 0x02
	AttrSystem    = 0x04
	AttrVolumeID  = 0x08
	AttrDirectory = 0x10
	AttrArchive   = 0x20
	attrLFN       = 0x0F
)

// BPB holds the boot sector fields the reader uses.
type BPB struct {
	BytesPerSector    uint32
	SectorsPerCluster uint32
	ReservedSectors   uint32
	NumFATs           uint32
	RootEntries       uint32
	TotalSectors      uint32
	FATSectors        uint32
	RootCluster       uint32 // FAT32 only
	FSInfoSector      uint32 // FAT32 only
	BackupBootSector  uint32 // FAT32 only
}

// FS is an opened FAT volume.
type FS struct {
	r        io.ReaderAt
	off      int64
	BPB      BPB
	Bits     int // 12, 16 or 32
	fat      []uint32
	rootSecs uint32 // sectors of the FAT12/16 root directory
	dataSec  uint32 // first sector of cluster 2
	clusters uint32 // count of data clusters
}

// Open reads the boot sector and the first FAT of the volume starting at byte
// off of r.
func Open(r io.ReaderAt, off int64) (*FS, error) {
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("fatr: read boot sector: %w", err)
	}
	le := binary.LittleEndian
	p := BPB{
		BytesPerSector:    uint32(le.Uint16(b[11:])),
		SectorsPerCluster: uint32(b[13]),
		ReservedSectors:   uint32(le.Uint16(b[14:])),
		NumFATs:           uint32(b[16]),
		RootEntries:       uint32(le.Uint16(b[17:])),
		TotalSectors:      uint32(le.Uint16(b[19:])),
		FATSectors:        uint32(le.Uint16(b[22:])),
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		return nil, ErrNotFAT
	}
	switch p.BytesPerSector {
	case 512, 1024, 2048, 4096:
	default:
		return nil, ErrNotFAT
	}
	if p.SectorsPerCluster == 0 || p.SectorsPerCluster&(p.SectorsPerCluster-1) != 0 ||
		p.ReservedSectors == 0 || p.NumFATs == 0 || (b[21] != 0xF0 && b[21] < 0xF8) {
		return nil, ErrNotFAT
	}
	if p.TotalSectors == 0 {
		p.TotalSectors = le.Uint32(b[32:])
	}
	if p.FATSectors == 0 {
		p.FATSectors = le.Uint32(b[36:])
		p.RootCluster = le.Uint32(b[44:])
		p.FSInfoSector = uint32(le.Uint16(b[48:]))
		p.BackupBootSector = uint32(le.Uint16(b[50:]))
	}
	fs := &FS{r: r, off: off, BPB: p}
	fs.rootSecs = (p.RootEntries*32 + p.BytesPerSector - 1) / p.BytesPerSector
	fs.dataSec = p.ReservedSectors + p.NumFATs*p.FATSectors + fs.rootSecs
	if p.FATSectors == 0 || fs.dataSec >= p.TotalSectors {
		return nil, fmt.Errorf("fatr: boot sector: bad geometry")
	}
	fs.clusters = (p.TotalSectors - fs.dataSec) / p.SectorsPerCluster
	switch {
	case fs.clusters < 4085:
		fs.Bits = 12
	case fs.clusters < 65525:
		fs.Bits = 16
	default:
		fs.Bits = 32
	}
	if (fs.Bits == 32) != (p.RootEntries == 0) {
		return nil, fmt.Errorf("fatr: boot sector: FAT%d with %d root entries", fs.Bits, p.RootEntries)
	}
	raw := make([]byte, int64(p.FATSectors)*int64(p.BytesPerSector))
	if _, err := r.ReadAt(raw, off+int64(p.ReservedSectors)*int64(p.BytesPerSector)); err != nil {
		return nil, fmt.Errorf("fatr: read FAT: %w", err)
	}
	n := fs.clusters + 2
	fs.fat = make([]uint32, n)
	for c := uint32(0); c < n; c++ {
		switch fs.Bits {
		case 12:
			o := c * 3 / 2
			if int(o)+1 >= len(raw) {
				return nil, fmt.Errorf("fatr: FAT too short for %d clusters", fs.clusters)
			}
			v := uint32(le.Uint16(raw[o:]))
			if c%2 == 1 {
				v >>= 4
			}
			fs.fat[c] = v & 0xFFF
		case 16:
			if int(c)*2+2 > len(raw) {
				return nil, fmt.Errorf("fatr: FAT too short for %d clusters", fs.clusters)
			}
			fs.fat[c] = uint32(le.Uint16(raw[c*2:]))
		default:
			if int(c)*4+4 > len(raw) {
				return nil, fmt.Errorf("fatr: FAT too short for %d clusters", fs.clusters)
			}
			fs.fat[c] = le.Uint32(raw[c*4:]) & 0x0FFFFFFF
		}
	}
	return fs, nil
}

// SectorSize returns the bytes per sector.
func (fs *FS) SectorSize() int64 { return int64(fs.BPB.BytesPerSector) }

// ClusterSize returns the bytes per cluster.
func (fs *FS) ClusterSize() int64 { return int64(fs.BPB.BytesPerSector * fs.BPB.SectorsPerCluster) }

// Size returns the volume size in bytes.
func (fs *FS) Size() int64 { return int64(fs.BPB.TotalSectors) * fs.SectorSize() }

func (fs *FS) isEOC(v uint32) bool {
	switch fs.Bits {
	case 12:
		return v >= 0xFF8
	case 16:
		return v >= 0xFFF8
	}
	return v >= 0x0FFFFFF8
}

// Chain returns the clusters of the chain starting at cluster first.
func (fs *FS) Chain(first uint32) ([]uint32, error) {
	cs, err := fs.chain(first)
	if err != nil {
		return nil, fmt.Errorf("fatr: %w", err)
	}
	return cs, nil
}

func (fs *FS) chain(first uint32) ([]uint32, error) {
	var out []uint32
	for c := first; ; {
		if c < 2 || c >= fs.clusters+2 {
			return nil, fmt.Errorf("chain from cluster %d: bad cluster %d", first, c)
		}
		if len(out) > int(fs.clusters) {
			return nil, fmt.Errorf("chain from cluster %d: loop", first)
		}
		out = append(out, c)
		v := fs.fat[c]
		if fs.isEOC(v) {
			return out, nil
		}
		c = v
	}
}

// Free reports whether a cluster is free in the FAT.
func (fs *FS) Free(c uint32) bool { return c < uint32(len(fs.fat)) && fs.fat[c] == 0 }

// ClusterOffset returns the byte offset of a cluster from the volume start.
func (fs *FS) ClusterOffset(c uint32) int64 {
	return (int64(fs.dataSec) + int64(c-2)*int64(fs.BPB.SectorsPerCluster)) * fs.SectorSize()
}

// Entry is a file or directory of the volume.
type Entry struct {
	Path       string // absolute, "/" for the root
	ShortName  string // 8.3 name as stored ("README  TXT" -> "README.TXT")
	Attr       uint8
	Size       uint32
	Cluster    uint32 // first cluster, 0 if none
	NTRes      uint8  // case flags
	CTime      uint32 // creation: date<<16 | time, DOS format
	CTimeTenth uint8
	ADate      uint16
	ModTime    uint32 // modification: date<<16 | time, DOS format
	Clusters   []uint32
}

// IsDir reports whether the entry is a directory.
func (e *Entry) IsDir() bool { return e.Attr&AttrDirectory != 0 }

// ReadAt reads file content; clusters beyond the chain are an error.
func (fs *FS) ReadAt(e *Entry, p []byte, off int64) (int, error) {
	size := int64(e.Size)
	if e.IsDir() {
		size = int64(len(e.Clusters)) * fs.ClusterSize()
	}
	if off >= size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), size-off))
	cs := fs.ClusterSize()
	for done := 0; done < n; {
		pos := off + int64(done)
		ci := pos / cs
		if ci >= int64(len(e.Clusters)) {
			return done, fmt.Errorf("fatr: %s: chain shorter than the file size", e.Path)
		}
		in := pos % cs
		k := int(min(int64(n-done), cs-in))
		if _, err := fs.r.ReadAt(p[done:done+k], fs.off+fs.ClusterOffset(e.Clusters[ci])+in); err != nil {
			return done, fmt.Errorf("fatr: %s: %w", e.Path, err)
		}
		done += k
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// rootDir returns the raw root directory.
func (fs *FS) rootDir() ([]byte, []uint32, error) {
	if fs.Bits == 32 {
		cs, err := fs.chain(fs.BPB.RootCluster)
		if err != nil {
			return nil, nil, fmt.Errorf("root directory: %w", err)
		}
		b, err := fs.readClusters(cs)
		if err != nil {
			return nil, nil, fmt.Errorf("root directory: %w", err)
		}
		return b, cs, nil
	}
	b := make([]byte, int64(fs.rootSecs)*fs.SectorSize())
	_, err := fs.r.ReadAt(b, fs.off+int64(fs.BPB.ReservedSectors+fs.BPB.NumFATs*fs.BPB.FATSectors)*fs.SectorSize())
	if err != nil {
		return nil, nil, fmt.Errorf("root directory: %w", err)
	}
	return b, nil, nil
}

func (fs *FS) readClusters(cs []uint32) ([]byte, error) {
	if int64(len(cs))*fs.ClusterSize() > 64<<20 {
		return nil, fmt.Errorf("directory larger than 64 MiB")
	}
	b := make([]byte, int64(len(cs))*fs.ClusterSize())
	for i, c := range cs {
		if _, err := fs.r.ReadAt(b[int64(i)*fs.ClusterSize():int64(i+1)*fs.ClusterSize()], fs.off+fs.ClusterOffset(c)); err != nil {
			return nil, fmt.Errorf("read cluster %d: %w", c, err)
		}
	}
	return b, nil
}

// Label returns the volume label from the root directory ("" if none).
func (fs *FS) Label() (string, error) {
	b, _, err := fs.rootDir()
	if err != nil {
		return "", fmt.Errorf("fatr: %w", err)
	}
	for o := 0; o+32 <= len(b) && b[o] != 0; o += 32 {
		if b[o] != 0xE5 && b[o+11]&0x1F == AttrVolumeID {
			return strings.TrimRight(string(b[o:o+11]), " "), nil
		}
	}
	return "", nil
}

// Walk returns every file and directory, the root included, sorted by path.
func (fs *FS) Walk() ([]Entry, error) {
	b, rootClusters, err := fs.rootDir()
	if err != nil {
		return nil, fmt.Errorf("fatr: %w", err)
	}
	out := []Entry{{Path: "/", Attr: AttrDirectory, Cluster: fs.BPB.RootCluster, Clusters: rootClusters}}
	var visit func(dir string, raw []byte, depth int) error
	visit = func(dir string, raw []byte, depth int) error {
		if depth > 64 {
			return fmt.Errorf("fatr: %s: directories nested too deep", dir)
		}
		ents, err := parseDir(raw, dir)
		if err != nil {
			return fmt.Errorf("fatr: %w", err)
		}
		for _, e := range ents {
			if e.Cluster != 0 {
				if e.Clusters, err = fs.chain(e.Cluster); err != nil {
					return fmt.Errorf("fatr: %s: %w", e.Path, err)
				}
			}
			if !e.IsDir() && int64(len(e.Clusters))*fs.ClusterSize() < int64(e.Size) {
				return fmt.Errorf("fatr: %s: %d clusters for %d bytes", e.Path, len(e.Clusters), e.Size)
			}
			out = append(out, e)
			if e.IsDir() {
				sub, err := fs.readClusters(e.Clusters)
				if err != nil {
					return fmt.Errorf("fatr: %s: %w", e.Path, err)
				}
				if err := visit(e.Path, sub, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := visit("/", b, 0); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func lfnChecksum(short []byte) uint8 {
	var s uint8
	for _, c := range short[:11] {
		s = (s>>1 | s<<7) + c
	}
	return s
}

// oem renders the bytes of a short name: ASCII as is, bytes of the OEM code
// page (0x80 and up, whose meaning depends on the code page of the system that
// wrote them) as \xNN escapes, so names stay stable and distinct.
func oem(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c < 0x80 {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, "\\x%02x", c)
		}
	}
	return sb.String()
}

func shortName(e []byte) string {
	b := append([]byte(nil), e[:11]...)
	if b[0] == 0x05 {
		b[0] = 0xE5
	}
	base := oem(bytes.TrimRight(b[0:8], " "))
	ext := oem(bytes.TrimRight(b[8:11], " "))
	if ext != "" {
		return base + "." + ext
	}
	return base
}

// displayName applies the Windows NT case flags to a short name.
func displayName(e []byte) string {
	b := append([]byte(nil), e[:11]...)
	if b[0] == 0x05 {
		b[0] = 0xE5
	}
	base := oem(bytes.TrimRight(b[0:8], " "))
	ext := oem(bytes.TrimRight(b[8:11], " "))
	if e[12]&0x08 != 0 {
		base = strings.ToLower(base)
	}
	if e[12]&0x10 != 0 {
		ext = strings.ToLower(ext)
	}
	if ext != "" {
		return base + "." + ext
	}
	return base
}

func parseDir(b []byte, dir string) ([]Entry, error) {
	le := binary.LittleEndian
	var out []Entry
	var lfn []uint16
	var lfnSum uint8
	lfnNext := -1
	for o := 0; o+32 <= len(b); o += 32 {
		e := b[o : o+32]
		if e[0] == 0 {
			break
		}
		if e[0] == 0xE5 {
			lfnNext = -1
			continue
		}
		if e[11]&0x3F == attrLFN {
			ord := int(e[0] & 0x1F)
			if e[0]&0x40 != 0 {
				lfn = make([]uint16, ord*13)
				lfnSum = e[13]
				lfnNext = ord
			}
			if ord != lfnNext || ord == 0 || e[13] != lfnSum {
				lfnNext = -1
				continue
			}
			var units []uint16
			for _, r := range [][2]int{{1, 11}, {14, 26}, {28, 32}} {
				for i := r[0]; i < r[1]; i += 2 {
					units = append(units, le.Uint16(e[i:]))
				}
			}
			copy(lfn[(ord-1)*13:], units)
			lfnNext = ord - 1
			continue
		}
		if e[11]&AttrVolumeID != 0 {
			lfnNext = -1
			continue
		}
		name := displayName(e)
		if lfnNext == 0 && lfnChecksum(e) == lfnSum {
			n := 0
			for n < len(lfn) && lfn[n] != 0 {
				n++
			}
			name = string(utf16.Decode(lfn[:n]))
		}
		lfnNext = -1
		if name == "." || name == ".." {
			continue
		}
		if name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("%s: bad entry name %q", dir, name)
		}
		out = append(out, Entry{
			Path:       path.Join(dir, name),
			ShortName:  shortName(e),
			Attr:       e[11],
			NTRes:      e[12],
			CTimeTenth: e[13],
			CTime:      uint32(le.Uint16(e[16:]))<<16 | uint32(le.Uint16(e[14:])),
			ADate:      le.Uint16(e[18:]),
			ModTime:    uint32(le.Uint16(e[24:]))<<16 | uint32(le.Uint16(e[22:])),
			Cluster:    uint32(le.Uint16(e[20:]))<<16 | uint32(le.Uint16(e[26:])),
			Size:       le.Uint32(e[28:]),
		})
	}
	return out, nil
}

// FormatTime formats a DOS date<<16|time value as "2006-01-02 15:04:05".
func FormatTime(v uint32) string {
	d, t := v>>16, v&0xFFFF
	return fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d", 1980+d>>9, d>>5&15, d&31, t>>11, t>>5&63, (t&31)*2)
}
