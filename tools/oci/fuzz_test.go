package oci

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// FuzzParseDigest: ParseDigest never panics, accepts only sha256 digests
// of 64 hex digits, and reads its own output back to the same hash.
func FuzzParseDigest(f *testing.F) {
	for _, s := range []string{
		"sha256:ad199a63c6f249a576eb27ad593d275f7ee7f3412257bfd184e76ad7ab3231a8", // ic-os/guestos/context/base.lock.json
		"icos/guestos-base@sha256:ad199a63c6f249a576eb27ad593d275f7ee7f3412257bfd184e76ad7ab3231a8",
		"sha512:" + strings.Repeat("a", 128),
		"sha256:" + strings.Repeat("A", 64),
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseDigest(s)
		if err != nil {
			return
		}
		if _, herr := hex.DecodeString(h.Hex); h.Algorithm != "sha256" || len(h.Hex) != 64 || herr != nil {
			t.Fatalf("ParseDigest(%q) = %v: not a sha256 digest of 64 hex digits", s, h)
		}
		if again, err := ParseDigest(h.String()); err != nil || again != h {
			t.Fatalf("ParseDigest(%q) = %v, %v; want %v", h.String(), again, err, h)
		}
	})
}

// FuzzStoreIndex runs the store's own index.json handling (Has reads it;
// AddManifest rewrites it under the lock, sorted) on arbitrary file
// contents: no panic; an unreadable index is an error naming index.json;
// a readable one keeps its entries, gains the new manifest, and is then in
// a canonical form that adding the same manifest again does not change.
func FuzzStoreIndex(f *testing.F) {
	seedDir := filepath.Join(f.TempDir(), "store")
	seed, err := Open(seedDir)
	if err != nil {
		f.Fatal(err)
	}
	empty, err := os.ReadFile(filepath.Join(seedDir, "index.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(empty) // as Open writes it
	m := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	h := v1.Hash{Algorithm: "sha256", Hex: sha256Hex(m)}
	if err := seed.WriteBlob(h, int64(len(m)), bytes.NewReader(m)); err != nil {
		f.Fatal(err)
	}
	if err := seed.AddManifest(v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(m)), Digest: h}, "guestos-base"); err != nil {
		f.Fatal(err)
	}
	one, err := os.ReadFile(filepath.Join(seedDir, "index.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(one) // with one named manifest
	// An index as go-containerregistry's layout writes it (icos oci from-tar).
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":402,"digest":"sha256:ad199a63c6f249a576eb27ad593d275f7ee7f3412257bfd184e76ad7ab3231a8"}]}`))
	f.Add([]byte(`{"manifests":[{"digest":"sha256:zz"}]}`))
	f.Add([]byte(`null`))

	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "index.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.WriteBlob(h, int64(len(m)), bytes.NewReader(m)); err != nil {
			t.Fatal(err)
		}
		desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(m)), Digest: h}
		if _, err := s.Has(h); err != nil {
			if !strings.Contains(err.Error(), "index.json") {
				t.Fatalf("error %q does not name index.json", err)
			}
			if err := s.AddManifest(desc, "fuzz"); err == nil {
				t.Fatal("AddManifest rewrote an index.json that Has cannot read")
			}
			return
		}
		before, err := v1.ParseIndexManifest(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Has read an index go-containerregistry rejects: %v", err)
		}
		if err := s.AddManifest(desc, "fuzz"); err != nil {
			t.Fatalf("AddManifest: %v", err)
		}
		first, err := os.ReadFile(filepath.Join(dir, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		after, err := v1.ParseIndexManifest(bytes.NewReader(first))
		if err != nil {
			t.Fatalf("written index.json does not parse: %v\n%s", err, first)
		}
		want := len(before.Manifests) + 1
		for _, d := range before.Manifests {
			if d.Digest == h && d.Annotations[RefNameAnnotation] == "fuzz" {
				want-- // already listed
				break
			}
		}
		if after.SchemaVersion != 2 || after.MediaType != types.OCIImageIndex || len(after.Manifests) != want {
			t.Fatalf("written index: schema %d, media type %q, %d manifests; want 2, %q, %d",
				after.SchemaVersion, after.MediaType, len(after.Manifests), types.OCIImageIndex, want)
		}
		if ok, err := s.Has(h); !ok || err != nil {
			t.Fatalf("Has after AddManifest = %v, %v", ok, err)
		}
		if err := s.AddManifest(desc, "fuzz"); err != nil {
			t.Fatalf("AddManifest again: %v", err)
		}
		second, err := os.ReadFile(filepath.Join(dir, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("adding the same manifest again changed index.json:\n%s\n%s", first, second)
		}
	})
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
