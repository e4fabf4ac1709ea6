package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/icos-build/icos/tools/rootfs"
)

// An empty tar input is refused with rootfs.ErrEmpty, the same error tar
// normalize gives: archive/tar reads a stream of no bytes as an archive
// without entries, so an empty image would follow silently; GNU tar rejects
// it ("This does not look like a tar archive"), and so do we. An archive of
// just the two zero end blocks stays valid.

// openTar opens the tar named by an --input flag ("-" is standard input).
// Reading it fails with rootfs.ErrEmpty when the stream ends before its first
// byte; name the input in that error with emptyTarError. close releases
// the file.
func openTar(name string) (r io.Reader, close func(), err error) {
	var f io.Reader = os.Stdin
	close = func() {}
	if name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return nil, nil, err
		}
		f, close = file, func() { file.Close() }
	}
	return &nonEmptyReader{r: f}, close, nil
}

// nonEmptyReader reports rootfs.ErrEmpty instead of io.EOF when its stream
// has no bytes at all.
type nonEmptyReader struct {
	r    io.Reader
	seen bool
}

func (e *nonEmptyReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if n > 0 {
		e.seen = true
	}
	if err == io.EOF && !e.seen {
		return n, rootfs.ErrEmpty
	}
	return n, err
}

// emptyTarError returns err, or for an error about an empty tar input
// (from openTar or rootfs.Normalize) one naming the input: "FILE: empty
// input, not a tar" (register adds the command's name).
func emptyTarError(input string, err error) error {
	if !errors.Is(err, rootfs.ErrEmpty) {
		return err
	}
	return fmt.Errorf("%s: %w", inputName(input), rootfs.ErrEmpty)
}

// inputName names an --input in messages: the path, or "standard input"
// for "-".
func inputName(input string) string {
	if input == "-" {
		return "standard input"
	}
	return input
}
