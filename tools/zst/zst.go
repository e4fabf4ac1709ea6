// Package zst compresses streams with zstd (github.com/klauspost/compress)
// so that the output depends only on the input bytes and the level: never on
// the number of CPUs, the concurrency setting or how the input is split into
// Write calls. It also hashes the compressed bytes while writing them, so a
// caller gets the SHA-256 of its .zst output without reading it back. Its
// Reader decompresses zstd input checked to its end, so that a truncated
// or padded file is an error, never a shorter result.
//
// Determinism rests on two choices: the encoder is a plain streaming encoder
// (WithConcurrentBlocks is never enabled: with it, block boundaries and
// therefore the output depend on the concurrency), and every option that
// shapes the frame (level, window size, checksum) is fixed here.
package zst

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	"github.com/klauspost/compress/zstd"
)

// The levels used by icos. Levels follow the numbering of the zstd command
// line; klauspost/compress implements four encoders, so levels 1-2 give
// "fastest", 3-5 "default", 6-9 "better" and 10-22 "best" (see
// zstd.EncoderLevelFromZstd). Changing either changes the bytes of every
// image compressed with it.
const (
	// DefaultLevel is the level of a Writer given none, and of the
	// intermediate partition images (".zst") one build step hands to the
	// next: they are written and read once per build, so speed matters more
	// than size.
	DefaultLevel = 3
	// ArchiveLevel is the level of the archives (".tar.zst", with a
	// ".sha256") that users download and that are copied into other
	// images: written once, moved many times, so size matters more.
	ArchiveLevel = 6
)

// MinLevel and MaxLevel bound the accepted levels.
const (
	MinLevel = 1
	MaxLevel = 22
)

// Options configure a Writer. The zero value means DefaultLevel and one
// encoder goroutine per CPU.
type Options struct {
	// Level is the zstd level (MinLevel..MaxLevel); 0 means DefaultLevel.
	Level int
	// Concurrency is the number of encoder goroutines; 0 means GOMAXPROCS.
	// It changes speed only, never the output.
	Concurrency int
}

// Writer compresses what is written to it into a single zstd frame on the
// underlying writer and hashes the compressed bytes with SHA-256.
//
// It deliberately has no ReadFrom method: the encoder's ReadFrom cuts
// blocks differently from Write, so the output would depend on how the
// caller copies data in. Through Write, any split of the input gives the
// same output.
type Writer struct {
	enc    *zstd.Encoder
	h      hash.Hash
	n      int64
	closed bool
}

// countWriter passes writes through and counts them.
type countWriter struct {
	w io.Writer
	n *int64
}

func (c countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

// NewWriter returns a Writer that writes compressed data to w.
func NewWriter(w io.Writer, opts Options) (*Writer, error) {
	level := opts.Level
	if level == 0 {
		level = DefaultLevel
	}
	if level < MinLevel || level > MaxLevel {
		return nil, fmt.Errorf("zst: level %d out of range %d..%d", level, MinLevel, MaxLevel)
	}
	if opts.Concurrency < 0 {
		return nil, fmt.Errorf("zst: negative concurrency %d", opts.Concurrency)
	}
	zw := &Writer{h: sha256.New()}
	enc, err := zstd.NewWriter(countWriter{io.MultiWriter(w, zw.h), &zw.n},
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(opts.Concurrency),
		zstd.WithEncoderCRC(true),
		zstd.WithConcurrentBlocks(false),
		zstd.WithZeroFrames(true),
	)
	if err != nil {
		return nil, fmt.Errorf("zst: %w", err)
	}
	zw.enc = enc
	return zw, nil
}

// Write compresses p.
func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.enc.Write(p)
	if err != nil {
		return n, fmt.Errorf("zst: %w", err)
	}
	return n, nil
}

// Close finishes the frame. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.enc.Close(); err != nil {
		return fmt.Errorf("zst: %w", err)
	}
	return nil
}

// Sum returns the SHA-256 of the compressed output. Call it after Close:
// before, the encoder may still hold data or be writing it.
func (w *Writer) Sum() [sha256.Size]byte {
	var s [sha256.Size]byte
	w.h.Sum(s[:0])
	return s
}

// Size returns the number of compressed bytes written; call it after Close.
func (w *Writer) Size() int64 { return w.n }

// SHA256Line formats a checksum line the way sha256sum writes it (and
// `sha256sum -c` reads it): lowercase hex, two spaces, the file name, a
// newline. name should be the base name of the file, so the line checks
// from the directory holding both files.
func SHA256Line(sum [sha256.Size]byte, name string) string {
	return hex.EncodeToString(sum[:]) + "  " + name + "\n"
}
