package verityroot

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/verity"
)

// The reader's constants are the writer's.
func TestFormatMatchesWriter(t *testing.T) {
	if blockSize != verity.BlockSize || hashType != verity.HashType || algorithm != verity.Algorithm || maxSaltSize != verity.MaxSaltSize {
		t.Fatal("constants differ from tools/verity's")
	}
	for _, blocks := range []int64{1, 2, 127, 128, 129, 200, 16383, 16384, 16385, 128*128*128 + 1, 786432} {
		want, err := verity.HashSize(blocks*verity.BlockSize, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := hashAreaSize(blocks); got != want {
			t.Errorf("%d data blocks: hash area of %d bytes, tools/verity writes %d", blocks, got, want)
		}
	}
}

func TestParseSuperblock(t *testing.T) {
	salt := []byte{0xde, 0xad, 0xbe, 0xef}
	uuid := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	data := bytes.Repeat([]byte{7}, 130*verity.BlockSize)
	var area memDevice
	if _, err := verity.Write(&area, 0, bytes.NewReader(data), int64(len(data)), verity.Options{Salt: salt, UUID: uuid}); err != nil {
		t.Fatal(err)
	}
	good := area.b[:verity.BlockSize]
	sb, err := ParseSuperblock(good)
	if err != nil {
		t.Fatal(err)
	}
	want := Superblock{Version: 1, HashType: 1, UUID: uuid, Algorithm: "sha256",
		DataBlockSize: 4096, HashBlockSize: 4096, DataBlocks: 130, Salt: salt}
	if fmt.Sprint(sb) != fmt.Sprint(want) {
		t.Fatalf("got %+v\nwant %+v", sb, want)
	}
	for _, tc := range []struct {
		name string
		edit func(b []byte)
		want string
	}{
		{"magic", func(b []byte) { b[0] = 'V' }, "no verity superblock"},
		{"zeros", func(b []byte) { clear(b) }, "no verity superblock"},
		{"version", func(b []byte) { b[8] = 2 }, "version 2"},
		{"algorithm", func(b []byte) { copy(b[32:64], bytes.Repeat([]byte{'x'}, 32)) }, "NUL-terminated"},
		{"no algorithm", func(b []byte) { clear(b[32:64]) }, "NUL-terminated"},
		{"block size", func(b []byte) { binary.LittleEndian.PutUint32(b[64:], 4095) }, "block size 4095"},
		{"salt size", func(b []byte) { binary.LittleEndian.PutUint16(b[80:], 257) }, "salt size 257"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(good)
			tc.edit(b)
			if _, err := ParseSuperblock(b); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "verityroot: ") {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := ParseSuperblock(good[:511]); err == nil {
		t.Error("short superblock accepted")
	}
}
