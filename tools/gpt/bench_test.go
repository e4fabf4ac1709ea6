package gpt

import (
	"bufio"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/icos-build/icos/tools/sparse"
)

// guestOSTable is the GuestOS layout on a 50 GiB disk.
const guestOSTable = `esp,,100M,U,
grub,,100M,L,
config,,100M,L,
A_boot,,1G,L,
A_root,,10G,L,
A_var,,10G,L,
B_boot,,1G,L,
B_root,,10G,L,
B_var,,10G,L,
`

// benchImages are the partition images of the benchmark (2 GiB in all).
var benchImages = []struct {
	name string
	size int64
}{{"esp", 64 << 20}, {"grub", 48 << 20}, {"config", 16 << 20}, {"A_boot", 320 << 20}, {"A_root", 1600 << 20}}

// writeBenchImage writes size bytes of seeded random data in which one
// 4 KiB block in 16 is zero (mostly data, some holes).
func writeBenchImage(b *testing.B, path string, seed uint64, size int64) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.NewChaCha8([32]byte{byte(seed)})
	block := make([]byte, sparse.BlockSize)
	for off := int64(0); off < size; off += sparse.BlockSize {
		if (off/sparse.BlockSize)%16 == 5 {
			clear(block)
		} else {
			rng.Read(block)
		}
		if _, err := w.Write(block); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAssemble assembles a 50 GiB GuestOS-shaped disk from 2 GiB of
// partition images (table, sparse copies and the final fsync), like
// `icos disk`. Compare with tools/bench/disk.sh (dd conv=sparse).
func BenchmarkAssemble(b *testing.B) {
	dir := b.TempDir()
	spec, err := Parse(strings.NewReader(guestOSTable), "guestos.csv")
	if err != nil {
		b.Fatal(err)
	}
	tab, err := Layout(spec, 50<<30, "")
	if err != nil {
		b.Fatal(err)
	}
	images := map[string]string{}
	var total int64
	for i, img := range benchImages {
		path := filepath.Join(dir, img.name+".img")
		writeBenchImage(b, path, uint64(i+1), img.size)
		images[img.name] = path
		total += img.size
	}
	b.SetBytes(total)
	out := filepath.Join(dir, "disk.img")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		if err := Assemble(f, tab, images); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		b.StopTimer()
		if i == b.N-1 {
			if st, err := os.Stat(out); err == nil {
				b.ReportMetric(float64(st.Sys().(*syscall.Stat_t).Blocks*512)/(1<<20), "MiB-allocated")
			}
		}
		os.Remove(out)
		b.StartTimer()
	}
}
