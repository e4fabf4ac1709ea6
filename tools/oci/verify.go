package oci

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// blobDir reads the blobs of an OCI image-layout directory (a layout given
// on the command line or the store), each checked against the digest and
// size of the descriptor it is read through.
type blobDir struct {
	dir   string
	where string // "OCI layout DIR" or "store DIR", for errors
}

// maxIndexDepth bounds the nesting of image indexes followed from
// index.json.
const maxIndexDepth = 8

func checkDescriptor(d v1.Descriptor) error {
	if d.Digest.Algorithm != "sha256" || len(d.Digest.Hex) != 64 || strings.Trim(d.Digest.Hex, "0123456789abcdef") != "" {
		return fmt.Errorf("digest %q: only sha256 digests are supported", d.Digest)
	}
	if d.Size < 0 {
		return fmt.Errorf("descriptor of %s has negative size %d", d.Digest, d.Size)
	}
	return nil
}

// open returns a reader of the blob d that fails, at the latest at end of
// file (or on Close), when the content does not have d's digest and size.
func (b blobDir) open(d v1.Descriptor, kind string) (*verifyReader, error) {
	if err := checkDescriptor(d); err != nil {
		return nil, fmt.Errorf("oci: %s: %s: %w", b.where, kind, err)
	}
	f, err := os.Open(filepath.Join(b.dir, "blobs", d.Digest.Algorithm, d.Digest.Hex))
	if err != nil {
		return nil, fmt.Errorf("oci: %s: %s %s: %w", b.where, kind, d.Digest, err)
	}
	return newVerifyReader(f, d, kind, b.where), nil
}

// read returns the whole blob d (a manifest, index or config), verified
// before it is returned.
func (b blobDir) read(d v1.Descriptor, kind string) ([]byte, error) {
	r, err := b.open(d, kind)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readAllVerified(r, d.Size)
}

func readAllVerified(r *verifyReader, size int64) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(min(size, 1<<20)) + 1)
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// verifyReader hashes and counts a blob while it is read. Past the
// descriptor's size, or at end of file with the wrong size or digest, Read
// returns an error naming the blob and where it was read from instead of
// io.EOF. Close reads what the caller left unread (a tar reader stops at the
// end-of-archive blocks), so a caller that checks Close's error has read a
// verified blob.
type verifyReader struct {
	r     io.ReadCloser
	desc  v1.Descriptor
	kind  string // "layer", "config", "manifest", "index"
	where string
	h     hash.Hash
	n     int64
	err   error // sticky; io.EOF once the blob is read and verified
}

func newVerifyReader(r io.ReadCloser, d v1.Descriptor, kind, where string) *verifyReader {
	return &verifyReader{r: r, desc: d, kind: kind, where: where, h: sha256.New()}
}

// blobError is a failure to read or verify one blob; its message names
// the blob and where it was read from.
type blobError struct{ err error }

func (e *blobError) Error() string { return e.err.Error() }
func (e *blobError) Unwrap() error { return e.err }

func (v *verifyReader) fail(format string, args ...any) error {
	return &blobError{fmt.Errorf("oci: %s: %s %s: %s", v.where, v.kind, v.desc.Digest, fmt.Sprintf(format, args...))}
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	switch {
	case v.n > v.desc.Size:
		v.err = v.fail("more than the %d bytes its descriptor says (corrupt or tampered blob)", v.desc.Size)
	case err == io.EOF:
		v.err = v.check()
	case err != nil:
		v.err = &blobError{fmt.Errorf("oci: %s: %s %s: %w", v.where, v.kind, v.desc.Digest, err)}
	}
	return n, v.err
}

// check compares size and digest at end of file; it returns io.EOF when
// both match.
func (v *verifyReader) check() error {
	if v.n != v.desc.Size {
		return v.fail("%d bytes, its descriptor says %d (corrupt or tampered blob)", v.n, v.desc.Size)
	}
	if got := hex.EncodeToString(v.h.Sum(nil)); got != v.desc.Digest.Hex {
		return v.fail("content has digest sha256:%s (corrupt or tampered blob)", got)
	}
	return io.EOF
}

// Close reads the rest of the blob and returns the verification error, if
// any.
func (v *verifyReader) Close() error {
	if v.err == nil {
		io.Copy(io.Discard, v) // sets v.err
	}
	cerr := v.r.Close()
	if v.err != io.EOF {
		return v.err
	}
	if cerr != nil {
		return &blobError{fmt.Errorf("oci: %s: %s %s: %w", v.where, v.kind, v.desc.Digest, cerr)}
	}
	return nil
}

func isIndex(mt types.MediaType) bool {
	return mt == types.OCIImageIndex || mt == types.DockerManifestList
}

func isImage(mt types.MediaType) bool {
	return mt == types.OCIManifestSchema1 || mt == types.DockerManifestSchema2
}

// readLayoutFile checks the oci-layout file of an image layout.
func (b blobDir) readLayoutFile() error {
	raw, err := os.ReadFile(filepath.Join(b.dir, "oci-layout"))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("oci: %s: no oci-layout file: not an OCI image layout", b.where)
	}
	if err != nil {
		return fmt.Errorf("oci: %s: %w", b.where, err)
	}
	var l struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(raw, &l); err != nil {
		return fmt.Errorf("oci: %s: oci-layout: %w", b.where, err)
	}
	if !strings.HasPrefix(l.Version, "1.") {
		return fmt.Errorf("oci: %s: oci-layout: imageLayoutVersion %q, want 1.x", b.where, l.Version)
	}
	return nil
}

// rootIndex reads index.json, the entry point of the layout (the one file
// not addressed by digest).
func (b blobDir) rootIndex() (*v1.IndexManifest, error) {
	raw, err := os.ReadFile(filepath.Join(b.dir, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("oci: %s: %w", b.where, err)
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("oci: %s: index.json: %w", b.where, err)
	}
	return im, nil
}

// images returns the descriptors of the image manifests listed in
// index.json and in the image indexes it refers to (each read and
// verified), in order, the first descriptor of each digest only.
func (b blobDir) images() ([]v1.Descriptor, error) {
	root, err := b.rootIndex()
	if err != nil {
		return nil, err
	}
	var out []v1.Descriptor
	seen := map[v1.Hash]bool{}
	var walk func([]v1.Descriptor, int) error
	walk = func(descs []v1.Descriptor, depth int) error {
		for _, d := range descs {
			switch {
			case isImage(d.MediaType):
				if !seen[d.Digest] {
					seen[d.Digest] = true
					out = append(out, d)
				}
			case isIndex(d.MediaType):
				if depth >= maxIndexDepth {
					return fmt.Errorf("oci: %s: index %s: image indexes nested more than %d deep", b.where, d.Digest, maxIndexDepth)
				}
				raw, err := b.read(d, "index")
				if err != nil {
					return err
				}
				im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
				if err != nil {
					return fmt.Errorf("oci: %s: index %s: %w", b.where, d.Digest, err)
				}
				if err := walk(im.Manifests, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(root.Manifests, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// image returns the image whose manifest descriptor is d, with manifest
// and config read and verified; layers are verified as they are read.
func (b blobDir) image(d v1.Descriptor) (v1.Image, error) {
	raw, err := b.read(d, "manifest")
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("oci: %s: manifest %s: %w", b.where, d.Digest, err)
	}
	cfg, err := b.read(m.Config, "config")
	if err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		if err := checkDescriptor(l); err != nil {
			return nil, fmt.Errorf("oci: %s: manifest %s: layer: %w", b.where, d.Digest, err)
		}
	}
	return partial.CompressedToImage(&verifiedImage{src: b, desc: d, raw: raw, manifest: m, config: cfg})
}

// verifiedImage is an image of a blobDir whose manifest and config were
// verified when it was opened and whose layers verify while they are read.
type verifiedImage struct {
	src      blobDir
	desc     v1.Descriptor
	raw      []byte
	manifest *v1.Manifest
	config   []byte
}

var _ partial.CompressedImageCore = (*verifiedImage)(nil)

func (i *verifiedImage) RawManifest() ([]byte, error)   { return i.raw, nil }
func (i *verifiedImage) RawConfigFile() ([]byte, error) { return i.config, nil }

func (i *verifiedImage) MediaType() (types.MediaType, error) {
	if i.manifest.MediaType != "" {
		return i.manifest.MediaType, nil
	}
	return i.desc.MediaType, nil
}

func (i *verifiedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.manifest.Config.Digest {
		return &verifiedBlob{src: i.src, desc: i.manifest.Config, kind: "config"}, nil
	}
	for _, d := range i.manifest.Layers {
		if d.Digest == h {
			return &verifiedBlob{src: i.src, desc: d, kind: "layer"}, nil
		}
	}
	return nil, fmt.Errorf("oci: %s: manifest %s lists no layer %s", i.src.where, i.desc.Digest, h)
}

// verifiedBlob is a layer (or the config) of a verifiedImage.
type verifiedBlob struct {
	src  blobDir
	desc v1.Descriptor
	kind string
}

func (l *verifiedBlob) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *verifiedBlob) Size() (int64, error)                { return l.desc.Size, nil }
func (l *verifiedBlob) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *verifiedBlob) Descriptor() (*v1.Descriptor, error) { d := l.desc; return &d, nil }

// Compressed returns the blob's bytes, verified while they are read: the
// last Read (or Close) fails if digest or size differ.
func (l *verifiedBlob) Compressed() (io.ReadCloser, error) {
	return l.src.open(l.desc, l.kind)
}
