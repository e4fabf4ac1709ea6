package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// helloImage is an image with one uncompressed layer holding hello.txt
// ("hello") and a config with hostname "hello", so that a tampered byte
// is invisible to every check but the digest.
func helloImage(t *testing.T) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "hello.txt", Mode: 0o644, Size: 5})
	tw.Write([]byte("hello"))
	tw.Close()
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), static.NewLayer(buf.Bytes(), types.OCIUncompressedLayer))
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.Config(img, v1.Config{Hostname: "hello"}); err != nil {
		t.Fatal(err)
	}
	return mutate.ConfigMediaType(img, types.OCIConfigJSON)
}

// readImage reads an image the way icos rootfs does: manifest, config,
// and each layer's tar up to its end-of-archive, then Close. It returns
// the contents of hello.txt.
func readImage(img v1.Image) (string, error) {
	if _, err := img.RawManifest(); err != nil {
		return "", err
	}
	if _, err := img.ConfigFile(); err != nil {
		return "", err
	}
	layers, err := img.Layers()
	if err != nil {
		return "", err
	}
	var hello string
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return "", err
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				rc.Close()
				return "", err
			}
			if h.Name == "hello.txt" {
				b, err := io.ReadAll(tr)
				if err != nil {
					rc.Close()
					return "", err
				}
				hello = string(b)
			}
		}
		if err := rc.Close(); err != nil {
			return "", err
		}
	}
	return hello, nil
}

// tamper is one way to damage a stored image. It edits the layout
// directory and returns the digest of the image to read then and the
// digest of the damaged blob, which the error must name.
type tamper struct {
	name string
	do   func(t *testing.T, dir string, img v1.Image) (image, blob v1.Hash)
}

// jello turns the last "hello" of b (the file content, not the name in
// the tar header before it) into "jello".
func jello(b []byte) []byte {
	if i := bytes.LastIndex(b, []byte("hello")); i >= 0 {
		b[i] = 'j'
	}
	return b
}

func rewriteBlob(t *testing.T, dir string, h v1.Hash, edit func([]byte) []byte) {
	t.Helper()
	p := filepath.Join(dir, "blobs", h.Algorithm, h.Hex)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, edit(b), 0o444); err != nil {
		t.Fatal(err)
	}
}

// repin writes the manifest m as a new blob and makes index.json list it
// (and only it); it returns its digest.
func repin(t *testing.T, dir string, m *v1.Manifest) v1.Hash {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := v1.SHA256(bytes.NewReader(raw))
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", h.Hex), raw, 0o444); err != nil {
		t.Fatal(err)
	}
	setIndex(t, dir, v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Size: int64(len(raw))})
	return h
}

func setIndex(t *testing.T, dir string, d v1.Descriptor) {
	t.Helper()
	im := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{d}}
	raw, _ := json.Marshal(im)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

var tampers = []tamper{
	{"layer content", func(t *testing.T, dir string, img v1.Image) (v1.Hash, v1.Hash) {
		ls, _ := img.Layers()
		lh, _ := ls[0].Digest()
		rewriteBlob(t, dir, lh, jello)
		h, _ := img.Digest()
		return h, lh
	}},
	{"manifest content", func(t *testing.T, dir string, img v1.Image) (v1.Hash, v1.Hash) {
		h, _ := img.Digest()
		rewriteBlob(t, dir, h, func(b []byte) []byte {
			var m map[string]any
			json.Unmarshal(b, &m)
			m["annotations"] = map[string]string{"x": "y"}
			b, _ = json.Marshal(m)
			return b
		})
		return h, h
	}},
	{"config content", func(t *testing.T, dir string, img v1.Image) (v1.Hash, v1.Hash) {
		ch, _ := img.ConfigName()
		rewriteBlob(t, dir, ch, func(b []byte) []byte { return bytes.Replace(b, []byte(`"hello"`), []byte(`"jello"`), 1) })
		h, _ := img.Digest()
		return h, ch
	}},
	{"layer size in manifest", func(t *testing.T, dir string, img v1.Image) (v1.Hash, v1.Hash) {
		m, _ := img.Manifest()
		m = m.DeepCopy()
		m.Layers[0].Size--
		return repin(t, dir, m), m.Layers[0].Digest
	}},
	{"config size in manifest", func(t *testing.T, dir string, img v1.Image) (v1.Hash, v1.Hash) {
		m, _ := img.Manifest()
		m = m.DeepCopy()
		m.Config.Size++
		return repin(t, dir, m), m.Config.Digest
	}},
	{"manifest size in index.json", func(t *testing.T, dir string, img v1.Image) (v1.Hash, v1.Hash) {
		h, _ := img.Digest()
		raw, _ := img.RawManifest()
		setIndex(t, dir, v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Size: int64(len(raw)) - 1})
		return h, h
	}},
}

// TestVerifyOnRead damages an image in an OCI layout and in the store in
// each way of tampers: reading it fails with an error naming the blob and
// the directory, where it used to read "jello" (or the tampered config).
func TestVerifyOnRead(t *testing.T) {
	open := map[string]func(dir string, h v1.Hash) (v1.Image, error){
		"layout": func(dir string, h v1.Hash) (v1.Image, error) { return OpenLayout(dir, h) },
		"store": func(dir string, h v1.Hash) (v1.Image, error) {
			s, err := Open(dir)
			if err != nil {
				return nil, err
			}
			return s.Image(h)
		},
	}
	for _, via := range []string{"layout", "store"} {
		for _, tc := range tampers {
			t.Run(via+"/"+tc.name, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "oci")
				s, err := Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				img := helloImage(t)
				if _, err := s.Put(img, ""); err != nil {
					t.Fatal(err)
				}
				good, err := open[via](dir, v1.Hash{Algorithm: "sha256", Hex: mustDigest(t, img).Hex})
				if err != nil {
					t.Fatal(err)
				}
				if got, err := readImage(good); err != nil || got != "hello" {
					t.Fatalf("intact image: %q, %v", got, err)
				}
				h, bad := tc.do(t, dir, img)
				var got string
				img2, err := open[via](dir, h)
				if err == nil {
					got, err = readImage(img2)
				}
				if err == nil {
					t.Fatalf("tampered image read without error (hello.txt %q)", got)
				}
				t.Log(err)
				if !strings.Contains(err.Error(), bad.String()) || !strings.Contains(err.Error(), dir) {
					t.Fatalf("error does not name blob %s and %s: %v", bad, dir, err)
				}
			})
		}
	}
}

// TestOpenLayoutNestedIndex: index.json lists an image index that lists
// the image. The image is found through it; a tampered index is an error
// naming it.
func TestOpenLayoutNestedIndex(t *testing.T) {
	for _, tamper := range []bool{false, true} {
		dir := t.TempDir()
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		img := helloImage(t)
		h, err := s.Put(img, "")
		if err != nil {
			t.Fatal(err)
		}
		m, _ := img.RawManifest()
		d := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Size: int64(len(m)), Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}
		raw, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{d}})
		ih, _, _ := v1.SHA256(bytes.NewReader(raw))
		if err := s.WriteBlob(ih, int64(len(raw)), bytes.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
		setIndex(t, dir, v1.Descriptor{MediaType: types.OCIImageIndex, Digest: ih, Size: int64(len(raw))})
		if tamper {
			rewriteBlob(t, dir, ih, func(b []byte) []byte { return bytes.Replace(b, []byte("amd64"), []byte("arm64"), 1) })
		}
		got, err := OpenLayout(dir, v1.Hash{})
		if tamper {
			if err == nil || !strings.Contains(err.Error(), "index "+ih.String()) || !strings.Contains(err.Error(), "tampered") {
				t.Fatalf("tampered index: err = %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if hello, err := readImage(got); err != nil || hello != "hello" {
			t.Fatalf("hello.txt %q, %v", hello, err)
		}
	}
}

func mustDigest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestFetchVerifies serves images through a registry that damages one
// blob or serves a manifest with a wrong size: Fetch fails naming the blob
// and the repository, and the store lists nothing.
func TestFetchVerifies(t *testing.T) {
	img := helloImage(t)
	h := mustDigest(t, img)
	ls, _ := img.Layers()
	lh, _ := ls[0].Digest()
	ch, _ := img.ConfigName()
	m, _ := img.Manifest()
	wrongSize := m.DeepCopy()
	wrongSize.Layers[0].Size--
	wrongRaw, _ := json.Marshal(wrongSize)
	wrongH, _, _ := v1.SHA256(bytes.NewReader(wrongRaw))

	for _, tc := range []struct {
		name       string
		want, blob v1.Hash
		corrupt    v1.Hash // blob whose GET body is damaged
	}{
		{"layer content", h, lh, lh},
		{"config content", h, ch, ch},
		{"manifest content", h, h, h},
		{"layer size in manifest", wrongH, lh, v1.Hash{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
			host := newRegistry(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || tc.corrupt == (v1.Hash{}) || !strings.HasSuffix(r.URL.Path, "/"+tc.corrupt.String()) {
					reg.ServeHTTP(w, r)
					return
				}
				rec := httptest.NewRecorder()
				reg.ServeHTTP(rec, r)
				body := jello(bytes.Clone(rec.Body.Bytes()))
				if bytes.Equal(body, rec.Body.Bytes()) {
					body = append(body, ' ')
					rec.Header().Del("Content-Length")
				}
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				w.Write(body)
			}))
			repo, err := name.NewRepository(host + "/base/guestos")
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(repo.Tag("good"), img); err != nil {
				t.Fatal(err)
			}
			if err := remote.Put(repo.Tag("wrong-size"), rawManifest{wrongRaw, types.OCIManifestSchema1}); err != nil {
				t.Fatal(err)
			}
			dst, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			var got string
			fetched, err := dst.Fetch(context.Background(), tc.want, []string{host + "/base/guestos"}, "")
			if err == nil {
				got, err = readImage(fetched)
			}
			if err == nil {
				t.Fatalf("damaged image fetched without error (hello.txt %q)", got)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.blob.String()) || !strings.Contains(err.Error(), host+"/base/guestos") {
				t.Fatalf("error does not name blob %s and the repository: %v", tc.blob, err)
			}
			if ok, _ := dst.Has(tc.want); ok {
				t.Fatal("damaged image listed in the store")
			}
		})
	}
}

// TestFetchReplacesDamagedStoreBlob: a damaged copy of a layer left in
// the store (not listed, e.g. by an earlier failed fetch) is not taken for
// the layer of an image fetched later: the fetch replaces it.
func TestFetchReplacesDamagedStoreBlob(t *testing.T) {
	img := helloImage(t)
	h := mustDigest(t, img)
	host := newRegistry(t, registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	repo, err := name.NewRepository(host + "/base/guestos")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Tag("good"), img); err != nil {
		t.Fatal(err)
	}
	dst, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := img.Layers()
	lh, _ := ls[0].Digest()
	rc, _ := ls[0].Compressed()
	b, _ := io.ReadAll(rc)
	if err := os.WriteFile(dst.BlobPath(lh), jello(b), 0o444); err != nil {
		t.Fatal(err)
	}
	fetched, err := dst.Fetch(context.Background(), h, []string{repo.Name()}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readImage(fetched); err != nil || got != "hello" {
		t.Fatalf("hello.txt %q, %v", got, err)
	}
}

// rawManifest is a manifest to push as is.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// TestOpenLayoutNeedsOCILayoutFile: a directory with index.json and blobs
// but no oci-layout file is not taken for an image layout.
func TestOpenLayoutNeedsOCILayoutFile(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"missing", "", "no oci-layout file"},
		{"wrong version", `{"imageLayoutVersion":"2.0.0"}`, `imageLayoutVersion "2.0.0"`},
		{"not JSON", `1.0.0`, "oci-layout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Put(helloImage(t), ""); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "oci-layout")
			os.Remove(p)
			if tc.content != "" {
				os.WriteFile(p, []byte(tc.content), 0o644)
			}
			_, err = OpenLayout(dir, v1.Hash{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("err = %v, want one naming %s and saying %q", err, dir, tc.want)
			}
		})
	}
}

// TestStoreModes: what the store creates has the same modes under umask
// 077 and 022.
func TestStoreModes(t *testing.T) {
	want := map[string]os.FileMode{
		".":            os.ModeDir | 0o755,
		"blobs":        os.ModeDir | 0o755,
		"blobs/sha256": os.ModeDir | 0o755,
		".lock":        0o644,
		"index.json":   0o644,
		"oci-layout":   0o644,
	}
	for _, mask := range []int{0o077, 0o022} {
		old := syscall.Umask(mask)
		dir := filepath.Join(t.TempDir(), "cache", "oci")
		s, err := Open(dir)
		if err == nil {
			_, err = s.Put(helloImage(t), "x")
		}
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		for name, mode := range want {
			st, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode() != mode {
				t.Errorf("umask %03o: %s has mode %v, want %v", mask, name, st.Mode(), mode)
			}
		}
		if st, _ := os.Stat(filepath.Dir(dir)); st.Mode() != os.ModeDir|0o755 {
			t.Errorf("umask %03o: created parent has mode %v", mask, st.Mode())
		}
		ents, _ := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
		for _, e := range ents {
			if info, _ := e.Info(); info.Mode() != 0o444 {
				t.Errorf("umask %03o: blob %s has mode %v", mask, e.Name(), info.Mode())
			}
		}
	}
}

// BenchmarkLayerRead reads a 32 MiB stored layer plainly ("file") and
// through the verifying reader ("verified"); the difference is the cost of
// verification: one SHA-256 pass over bytes that are read anyway.
func BenchmarkLayerRead(b *testing.B) {
	data := make([]byte, 32<<20)
	for i := range data {
		data[i] = byte(i * 7 / 5)
	}
	dir := b.TempDir()
	s, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	h, _, _ := v1.SHA256(bytes.NewReader(data))
	if err := s.WriteBlob(h, int64(len(data)), bytes.NewReader(data)); err != nil {
		b.Fatal(err)
	}
	d := v1.Descriptor{Digest: h, Size: int64(len(data))}
	buf := make([]byte, 64<<10)
	b.Run("file", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			f, _ := os.Open(s.BlobPath(h))
			io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
			f.Close()
		}
	})
	b.Run("sha256", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			d := sha256.New()
			for p := data; len(p) > 0; p = p[min(len(p), len(buf)):] {
				d.Write(p[:min(len(p), len(buf))])
			}
		}
	})
	b.Run("verified", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			r, err := s.blobs().open(d, "layer")
			if err != nil {
				b.Fatal(err)
			}
			io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf)
			if err := r.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
