package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// EnvRegistries names the environment variable listing registry
// repositories (comma or space separated) that Fetch searches after the
// local store.
const EnvRegistries = "ICOS_REGISTRIES"

// RegistriesFromEnv returns the repositories listed in $ICOS_REGISTRIES.
func RegistriesFromEnv() []string {
	return strings.FieldsFunc(os.Getenv(EnvRegistries), func(r rune) bool {
		return r == ',' || r == ' ' || r == '\n' || r == '\t'
	})
}

// NotFoundError reports a digest found neither in the store nor in any of
// the repositories searched.
type NotFoundError struct {
	Digest   v1.Hash
	Searched []string // the store directory and every repository tried, with the reason
	Hint     string   // how to build the image instead, if known
}

func (e *NotFoundError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "image %s not found; searched:", e.Digest)
	for _, s := range e.Searched {
		fmt.Fprintf(&b, "\n  - %s", s)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "\nbuild it with: %s", e.Hint)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// Fetch returns the image with manifest digest h: from the store if it
// holds it, otherwise from the first repository ("host/path", no tag) in
// repos that has it. A pulled image is verified blob by blob (manifest,
// config and layers must have the digests and sizes their descriptors
// give) and stored before it is returned; a store blob of the image that
// does not verify is replaced by the pulled one. hint is the command that
// builds the image, quoted in the error when the digest is found nowhere.
func (s *Store) Fetch(ctx context.Context, h v1.Hash, repos []string, hint string) (v1.Image, error) {
	if img, err := s.Image(h); err == nil {
		return img, nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	nf := &NotFoundError{Digest: h, Hint: hint, Searched: []string{"local store " + s.Dir}}
	for _, repo := range repos {
		ref, err := name.NewDigest(strings.TrimSuffix(repo, "/") + "@" + h.String())
		if err != nil {
			nf.Searched = append(nf.Searched, fmt.Sprintf("%s (bad repository name: %v)", repo, err))
			continue
		}
		img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
		if err != nil {
			nf.Searched = append(nf.Searched, fmt.Sprintf("%s (%v)", ref.Context().Name(), err))
			continue
		}
		where := "registry " + ref.Context().Name()
		d, err := s.put(img, where)
		if err != nil {
			return nil, err
		}
		if d.Digest != h {
			return nil, fmt.Errorf("oci: %s: manifest %s: content has digest %s (corrupt or tampered blob)", where, h, d.Digest)
		}
		if err := s.AddManifest(d, ""); err != nil {
			return nil, err
		}
		return s.Image(h)
	}
	return nil, nf
}

// Push uploads the stored image h to the repository or tag reference ref
// (for example "registry.example/base/guestos:2026-11-26") and returns the
// pushed reference by digest ("registry.example/base/guestos@sha256:...").
func (s *Store) Push(ctx context.Context, h v1.Hash, ref string) (string, error) {
	img, err := s.Image(h)
	if err != nil {
		return "", err
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("oci: push %s: %w", ref, err)
	}
	if err := remote.Write(r, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return "", fmt.Errorf("oci: push %s to %s: %w", h, ref, err)
	}
	return r.Context().Name() + "@" + h.String(), nil
}

// Export writes the stored image h into the OCI layout directory dir
// (created if needed) so a build can read it without the store, for
// example as a Bazel external repository.
func (s *Store) Export(h v1.Hash, dir string) error {
	img, err := s.Image(h)
	if err != nil {
		return err
	}
	out, err := Open(dir)
	if err != nil {
		return err
	}
	_, err = out.Put(img, "")
	return err
}
