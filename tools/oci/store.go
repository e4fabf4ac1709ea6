// Package oci is the local, content-addressed store of OCI images used by
// the IC-OS build: an OCI image-layout directory (oci-layout, index.json,
// blobs/sha256/...) in a per-user cache directory. Images are added and
// looked up by manifest digest, fetched from registries by digest (every
// blob verified) and pushed with go-containerregistry.
//
// Every blob read, from the store or from an OCI layout (OpenLayout), is
// checked against the digest and size of the descriptor it is read
// through: image indexes, manifests and configs before they are parsed,
// layers while they are read (the read reaching the end, or Close, fails).
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
// the directory holds none yet. Directories it creates get mode 0755 and
// files 0644 (blobs 0444), whatever the umask.
func Open(dir string) (*Store, error) {
	if err := mkdirAll(filepath.Join(dir, "blobs", "sha256")); err != nil {
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

// mkdirAll is os.MkdirAll with mode 0755, not masked by the umask, for the
// directories it creates (existing ones are left as they are).
func mkdirAll(dir string) error {
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("%s: not a directory", dir)
		}
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil
		}
		return err
	}
	return os.Chmod(dir, 0o755)
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
		return err
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
// renamed into place when digest and size match. An existing blob is kept
// when it hashes to h (read once to check) and replaced otherwise.
func (s *Store) WriteBlob(h v1.Hash, size int64, r io.Reader) error {
	if err := s.writeBlob(h, size, r); err != nil {
		return fmt.Errorf("oci: blob %s: %w", h, err)
	}
	return nil
}

// writeBlob is WriteBlob with errors that do not name the blob.
func (s *Store) writeBlob(h v1.Hash, size int64, r io.Reader) error {
	if err := checkDescriptor(v1.Descriptor{Digest: h}); err != nil {
		return err
	}
	if s.HasBlob(h) && s.blobIntact(h, size) {
		return nil
	}
	f, err := outfile.Create(s.BlobPath(h), 0o444)
	if err != nil {
		return err
	}
	defer f.Abort()
	d := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, d), r)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(d.Sum(nil)); got != h.Hex {
		return fmt.Errorf("content has digest sha256:%s (corrupt or tampered blob)", got)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("%d bytes, its descriptor says %d (corrupt or tampered blob)", n, size)
	}
	return f.Commit()
}

// blobIntact reports whether the stored blob h has digest h (and size
// size, unless -1).
func (s *Store) blobIntact(h v1.Hash, size int64) bool {
	f, err := os.Open(s.BlobPath(h))
	if err != nil {
		return false
	}
	defer f.Close()
	d := sha256.New()
	n, err := io.Copy(d, f)
	return err == nil && (size < 0 || n == size) && hex.EncodeToString(d.Sum(nil)) == h.Hex
}

// lock takes an exclusive lock on the store's index.
func (s *Store) lock() (func(), error) {
	p := filepath.Join(s.Dir, ".lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err == nil {
		err = f.Chmod(0o644)
	} else if errors.Is(err, os.ErrExist) {
		f, err = os.OpenFile(p, os.O_RDWR, 0)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
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
// ErrNotFound when the store does not hold it. Manifest and config are
// read and checked against their digests and sizes here, each layer while
// it is read (see OpenLayout).
func (s *Store) Image(h v1.Hash) (v1.Image, error) {
	ok, err := s.Has(h)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("oci: image %s in store %s: %w", h, s.Dir, ErrNotFound)
	}
	src := s.blobs()
	descs, err := src.images()
	if err != nil {
		return nil, err
	}
	for _, d := range descs {
		if d.Digest == h {
			return src.image(d)
		}
	}
	return nil, fmt.Errorf("oci: image %s in store %s: listed, but not as an image manifest", h, s.Dir)
}

func (s *Store) blobs() blobDir {
	return blobDir{dir: s.Dir, where: "store " + s.Dir}
}

// Put stores img (all layers, config and manifest, each verified against
// the digest and size its manifest gives) and lists it in index.json,
// annotated with name when name is not empty. It returns the manifest
// digest.
func (s *Store) Put(img v1.Image, name string) (v1.Hash, error) {
	d, err := s.put(img, "put")
	if err != nil {
		return d.Digest, err
	}
	return d.Digest, s.AddManifest(d, name)
}

// put writes the blobs of img to the store and returns the manifest's
// descriptor; errors say where img comes from ("put", "registry
// host/repo").
func (s *Store) put(img v1.Image, where string) (v1.Descriptor, error) {
	fail := func(kind string, h v1.Hash, err error) error {
		var be *blobError
		if errors.As(err, &be) { // names the blob and its source already
			return err
		}
		return fmt.Errorf("oci: %s: %s %s: %w", where, kind, h, err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("oci: %s: manifest: %w", where, err)
	}
	h, _, _ := v1.SHA256(bytes.NewReader(raw))
	desc := v1.Descriptor{Digest: h, Size: int64(len(raw))}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return desc, fail("manifest", h, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return desc, fail("manifest", h, err)
	}
	if len(layers) != len(m.Layers) {
		return desc, fail("manifest", h, fmt.Errorf("%d layers, the manifest lists %d", len(layers), len(m.Layers)))
	}
	for i, l := range layers {
		d := m.Layers[i]
		if s.HasBlob(d.Digest) && s.blobIntact(d.Digest, d.Size) {
			continue
		}
		rc, err := l.Compressed()
		if err != nil {
			return desc, fail("layer", d.Digest, err)
		}
		err = s.writeBlob(d.Digest, d.Size, rc)
		if cerr := rc.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			return desc, fail("layer", d.Digest, err)
		}
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return desc, fail("config", m.Config.Digest, err)
	}
	if err := s.writeBlob(m.Config.Digest, m.Config.Size, bytes.NewReader(cfg)); err != nil {
		return desc, fail("config", m.Config.Digest, err)
	}
	if err := s.writeBlob(h, int64(len(raw)), bytes.NewReader(raw)); err != nil {
		return desc, fail("manifest", h, err)
	}
	if desc.MediaType = m.MediaType; desc.MediaType == "" {
		if desc.MediaType, err = img.MediaType(); err != nil {
			return desc, fail("manifest", h, err)
		}
	}
	return desc, nil
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
// with digest want, or, when want is the zero Hash, the only image listed
// (image indexes listed in index.json are followed). The directory must
// hold an oci-layout file. Every blob is checked against the digest and
// size of its descriptor: image indexes, manifest and config before they
// are parsed, layers while they are read (the read that reaches the end
// of a layer, or Close, fails if it does not match).
func OpenLayout(dir string, want v1.Hash) (v1.Image, error) {
	src := blobDir{dir: dir, where: "OCI layout " + dir}
	if err := src.readLayoutFile(); err != nil {
		return nil, err
	}
	descs, err := src.images()
	if err != nil {
		return nil, err
	}
	if want == (v1.Hash{}) {
		if len(descs) != 1 {
			return nil, fmt.Errorf("oci: layout %s holds %d images: name one by digest", dir, len(descs))
		}
		return src.image(descs[0])
	}
	for _, d := range descs {
		if d.Digest == want {
			return src.image(d)
		}
	}
	return nil, fmt.Errorf("oci: layout %s: image %s: %w", dir, want, ErrNotFound)
}
