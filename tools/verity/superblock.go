package verity

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// SuperblockSize is the size of the superblock's fields at the start of
// its hash block; the rest of the block is zeros.
const SuperblockSize = 512

// Superblock is the decoded superblock at the start of a hash area.
type Superblock struct {
	Version       uint32 // superblock version: 1
	HashType      uint32 // hash format type (HashType for ours)
	UUID          [16]byte
	Algorithm     string // e.g. "sha256"
	DataBlockSize uint32
	HashBlockSize uint32
	DataBlocks    uint64
	Salt          []byte
}

// ParseSuperblock decodes the superblock at the start of b (at least
// SuperblockSize bytes). It checks the magic, the version and that the
// fields are self-consistent (salt size, block sizes powers of two between
// 512 and 1 MiB, a NUL-terminated algorithm name), not that they are the
// ones Write uses: the caller decides what it accepts.
func ParseSuperblock(b []byte) (Superblock, error) {
	if len(b) < SuperblockSize {
		return Superblock{}, fmt.Errorf("verity: superblock of %d bytes, want %d", len(b), SuperblockSize)
	}
	if string(b[0:8]) != "verity\x00\x00" {
		return Superblock{}, fmt.Errorf("verity: no superblock (magic %q)", b[0:8])
	}
	le := binary.LittleEndian
	sb := Superblock{
		Version:       le.Uint32(b[8:]),
		HashType:      le.Uint32(b[12:]),
		DataBlockSize: le.Uint32(b[64:]),
		HashBlockSize: le.Uint32(b[68:]),
		DataBlocks:    le.Uint64(b[72:]),
	}
	copy(sb.UUID[:], b[16:32])
	if sb.Version != 1 {
		return Superblock{}, fmt.Errorf("verity: superblock version %d, want 1", sb.Version)
	}
	alg, _, ok := bytes.Cut(b[32:64], []byte{0})
	if !ok || len(alg) == 0 {
		return Superblock{}, fmt.Errorf("verity: superblock algorithm %q not a NUL-terminated name", b[32:64])
	}
	sb.Algorithm = string(alg)
	for _, bs := range []uint32{sb.DataBlockSize, sb.HashBlockSize} {
		if bs < 512 || bs > 1<<20 || bs&(bs-1) != 0 {
			return Superblock{}, fmt.Errorf("verity: superblock block size %d not a power of two from 512 to 1 MiB", bs)
		}
	}
	saltSize := int(le.Uint16(b[80:]))
	if saltSize > MaxSaltSize {
		return Superblock{}, fmt.Errorf("verity: superblock salt size %d, more than %d", saltSize, MaxSaltSize)
	}
	sb.Salt = append([]byte(nil), b[88:88+saltSize]...)
	return sb, nil
}
