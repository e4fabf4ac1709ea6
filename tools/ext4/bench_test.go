package ext4

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkBuild builds an image from a synthetic tree of 5,000 files in
// 50 directories (about 100 MB), or from the tar named by
// ICOS_EXT4_BENCH_TAR (e.g. a tar of /usr/share) into a 3 GiB image.
func BenchmarkBuild(b *testing.B) {
	var tarball []byte
	size := int64(1 << 30)
	if p := os.Getenv("ICOS_EXT4_BENCH_TAR"); p != "" {
		var err error
		if tarball, err = os.ReadFile(p); err != nil {
			b.Fatal(err)
		}
		size = 3 << 30
	} else {
		var ents []ent
		data := bytes.Repeat([]byte("0123456789abcdef"), 20000/16)
		for d := range 50 {
			ents = append(ents, ent{name: fmt.Sprintf("dir%02d/", d), typ: tar.TypeDir})
			for f := range 100 {
				ents = append(ents, ent{name: fmt.Sprintf("dir%02d/file%03d", d, f), typ: tar.TypeReg, data: string(data)})
			}
		}
		tarball = mkTar(b, ents)
	}
	img := filepath.Join(b.TempDir(), "bench.img")
	b.SetBytes(int64(len(tarball)))
	b.ResetTimer()
	for range b.N {
		f, err := os.Create(img)
		if err != nil {
			b.Fatal(err)
		}
		if err := Build(bytes.NewReader(tarball), f, Options{Size: size}); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
