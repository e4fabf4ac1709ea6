package rootfs

import (
	"io"
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/icos-build/icos/tools/oci"
)

// benchImage returns the image named by $ICOS_BENCH_IMAGE (a digest in
// the OCI store, e.g. the GuestOS base) or a small random image.
func benchImage(b *testing.B) v1.Image {
	if d := os.Getenv("ICOS_BENCH_IMAGE"); d != "" {
		h, err := oci.ParseDigest(d)
		if err != nil {
			b.Fatal(err)
		}
		st, err := oci.OpenDefault()
		if err != nil {
			b.Fatal(err)
		}
		img, err := st.Image(h)
		if err != nil {
			b.Fatal(err)
		}
		return img
	}
	img, err := random.Image(1<<20, 4)
	if err != nil {
		b.Fatal(err)
	}
	return img
}

// BenchmarkFlatten flattens the image and writes the tar to io.Discard.
func BenchmarkFlatten(b *testing.B) {
	img := benchImage(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t, err := New(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		if err := t.ApplyImage(img); err != nil {
			b.Fatal(err)
		}
		st, err := t.Write(io.Discard, WriteOptions{})
		if err != nil {
			b.Fatal(err)
		}
		t.Close()
		b.ReportMetric(float64(st.Entries), "entries")
		b.ReportMetric(float64(st.Bytes), "file-bytes")
	}
}

// BenchmarkMutateExtract runs go-containerregistry's mutate.Extract on the
// same image, for comparison.
func BenchmarkMutateExtract(b *testing.B) {
	img := benchImage(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rc := mutate.Extract(img)
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}
