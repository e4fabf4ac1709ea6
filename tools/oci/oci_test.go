package oci

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func newRegistry(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestStorePutImage(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Put(img, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(img, "test"); err != nil { // idempotent
		t.Fatal(err)
	}
	got, err := s.Image(h)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := got.Digest(); d != h {
		t.Fatalf("digest %s, want %s", d, h)
	}
	b, _ := os.ReadFile(filepath.Join(s.Dir, "index.json"))
	if strings.Count(string(b), h.String()) != 1 {
		t.Fatalf("index.json lists %s %d times:\n%s", h, strings.Count(string(b), h.String()), b)
	}
	missing := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}
	if _, err := s.Image(missing); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing image: %v", err)
	}
	out := filepath.Join(t.TempDir(), "export")
	if err := s.Export(h, out); err != nil {
		t.Fatal(err)
	}
	if li, err := OpenLayout(out, v1.Hash{}); err != nil {
		t.Fatal(err)
	} else if d, _ := li.Digest(); d != h {
		t.Fatalf("exported digest %s", d)
	}
}

func TestWriteBlobRejectsWrongContent(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	err = s.WriteBlob(h, -1, strings.NewReader("not matching"))
	if err == nil || !strings.Contains(err.Error(), "tampered") {
		t.Fatalf("err = %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(s.Dir, "blobs", "sha256"))
	if len(ents) != 0 {
		t.Fatalf("%d files left in blobs/sha256", len(ents))
	}
}

func TestFetchAndPush(t *testing.T) {
	ctx := context.Background()
	host := newRegistry(t, registry.New())
	src, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(4096, 3)
	if err != nil {
		t.Fatal(err)
	}
	h, err := src.Put(img, "")
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := src.Push(ctx, h, host+"/base/guestos:test")
	if err != nil {
		t.Fatal(err)
	}
	if want := host + "/base/guestos@" + h.String(); pushed != want {
		t.Fatalf("pushed %s, want %s", pushed, want)
	}

	dst, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// The first repository lacks the image, the second has it.
	got, err := dst.Fetch(ctx, h, []string{host + "/base/other", host + "/base/guestos"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := got.Digest(); d != h {
		t.Fatalf("fetched %s", d)
	}
	if ok, _ := dst.Has(h); !ok {
		t.Fatal("fetched image not stored")
	}
	// Found locally now, without any registry.
	if _, err := dst.Fetch(ctx, h, nil, ""); err != nil {
		t.Fatal(err)
	}

	missing := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("1", 64)}
	_, err = dst.Fetch(ctx, missing, []string{host + "/base/guestos"}, "icos base build --os guestos")
	var nf *NotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{missing.String(), dst.Dir, host + "/base/guestos", "icos base build --os guestos"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

// TestFetchRejectsTamperedBlob serves a registry that corrupts one layer
// blob: the fetch fails and the store holds no trace of the image.
func TestFetchRejectsTamperedBlob(t *testing.T) {
	ctx := context.Background()
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	bad, _ := layers[1].Digest()
	reg := registry.New()
	host := newRegistry(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+bad.String()) {
			rec := httptest.NewRecorder()
			reg.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			body[len(body)/2] ^= 0xff
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(body)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	ref, err := name.NewDigest(host + "/base/guestos@sha256:" + strings.Repeat("0", 64))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref.Context().Tag("x"), img); err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	dst, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = dst.Fetch(ctx, h, []string{host + "/base/guestos"}, "")
	if err == nil || !strings.Contains(err.Error(), bad.String()) {
		t.Fatalf("tampered blob accepted or error does not name it: %v", err)
	}
	if ok, _ := dst.Has(h); ok {
		t.Fatal("tampered image listed in the store")
	}
	if dst.HasBlob(bad) {
		t.Fatal("tampered blob stored")
	}
	ents, _ := os.ReadDir(filepath.Join(dst.Dir, "blobs", "sha256"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}
}

func TestParseDigest(t *testing.T) {
	good := "sha256:" + strings.Repeat("a", 64)
	for _, s := range []string{good, "example.org/base/guestos@" + good} {
		if h, err := ParseDigest(s); err != nil || h.String() != good {
			t.Errorf("ParseDigest(%q) = %v, %v", s, h, err)
		}
	}
	for _, s := range []string{"", "sha256:abc", "md5:" + strings.Repeat("a", 32), strings.Repeat("a", 64)} {
		if _, err := ParseDigest(s); err == nil {
			t.Errorf("ParseDigest(%q) accepted", s)
		}
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv(EnvStore, "")
	t.Setenv("XDG_CACHE_HOME", "/x/cache")
	if d, _ := DefaultDir(); d != "/x/cache/icos/oci" {
		t.Errorf("XDG: %s", d)
	}
	t.Setenv(EnvStore, "/y")
	if d, _ := DefaultDir(); d != "/y" {
		t.Errorf("env: %s", d)
	}
	t.Setenv(EnvStore, "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d, _ := DefaultDir(); d != "/home/u/.cache/icos/oci" {
		t.Errorf("HOME: %s", d)
	}
}
