package vfat

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkFAT writes a 100 MiB FAT16 image (the ESP size) holding ~80 MiB
// of files from a tar stream; throughput is content bytes per second.
func BenchmarkFAT(b *testing.B) {
	var tree []entry
	var content int64
	for i := 0; i < 16; i++ {
		d := pseudo(i, 5<<20)
		tree = append(tree, entry{name: fmt.Sprintf("dir%d/big file %02d.bin", i%4, i), data: d})
		content += int64(len(d))
	}
	for i := 0; i < 200; i++ {
		d := pseudo(100+i, 4000+i)
		tree = append(tree, entry{name: fmt.Sprintf("small/file number %03d.txt", i), data: d})
		content += int64(len(d))
	}
	tarball := tarOf(b, tree)
	img := filepath.Join(b.TempDir(), "bench.img")
	b.SetBytes(content)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := os.Create(img)
		if err != nil {
			b.Fatal(err)
		}
		w, err := NewWriter(f, Options{Size: 100 << 20, Label: "ESP"})
		if err != nil {
			b.Fatal(err)
		}
		if err := AddTar(w, bytes.NewReader(tarball)); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
