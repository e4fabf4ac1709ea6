package ext4

import (
	"encoding/binary"

	"github.com/icos-build/icos/tools/ext4/ondisk"
)

// Internal JBD2 journal (kernel Documentation/filesystems/ext4, "Journal"),
// created the way mke2fs creates it: inode 8, contiguous blocks, a v2
// journal superblock describing an empty journal (s_start 0, so nothing
// is replayed) and no journal features; the kernel sets the checksum
// features it wants at the first mount. The other journal blocks are holes
// in the image file (zeros). Its constants are in package ondisk.

// journalBlocks is e2fsprogs' default journal size for a filesystem of
// the given number of blocks (ext2fs_default_journal_size), 0 if too
// small for a journal.
func journalBlocks(blocks uint32) uint32 {
	switch {
	case blocks < 2048:
		return 0
	case blocks < 32768:
		return 1024
	case blocks < 256*1024:
		return 4096
	case blocks < 512*1024:
		return 8192
	case blocks < 4096*1024:
		return 16384
	case blocks < 8192*1024:
		return 32768
	case blocks < 16384*1024:
		return 65536
	case blocks < 32768*1024:
		return 131072
	}
	return 262144
}

// JournalSuperblock is the big-endian JBD2 superblock of an empty journal.
type JournalSuperblock struct {
	MaxLen uint32 // journal length in blocks
	UUID   [16]byte
}

// MarshalBinary encodes the 1024-byte journal superblock.
func (j *JournalSuperblock) MarshalBinary() ([]byte, error) {
	be := binary.BigEndian
	b := make([]byte, 1024)
	be.PutUint32(b[0x00:], ondisk.JBD2Magic)
	be.PutUint32(b[0x04:], ondisk.JBD2SuperblockV2)
	be.PutUint32(b[0x08:], 0) // h_sequence
	be.PutUint32(b[0x0C:], blockSize)
	be.PutUint32(b[0x10:], j.MaxLen)
	be.PutUint32(b[0x14:], 1) // s_first: first log block
	be.PutUint32(b[0x18:], 1) // s_sequence
	be.PutUint32(b[0x1C:], 0) // s_start: empty journal
	copy(b[0x30:0x40], j.UUID[:])
	be.PutUint32(b[0x40:], 1) // s_nr_users
	return b, nil
}

// addJournal allocates the journal right after the group metadata and
// writes its superblock.
func (b *builder) addJournal() error {
	n := journalBlocks(b.lay.blocks)
	if n == 0 {
		return nil
	}
	start, err := b.alloc.allocContig(n)
	if err != nil {
		return err
	}
	j := &node{path: "<journal>", nlink: 1}
	j.ino.Mode = ondisk.ModeRegular | 0o600
	t := b.fixedTime(0)
	j.ino.Atime, j.ino.Ctime, j.ino.ModTime, j.ino.Crtime = t, t, t, t
	j.ino.Size = uint64(n) * blockSize
	j.exts.add(0, start, n)
	j.data = uint64(n)
	j.num = ondisk.JournalIno
	b.journal = j
	raw, _ := (&JournalSuperblock{MaxLen: n, UUID: b.uuid}).MarshalBinary()
	_, err = b.writeAt(raw, int64(start)*blockSize)
	return err
}
