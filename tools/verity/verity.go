// Package verity writes dm-verity hash trees: the hash device that
// `veritysetup format` writes and the kernel's dm-verity target checks a
// read-only filesystem against, and the root hash that the boot command
// line hands to the kernel.
//
// What is fixed: hash format type 1 (the salt is prepended to every hashed
// block and each digest is padded to a power of two, which SHA-256's 32
// bytes already are), SHA-256, 4096-byte data blocks and 4096-byte hash
// blocks. So one hash block holds 128 digests. The salt (1 to 256 bytes,
// see Options) and the UUID come from the caller: nothing is random, and
// the same data, salt and UUID always give the same bytes.
//
// Layout of the hash area, from its start (offset 0 of a separate hash
// file, or the hash offset inside the data's own partition):
//
//   - the superblock, unless Options.NoSuperblock: one hash block holding,
//     little-endian, "verity\0\0", version 1, hash type 1, the UUID (16
//     bytes), "sha256" (in 32 bytes), the data and hash block sizes, the
//     number of data blocks (u64), the salt size (u16) and the salt (at byte
//     88, in 256 bytes), then zeros to the end of the block;
//   - the hash tree, its top level first and level 0 (one digest per data
//     block) last. Level i+1 holds the digests of level i's blocks; each
//     level's last block is padded with zeros. The number of levels is the
//     smallest L with data blocks <= 128^L, so the top level is one block,
//     and the root hash is the digest of that block (with a single data
//     block there are no levels at all: the root hash is that block's
//     digest). Every digest is SHA-256(salt || block).
//
// This is the layout the kernel (drivers/md/dm-verity, whose hash_start is
// the first tree block: the hash offset in blocks, plus one with a
// superblock) and cryptsetup compute; the tests require byte equality with
// `veritysetup format` and acceptance by `veritysetup verify`.
//
// The data is read once, in order, 1 MiB at a time; every level is built
// as the data streams, so memory stays small whatever the size (the read
// buffer and at most 256 KiB of each level waiting to be written), and each
// level is written sequentially in its own region. The blocks of each read
// are hashed on up to GOMAXPROCS goroutines (at most 8); the output never
// depends on how many. Holes of a sparse image file (SEEK_DATA/SEEK_HOLE,
// see sparse.NextData) are not read and all-zero blocks are not hashed: an
// all-zero block's digest depends only on the salt and is computed once.
//
// An empty salt is refused: dm-verity accepts one ("-"), but every IC-OS
// image passes a fixed salt, and a salt flag left empty by mistake should
// fail rather than silently weaken the tree.
package verity

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/icos-build/icos/tools/sparse"
)

const (
	// BlockSize is the data block size and the hash block size, in bytes.
	BlockSize = 4096
	// MaxSaltSize is the longest salt the superblock can hold, in bytes.
	MaxSaltSize = 256
	// Algorithm is the hash algorithm, as named in the superblock and on
	// the kernel's verity table line.
	Algorithm = "sha256"
	// HashType is the dm-verity hash format type ("version" on the table
	// line, --format of veritysetup).
	HashType = 1

	digestSize     = sha256.Size
	hashesPerBlock = BlockSize / digestSize // 128
	hashBits       = 7                      // log2(hashesPerBlock)
	readChunk      = 1 << 20                // bytes read per ReadAt
	writeChunk     = 64 * BlockSize         // bytes of one level written per WriteAt
	maxHashers     = 8                      // goroutines hashing data blocks
)

// Options are the caller's choices for a hash tree.
type Options struct {
	// Salt is prepended to every hashed block: 1 to MaxSaltSize bytes.
	Salt []byte
	// UUID is stored in the superblock (veritysetup's --uuid); it is not
	// used without one.
	UUID [16]byte
	// NoSuperblock leaves out the superblock: the tree starts at the hash
	// offset (veritysetup's --no-superblock).
	NoSuperblock bool
}

func (o Options) check() error {
	switch {
	case len(o.Salt) == 0:
		return errors.New("verity: empty salt")
	case len(o.Salt) > MaxSaltSize:
		return fmt.Errorf("verity: salt of %d bytes, longer than %d", len(o.Salt), MaxSaltSize)
	}
	return nil
}

// layout is the shape of a hash area.
type layout struct {
	dataBlocks int64
	start      []int64 // per level (0: hashes of the data): offset in the area
	blocks     []int64 // per level: number of hash blocks
	size       int64   // bytes in the area
}

// plan computes the layout of the hash area for size bytes of data.
func plan(size int64, noSuperblock bool) (layout, error) {
	if size <= 0 {
		return layout{}, fmt.Errorf("verity: empty data (size %d)", size)
	}
	if size%BlockSize != 0 {
		return layout{}, fmt.Errorf("verity: data size %d is not a multiple of the block size %d", size, BlockSize)
	}
	l := layout{dataBlocks: size / BlockSize}
	levels := 0
	for (l.dataBlocks-1)>>(hashBits*levels) != 0 {
		levels++
	}
	l.start = make([]int64, levels)
	l.blocks = make([]int64, levels)
	for i := range levels {
		shift := hashBits * (i + 1)
		l.blocks[i] = (l.dataBlocks + 1<<shift - 1) >> shift
	}
	pos := int64(0)
	if !noSuperblock {
		pos = BlockSize
	}
	for i := levels - 1; i >= 0; i-- {
		l.start[i] = pos
		pos += l.blocks[i] * BlockSize
	}
	l.size = pos
	return l, nil
}

// HashSize returns the size in bytes of the hash area for dataSize bytes of
// data (a positive multiple of BlockSize): the superblock's block, unless
// noSuperblock, and the tree.
func HashSize(dataSize int64, noSuperblock bool) (int64, error) {
	l, err := plan(dataSize, noSuperblock)
	return l.size, err
}

// Write reads the size bytes of data (a positive multiple of BlockSize)
// once, in order, and writes their hash area to w at offset off (a multiple
// of BlockSize), HashSize bytes. It returns the root hash in lower-case hex.
// A separate hash file is Write(f, 0, ...).
func Write(w io.WriterAt, off int64, data io.ReaderAt, size int64, opts Options) (string, error) {
	if off < 0 || off%BlockSize != 0 {
		return "", fmt.Errorf("verity: hash offset %d is not a multiple of the block size %d", off, BlockSize)
	}
	return write(w, off, data, size, nil, opts)
}

// WriteWithData writes the layout where one partition holds the data and
// then its hash area (veritysetup's --hash-offset): it copies the size
// bytes of data to w at offset 0 and writes their hash area at hashOffset,
// reading the data once. hashOffset must be a multiple of BlockSize at or
// after the end of the data. All-zero data blocks are not written: w must
// read as zeros where nothing is written (a new file), and the caller sets
// its final size. It returns the root hash in lower-case hex.
func WriteWithData(w io.WriterAt, data io.ReaderAt, size, hashOffset int64, opts Options) (string, error) {
	if hashOffset%BlockSize != 0 {
		return "", fmt.Errorf("verity: hash offset %d is not a multiple of the block size %d", hashOffset, BlockSize)
	}
	if hashOffset < size {
		return "", fmt.Errorf("verity: hash offset %d is inside the data (%d bytes)", hashOffset, size)
	}
	return write(w, hashOffset, data, size, w, opts)
}

// write is Write, also copying the data's non-zero blocks to copyTo at
// offset 0 when copyTo is not nil.
func write(w io.WriterAt, off int64, data io.ReaderAt, size int64, copyTo io.WriterAt, opts Options) (string, error) {
	if err := opts.check(); err != nil {
		return "", err
	}
	l, err := plan(size, opts.NoSuperblock)
	if err != nil {
		return "", err
	}
	if off > 1<<62-l.size {
		return "", fmt.Errorf("verity: hash offset %d too large", off)
	}
	b := newBuilder(w, off, l, opts.Salt)
	if !opts.NoSuperblock {
		if _, err := w.WriteAt(superblock(l, opts), off); err != nil {
			return "", fmt.Errorf("verity: write superblock at offset %d: %w", off, err)
		}
	}
	if err := b.hashData(data, size, copyTo); err != nil {
		return "", err
	}
	if err := b.finish(); err != nil {
		return "", err
	}
	return hex.EncodeToString(b.root[:]), nil
}

// superblock returns the hash block holding the superblock of l.
func superblock(l layout, opts Options) []byte {
	sb := make([]byte, BlockSize)
	copy(sb[0:8], "verity\x00\x00")
	le := binary.LittleEndian
	le.PutUint32(sb[8:], 1) // superblock version
	le.PutUint32(sb[12:], HashType)
	copy(sb[16:32], opts.UUID[:])
	copy(sb[32:64], Algorithm)
	le.PutUint32(sb[64:], BlockSize) // data block size
	le.PutUint32(sb[68:], BlockSize) // hash block size
	le.PutUint64(sb[72:], uint64(l.dataBlocks))
	le.PutUint16(sb[80:], uint16(len(opts.Salt)))
	copy(sb[88:88+MaxSaltSize], opts.Salt)
	return sb
}

// builder computes the tree level by level as digests arrive from below.
type builder struct {
	w    io.WriterAt
	base int64 // offset of the hash area in w
	l    layout
	salt []byte
	h    hash.Hash
	sum  []byte
	zero [digestSize]byte // digest of an all-zero data block
	// hashers hash the data blocks, one per goroutine (see digestBlocks).
	hashers []hash.Hash
	levels  []level
	root    [digestSize]byte
	rooted  bool
}

// level is a tree level being filled: complete blocks not yet written and,
// at the end of buf, the block being filled with n digests.
type level struct {
	buf     []byte
	n       int   // digests in the last block of buf; 0: no block open
	next    int64 // offset in the area where buf[0] goes
	written int64 // blocks completed
}

var zeroBlock [BlockSize]byte

func newBuilder(w io.WriterAt, base int64, l layout, salt []byte) *builder {
	b := &builder{w: w, base: base, l: l, salt: salt, h: sha256.New(), sum: make([]byte, 0, digestSize)}
	copy(b.zero[:], b.digest(zeroBlock[:]))
	b.hashers = make([]hash.Hash, max(1, min(runtime.GOMAXPROCS(0), maxHashers)))
	for i := range b.hashers {
		b.hashers[i] = sha256.New()
	}
	b.levels = make([]level, len(l.start))
	for i := range b.levels {
		b.levels[i] = level{buf: make([]byte, 0, min(writeChunk, l.blocks[i]*BlockSize)), next: l.start[i]}
	}
	return b
}

// digest returns SHA-256(salt || blk), valid until the next call.
func (b *builder) digest(blk []byte) []byte {
	b.h.Reset()
	b.h.Write(b.salt)
	b.h.Write(blk)
	return b.h.Sum(b.sum[:0])
}

// push adds the digest d of a block of level i-1 (level -1 being the data)
// to level i; a digest pushed above the top level is the root hash.
func (b *builder) push(i int, d []byte) error {
	if i == len(b.levels) {
		if b.rooted {
			return errors.New("verity: internal error: two root hashes")
		}
		copy(b.root[:], d)
		b.rooted = true
		return nil
	}
	lv := &b.levels[i]
	if lv.n == 0 {
		if len(lv.buf) == cap(lv.buf) {
			if err := b.flush(i); err != nil {
				return err
			}
		}
		lv.buf = lv.buf[:len(lv.buf)+BlockSize]
		clear(lv.buf[len(lv.buf)-BlockSize:])
	}
	copy(lv.buf[len(lv.buf)-BlockSize+lv.n*digestSize:], d)
	lv.n++
	if lv.n == hashesPerBlock {
		return b.close(i)
	}
	return nil
}

// close completes the open block of level i (the rest of it stays zero)
// and pushes its digest to the level above.
func (b *builder) close(i int) error {
	lv := &b.levels[i]
	lv.n = 0
	lv.written++
	return b.push(i+1, b.digest(lv.buf[len(lv.buf)-BlockSize:]))
}

// flush writes the complete blocks buffered for level i.
func (b *builder) flush(i int) error {
	lv := &b.levels[i]
	if len(lv.buf) == 0 {
		return nil
	}
	if _, err := b.w.WriteAt(lv.buf, b.base+lv.next); err != nil {
		return fmt.Errorf("verity: write hash level %d at offset %d: %w", i, b.base+lv.next, err)
	}
	lv.next += int64(len(lv.buf))
	lv.buf = lv.buf[:0]
	return nil
}

// finish closes and writes every level, bottom up, and checks that the
// tree came out as planned.
func (b *builder) finish() error {
	for i := range b.levels {
		if b.levels[i].n > 0 {
			if err := b.close(i); err != nil {
				return err
			}
		}
		if err := b.flush(i); err != nil {
			return err
		}
		if lv := &b.levels[i]; lv.written != b.l.blocks[i] || lv.next != b.l.start[i]+b.l.blocks[i]*BlockSize {
			return fmt.Errorf("verity: internal error: level %d has %d blocks, want %d", i, lv.written, b.l.blocks[i])
		}
	}
	if !b.rooted {
		return errors.New("verity: internal error: no root hash")
	}
	return nil
}

// hashData hashes the size bytes of data into level 0, skipping the holes
// of a file and the hashing of all-zero blocks, and copies the non-zero
// blocks to copyTo unless it is nil.
func (b *builder) hashData(data io.ReaderAt, size int64, copyTo io.WriterAt) error {
	f, _ := data.(*os.File)
	buf := make([]byte, readChunk)
	sums := make([][digestSize]byte, readChunk/BlockSize)
	zero := make([]bool, readChunk/BlockSize)
	dataEnd := int64(-1) // with f: end of the region that may hold data
	for off := int64(0); off < size; {
		if f != nil && off >= dataEnd {
			start, end, ok := sparse.NextData(f, off, size)
			if !ok {
				start, end = size, size
			}
			for ; off < start; off += BlockSize {
				if err := b.push(0, b.zero[:]); err != nil {
					return err
				}
			}
			dataEnd = (end + BlockSize - 1) / BlockSize * BlockSize
			continue
		}
		n := min(int64(len(buf)), size-off)
		if f != nil {
			n = min(n, dataEnd-off)
		}
		chunk := buf[:n]
		if got, err := data.ReadAt(chunk, off); err != nil && !(err == io.EOF && got == len(chunk)) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("verity: read data at offset %d: %w", off, err)
		}
		nb := len(chunk) / BlockSize
		b.digestBlocks(chunk, sums[:nb], zero[:nb])
		runStart := -1 // start in chunk of a run of non-zero blocks to copy
		for k := range nb {
			if !zero[k] && runStart < 0 {
				runStart = k * BlockSize
			} else if zero[k] && runStart >= 0 {
				if err := copyRun(copyTo, chunk[runStart:k*BlockSize], off+int64(runStart)); err != nil {
					return err
				}
				runStart = -1
			}
			if err := b.push(0, sums[k][:]); err != nil {
				return err
			}
		}
		if runStart >= 0 {
			if err := copyRun(copyTo, chunk[runStart:], off+int64(runStart)); err != nil {
				return err
			}
		}
		off += n
	}
	return nil
}

// digestBlocks sets sums[k] to the digest of block k of chunk and zero[k]
// to whether that block is all zeros (its digest is then b.zero, not
// recomputed). The blocks are split between the builder's hashers, one
// goroutine each; the results do not depend on how.
func (b *builder) digestBlocks(chunk []byte, sums [][digestSize]byte, zero []bool) {
	n := len(sums)
	per := (n + len(b.hashers) - 1) / len(b.hashers)
	var wg sync.WaitGroup
	for w, h := range b.hashers {
		lo, hi := w*per, min(n, (w+1)*per)
		if lo >= hi {
			break
		}
		wg.Go(func() {
			for k := lo; k < hi; k++ {
				blk := chunk[k*BlockSize : (k+1)*BlockSize]
				if zero[k] = bytes.Equal(blk, zeroBlock[:]); zero[k] {
					sums[k] = b.zero
					continue
				}
				h.Reset()
				h.Write(b.salt)
				h.Write(blk)
				h.Sum(sums[k][:0])
			}
		})
	}
	wg.Wait()
}

// copyRun writes p to w at off, unless w is nil.
func copyRun(w io.WriterAt, p []byte, off int64) error {
	if w == nil {
		return nil
	}
	if _, err := w.WriteAt(p, off); err != nil {
		return fmt.Errorf("verity: write data at offset %d: %w", off, err)
	}
	return nil
}
