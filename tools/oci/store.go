// Package oci is the local, content-addressed store of OCI images used by
// the IC-OS build: an OCI image-layout directory (oci-layout, index.json,
// blobs/sha256/...) in a per-user cache directory. Images are added and
// looked up by manifest digest, fetched from registries by digest (every
// blob verified) and pushed with go-containerregistry.
//
// Every file of the store is written to a temporary name, verified against
// its digest and renamed into place, and index.json is rewritten under an
// exclusive lock, so an interrupted or failed write leaves nothing behind
// and concurrent writers do not lose entries.
package oci

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/icos-build/icos/tools/outfile"
)

// EnvStore names the environment variable that overrides the default store
// directory.
const EnvStore = "ICOS_OCI_STORE"

// RefNameAnnotation is the index.json annotation holding the human-readable
// name an image was stored under (for example "guestos-base").
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// ErrNotFound is wrapped by lookups of digests the store does not hold.
var ErrNotFound = errors.New("not found")

// DefaultDir returns the store directory: $ICOS_OCI_STORE if set, else
// $XDG_CACHE_HOME/icos/oci, else $HOME/.cache/icos/oci.
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvStore); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "icos", "oci"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("oci: no store directory: set %s or HOME: %w", EnvStore, err)
	}
	return filepath.Join(home, ".cache", "icos", "oci"), nil
}

// Store is an OCI image-layout directory.
type Store struct {
	// Dir is the layout directory.
	Dir string
}

const ociLayoutFile = `{"imageLayoutVersion":"1.0.0"}`

// Open returns the store in dir, creating an empty image layout there if
// the directory holds none yet.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return nil, fmt.Errorf("oci: store %s: %w", dir, err)
	}
	s := &Store{Dir: dir}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); errors.Is(err, os.ErrNotExist) {
		if err := writeFileAtomic(filepath.Join(dir, "oci-layout"), []byte(ociLayoutFile)); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); errors.Is(err, os.ErrNotExist) {
		if err := s.updateIndex(func(*v1.IndexManifest) error { return nil }); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// OpenDefault opens the store in DefaultDir.
func OpenDefault() (*Store, error) {
	dir, err := DefaultDir()
	if err != nil {
		return nil, err
	}
	return Open(dir)
}

func writeFileAtomic(dest string, data []byte) error {
	f, err := outfile.Create(dest, 0o644)
	if err != nil {
		return fmt.Errorf("oci: %w", err)
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("oci: %s: %w", dest, err)
	}
	return f.Commit()
}

// BlobPath returns the file name of the blob with digest h.
func (s *Store) BlobPath(h v1.Hash) string {
	return filepath.Join(s.Dir, "blobs", h.Algorithm, h.Hex)
}

// HasBlob reports whether the blob with digest h is present.
func (s *Store) HasBlob(h v1.Hash) bool {
	st, err := os.Stat(s.BlobPath(h))
	return err == nil && st.Mode().IsRegular()
}

// WriteBlob copies r into the store as the blob with digest h and size
// size (-1: unknown). The content is hashed while it is written and only
// renamed into place when digest and size match; an existing blob is kept.
func (s *Store) WriteBlob(h v1.Hash, size int64, r io.Reader) error {
	if h.Algorithm != "sha256" || len(h.Hex) != 64 {
		return fmt.Errorf("oci: blob %s: only sha256 digests are supported", h)
	}
	if s.HasBlob(h) {
		return nil
	}
	f, err := outfile.Create(s.BlobPath(h), 0o444)
	if err != nil {
		return fmt.Errorf("oci: blob %s: %w", h, err)
	}
	defer f.Abort()
	d := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, d), r)
	if err != nil {
		return fmt.Errorf("oci: blob %s: %w", h, err)
	}
	if got := hex.EncodeToString(d.Sum(nil)); got != h.Hex {
		return fmt.Errorf("oci: blob %s: content has digest sha256:%s (corrupt or tampered blob)", h, got)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("oci: blob %s: %d bytes, descriptor says %d", h, n, size)
	}
	return f.Commit()
}

// lock takes an exclusive lock on the store's index.
func (s *Store) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.Dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("oci: store %s: %w", s.Dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("oci: store %s: lock: %w", s.Dir, err)
	}
	return func() { f.Close() }, nil
}

func (s *Store) readIndex() (*v1.IndexManifest, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, "index.json"))
	if errors.Is(err, os.ErrNotExist) {
		return &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("oci: store %s: %w", s.Dir, err)
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("oci: store %s: index.json: %w", s.Dir, err)
	}
	// An entry without a digest parses (as the zero hash) but would be
	// written back as "digest": ":", which no reader accepts.
	for i, d := range im.Manifests {
		if d.Digest == (v1.Hash{}) {
			return nil, fmt.Errorf("oci: store %s: index.json: manifests[%d] has no digest", s.Dir, i)
		}
	}
	return im, nil
}

// updateIndex rewrites index.json under the store lock. Entries are kept
// sorted by digest so the file does not depend on the order of additions.
func (s *Store) updateIndex(edit func(*v1.IndexManifest) error) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	im, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := edit(im); err != nil {
		return err
	}
	im.SchemaVersion = 2
	im.MediaType = types.OCIImageIndex
	sort.SliceStable(im.Manifests, func(i, j int) bool {
		a, b := im.Manifests[i], im.Manifests[j]
		if a.Digest.String() != b.Digest.String() {
			return a.Digest.String() < b.Digest.String()
		}
		return a.Annotations[RefNameAnnotation] < b.Annotations[RefNameAnnotation]
	})
	b, err := json.MarshalIndent(im, "", "  ")
	if err != nil {
		return fmt.Errorf("oci: store %s: %w", s.Dir, err)
	}
	return writeFileAtomic(filepath.Join(s.Dir, "index.json"), append(b, '\n'))
}

// Has reports whether the store's index lists the image manifest h.
func (s *Store) Has(h v1.Hash) (bool, error) {
	im, err := s.readIndex()
	if err != nil {
		return false, err
	}
	for _, d := range im.Manifests {
		if d.Digest == h && s.HasBlob(h) {
			return true, nil
		}
	}
	return false, nil
}

// Image returns the stored image with manifest digest h; the error wraps
// ErrNotFound when the store does not hold it.
func (s *Store) Image(h v1.Hash) (v1.Image, error) {
	ok, err := s.Has(h)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("oci: image %s in store %s: %w", h, s.Dir, ErrNotFound)
	}
	img, err := layout.Path(s.Dir).Image(h)
	if err != nil {
		return nil, fmt.Errorf("oci: image %s in store %s: %w", h, s.Dir, err)
	}
	return img, nil
}

// Put stores img (all layers, config and manifest, each verified against
// its digest) and lists it in index.json, annotated with name when name is
// not empty. It returns the manifest digest.
func (s *Store) Put(img v1.Image, name string) (v1.Hash, error) {
	h, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("oci: put: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return h, fmt.Errorf("oci: put %s: %w", h, err)
	}
	for i, l := range layers {
		lh, err := l.Digest()
		if err != nil {
			return h, fmt.Errorf("oci: put %s: layer %d: %w", h, i, err)
		}
		if s.HasBlob(lh) {
			continue
		}
		size, err := l.Size()
		if err != nil {
			return h, fmt.Errorf("oci: put %s: layer %s: %w", h, lh, err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return h, fmt.Errorf("oci: put %s: layer %s: %w", h, lh, err)
		}
		err = s.WriteBlob(lh, size, rc)
		if cerr := rc.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("oci: blob %s: %w", lh, cerr)
		}
		if err != nil {
			return h, fmt.Errorf("oci: put %s: %w", h, err)
		}
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return h, fmt.Errorf("oci: put %s: config: %w", h, err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return h, fmt.Errorf("oci: put %s: config: %w", h, err)
	}
	if err := s.WriteBlob(cfgName, int64(len(cfg)), bytes.NewReader(cfg)); err != nil {
		return h, fmt.Errorf("oci: put %s: %w", h, err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return h, fmt.Errorf("oci: put %s: manifest: %w", h, err)
	}
	if err := s.WriteBlob(h, int64(len(raw)), bytes.NewReader(raw)); err != nil {
		return h, fmt.Errorf("oci: put %s: %w", h, err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return h, fmt.Errorf("oci: put %s: %w", h, err)
	}
	return h, s.AddManifest(v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: h}, name)
}

// AddManifest lists the manifest desc (whose blob, config and layers must
// already be stored) in index.json, annotated with name when not empty.
func (s *Store) AddManifest(desc v1.Descriptor, name string) error {
	if !s.HasBlob(desc.Digest) {
		return fmt.Errorf("oci: manifest %s: blob not in store %s", desc.Digest, s.Dir)
	}
	if name != "" {
		desc.Annotations = map[string]string{RefNameAnnotation: name}
	}
	return s.updateIndex(func(im *v1.IndexManifest) error {
		for _, d := range im.Manifests {
			if d.Digest == desc.Digest && d.Annotations[RefNameAnnotation] == name {
				return nil
			}
		}
		im.Manifests = append(im.Manifests, desc)
		return nil
	})
}

// ParseDigest parses "sha256:<64 hex>" (optionally prefixed by a
// repository and "@", which is ignored).
func ParseDigest(s string) (v1.Hash, error) {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		s = s[i+1:]
	}
	h, err := v1.NewHash(s)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("oci: digest %q: %w", s, err)
	}
	if h.Algorithm != "sha256" {
		return v1.Hash{}, fmt.Errorf("oci: digest %q: only sha256 is supported", s)
	}
	return h, nil
}

// OpenLayout returns the image of the OCI layout directory dir: the one
// with digest want, or, when want is the zero Hash, the only image listed.
func OpenLayout(dir string, want v1.Hash) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("oci: layout %s: %w", dir, err)
	}
	if want == (v1.Hash{}) {
		ii, err := p.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("oci: layout %s: %w", dir, err)
		}
		im, err := ii.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("oci: layout %s: %w", dir, err)
		}
		seen := map[v1.Hash]bool{}
		for _, d := range im.Manifests {
			seen[d.Digest] = true
			want = d.Digest
		}
		if len(seen) != 1 {
			return nil, fmt.Errorf("oci: layout %s holds %d images: name one by digest", dir, len(seen))
		}
	}
	img, err := p.Image(want)
	if err != nil {
		return nil, fmt.Errorf("oci: layout %s: image %s: %w", dir, want, err)
	}
	return img, nil
}
