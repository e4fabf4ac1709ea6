package ext4r

import (
	"fmt"
	"sort"

	"github.com/icos-build/icos/tools/ext4/ondisk"
)

// Kind says what a region of blocks holds.
type Kind int

// Kinds of regions.
const (
	KindMeta      Kind = iota // filesystem metadata (superblock, bitmaps, inode tables...)
	KindFileData              // content of a regular file or slow symlink
	KindDirectory             // directory blocks
	KindMap                   // extent tree or indirect blocks of a file
	KindXattr                 // extended attribute block
	KindJournal               // journal blocks
	KindFree                  // free in the block bitmap
	KindUnowned               // allocated in the bitmap but owned by nothing found
	KindOutside               // beyond the end of the filesystem
)

// Region is a run of blocks with one use.
type Region struct {
	Start, Len uint64
	Kind       Kind
	What       string // human description, e.g. "inode table of group 3" or "/etc/passwd"
}

// Layout tells what each block of a filesystem is used for.
type Layout struct {
	fs      *FS
	regions []Region // sorted by Start, not overlapping
	bitmaps map[uint64][]byte
}

// HasSuper reports whether block group g holds a superblock backup.
func (fs *FS) HasSuper(g uint64) bool {
	if g <= 1 || fs.SB.FeatureROCompat&ondisk.ROCompatSparseSuper == 0 {
		return true
	}
	for _, b := range []uint64{3, 5, 7} {
		n := b
		for n < g {
			n *= b
		}
		if n == g {
			return true
		}
	}
	return false
}

// NewLayout maps the metadata of every group and the blocks of the given
// files (as returned by Walk) plus the journal.
func (fs *FS) NewLayout(files []File) (*Layout, error) {
	l := &Layout{fs: fs, bitmaps: map[uint64][]byte{}}
	sb := fs.SB
	gdtBlocks := (uint64(len(fs.Groups))*uint64(sb.DescSize) + uint64(fs.bs) - 1) / uint64(fs.bs)
	itBlocks := (uint64(sb.InodesPerGroup)*uint64(sb.InodeSize) + uint64(fs.bs) - 1) / uint64(fs.bs)
	add := func(start, n uint64, k Kind, what string) {
		if n > 0 {
			l.regions = append(l.regions, Region{Start: start, Len: n, Kind: k, What: what})
		}
	}
	if sb.FirstDataBlock > 0 {
		add(0, uint64(sb.FirstDataBlock), KindMeta, "boot block")
	}
	for gi, g := range fs.Groups {
		gn := uint64(gi)
		first := uint64(sb.FirstDataBlock) + gn*uint64(sb.BlocksPerGroup)
		if fs.HasSuper(gn) {
			if gn == 0 {
				add(first, 1, KindMeta, "superblock")
				add(first+1, gdtBlocks, KindMeta, "group descriptors")
				add(first+1+gdtBlocks, uint64(sb.ReservedGDT), KindMeta, "reserved GDT blocks")
			} else {
				w := fmt.Sprintf(" (backup in group %d)", gn)
				add(first, 1, KindMeta, "superblock"+w)
				add(first+1, gdtBlocks, KindMeta, "group descriptors"+w)
				add(first+1+gdtBlocks, uint64(sb.ReservedGDT), KindMeta, "reserved GDT blocks"+w)
			}
		}
		add(g.BlockBitmap, 1, KindMeta, fmt.Sprintf("block bitmap of group %d", gi))
		add(g.InodeBitmap, 1, KindMeta, fmt.Sprintf("inode bitmap of group %d", gi))
		add(g.InodeTable, itBlocks, KindMeta, fmt.Sprintf("inode table of group %d", gi))
	}
	addFile := func(in *Inode, name string) error {
		data, meta, err := fs.extents(in)
		if err != nil {
			return fmt.Errorf("ext4r: %s: %w", name, err)
		}
		k := KindFileData
		switch {
		case in.IsDir():
			k = KindDirectory
		case in.Ino == sb.JournalIno && sb.FeatureCompat&ondisk.CompatHasJournal != 0:
			k = KindJournal
		}
		for _, e := range data {
			add(e.Physical, e.Len, k, name)
		}
		for _, b := range meta {
			add(b, 1, KindMap, name)
		}
		if in.FileACL != 0 {
			add(in.FileACL, 1, KindXattr, name)
		}
		return nil
	}
	seen := map[uint32]bool{}
	for _, f := range files {
		if seen[f.Inode.Ino] { // hard links: one owner, the first path
			continue
		}
		seen[f.Inode.Ino] = true
		if err := addFile(f.Inode, f.Path); err != nil {
			return nil, err
		}
	}
	if sb.FeatureCompat&ondisk.CompatHasJournal != 0 && sb.JournalIno != 0 {
		in, err := fs.inode(sb.JournalIno)
		if err != nil {
			return nil, fmt.Errorf("ext4r: journal: %w", err)
		}
		if err := addFile(in, "journal"); err != nil {
			return nil, err
		}
	}
	if in, err := fs.inode(ondisk.ResizeIno); err == nil && in.Mode != 0 && in.Flags&ondisk.InodeFlagExtents == 0 {
		// The resize inode maps the reserved GDT blocks; only its own
		// indirect blocks are new.
		if _, meta, err := fs.extents(in); err == nil {
			for _, b := range meta {
				add(b, 1, KindMeta, "resize inode")
			}
		}
	}
	sort.SliceStable(l.regions, func(i, j int) bool { return l.regions[i].Start < l.regions[j].Start })
	// Drop overlaps (a corrupt or shared block): the earlier region wins.
	out := l.regions[:0]
	var end uint64
	for _, r := range l.regions {
		if len(out) > 0 && r.Start < end {
			if r.Start+r.Len <= end {
				continue
			}
			r.Len -= end - r.Start
			r.Start = end
		}
		out = append(out, r)
		end = r.Start + r.Len
	}
	l.regions = out
	return l, nil
}

// Describe splits the blocks [start, start+n) into regions by use. Blocks
// owned by nothing are KindFree or KindUnowned according to the block bitmap.
func (l *Layout) Describe(start, n uint64) ([]Region, error) {
	var out []Region
	emit := func(r Region) {
		if k := len(out); k > 0 && out[k-1].Kind == r.Kind && out[k-1].What == r.What &&
			out[k-1].Start+out[k-1].Len == r.Start {
			out[k-1].Len += r.Len
			return
		}
		out = append(out, r)
	}
	end := start + n
	for b := start; b < end; {
		if b >= l.fs.SB.BlocksCount {
			emit(Region{Start: b, Len: end - b, Kind: KindOutside, What: "beyond the filesystem end"})
			break
		}
		i := sort.Search(len(l.regions), func(i int) bool { return l.regions[i].Start+l.regions[i].Len > b })
		if i < len(l.regions) && l.regions[i].Start <= b {
			r := l.regions[i]
			t := min(r.Start+r.Len, end)
			emit(Region{Start: b, Len: t - b, Kind: r.Kind, What: r.What})
			b = t
			continue
		}
		next := min(end, l.fs.SB.BlocksCount)
		if i < len(l.regions) {
			next = min(next, l.regions[i].Start)
		}
		for ; b < next; b++ {
			used, err := l.used(b)
			if err != nil {
				return nil, err
			}
			if used {
				emit(Region{Start: b, Len: 1, Kind: KindUnowned, What: "allocated, owner unknown"})
			} else {
				emit(Region{Start: b, Len: 1, Kind: KindFree, What: "unallocated"})
			}
		}
	}
	return out, nil
}

func (l *Layout) used(b uint64) (bool, error) {
	fs := l.fs
	rel := b - uint64(fs.SB.FirstDataBlock)
	g := rel / uint64(fs.SB.BlocksPerGroup)
	if g >= uint64(len(fs.Groups)) {
		return false, nil
	}
	bm, ok := l.bitmaps[g]
	if !ok {
		var err error
		bm, err = fs.readBlock(fs.Groups[g].BlockBitmap)
		if err != nil {
			return false, fmt.Errorf("ext4r: block bitmap of group %d: %w", g, err)
		}
		l.bitmaps[g] = bm
	}
	i := rel % uint64(fs.SB.BlocksPerGroup)
	return bm[i/8]&(1<<(i%8)) != 0, nil
}

// InodesInBlock returns the first inode number stored in a block of an inode
// table and how many inodes the block holds; ok is false for other blocks.
func (fs *FS) InodesInBlock(block uint64) (first, count uint32, ok bool) {
	sb := fs.SB
	perBlock := uint64(fs.bs) / uint64(sb.InodeSize)
	itBlocks := (uint64(sb.InodesPerGroup) + perBlock - 1) / perBlock
	for g, gd := range fs.Groups {
		if block >= gd.InodeTable && block < gd.InodeTable+itBlocks {
			idx := (block - gd.InodeTable) * perBlock
			n := min(perBlock, uint64(sb.InodesPerGroup)-idx)
			return uint32(uint64(g)*uint64(sb.InodesPerGroup) + idx + 1), uint32(n), true
		}
	}
	return 0, 0, false
}
