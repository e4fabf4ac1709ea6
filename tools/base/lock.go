package base

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"

	"github.com/icos-build/icos/tools/oci"
	"github.com/icos-build/icos/tools/outfile"
)

// LockFormat is the version of the lock file format written by this
// package.
const LockFormat = 2

// Lock pins a base image: the packages requested, every package apt
// resolved with its exact version and .deb checksum, the Debian suite and
// the epoch, and the digest of the image built from them. The format is
// documented in tools/base/README.md.
type Lock struct {
	Format  int    `json:"format"`
	OS      string `json:"os"`      // guestos, hostos, setupos, boundary-guestos
	Variant string `json:"variant"` // "prod" (packages.common) or "dev" (plus packages.dev)
	// Image is the image built from this lock.
	Image ImageRef `json:"image"`
	// SourceDateEpoch is SOURCE_DATE_EPOCH for the build and the mtime of
	// every file of the image (seconds since 1970-01-01 UTC).
	SourceDateEpoch int64  `json:"source_date_epoch"`
	Debian          Debian `json:"debian"`
	// Requested lists the names from the package lists (sorted).
	Requested []string `json:"requested"`
	// Packages lists every installed package (sorted by name).
	Packages []Package `json:"packages"`
	// Builder is the builder the image was built with (its ID and the
	// versions of mmdebstrap, apt and dpkg); a build with another builder
	// is refused.
	Builder *BuilderRef `json:"builder"`
}

// ImageRef names an image by repository and digest.
type ImageRef struct {
	Repository string `json:"repository"` // e.g. "icos/guestos-base"; registries are given at fetch/push time
	Digest     string `json:"digest"`     // "sha256:<64 hex>" of the OCI manifest
}

// Debian describes the package source (never the mirror's host, which is
// taken from the building host's apt configuration).
type Debian struct {
	Suite        string   `json:"suite"`             // e.g. "bookworm"
	Suites       []string `json:"suites"`            // suites enabled (suite, suite-updates, suite-security)
	Components   []string `json:"components"`        // e.g. ["main"]
	Architecture string   `json:"architecture"`      // e.g. "amd64"
	Variant      string   `json:"variant,omitempty"` // mmdebstrap variant the package set starts from (base and builder locks; required there)
}

// Package is one installed Debian package.
type Package struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	Architecture string `json:"architecture"`
	SHA256       string `json:"sha256"` // of the .deb, as listed in the archive's Packages index
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Validate checks a lock for completeness and consistency; errors name
// the field or package.
func (l *Lock) Validate() error {
	switch {
	case l.Format != LockFormat:
		return fmt.Errorf("format %d, want %d", l.Format, LockFormat)
	case l.OS == "":
		return fmt.Errorf("os is empty")
	case l.Variant != "prod" && l.Variant != "dev":
		return fmt.Errorf("variant %q, want prod or dev", l.Variant)
	case l.Image.Repository == "":
		return fmt.Errorf("image.repository is empty")
	case l.SourceDateEpoch <= 0:
		return fmt.Errorf("source_date_epoch %d must be positive", l.SourceDateEpoch)
	case l.Debian.Suite == "" || len(l.Debian.Suites) == 0 || len(l.Debian.Components) == 0 || l.Debian.Architecture == "" || l.Debian.Variant == "":
		return fmt.Errorf("debian: suite, suites, components, architecture and variant are required")
	case len(l.Requested) == 0:
		return fmt.Errorf("requested is empty")
	case len(l.Packages) == 0:
		return fmt.Errorf("packages is empty")
	case l.Builder == nil || l.Builder.ID == "":
		return fmt.Errorf("builder is missing (locks of format 1 predate the pinned builder: re-lock with icos base bump)")
	}
	if l.Image.Digest != "" {
		if _, err := oci.ParseDigest(l.Image.Digest); err != nil {
			return fmt.Errorf("image.digest: %w", err)
		}
	}
	installed := map[string]bool{}
	for i, p := range l.Packages {
		switch {
		case !validPackage.MatchString(p.Name):
			return fmt.Errorf("packages[%d]: invalid name %q", i, p.Name)
		case p.Version == "" || p.Architecture == "":
			return fmt.Errorf("packages[%d] %s: version and architecture are required", i, p.Name)
		case !hex64.MatchString(p.SHA256):
			return fmt.Errorf("packages[%d] %s: sha256 %q is not 64 lowercase hex digits", i, p.Name, p.SHA256)
		case i > 0 && l.Packages[i-1].Name >= p.Name:
			return fmt.Errorf("packages[%d] %s: not sorted or duplicate", i, p.Name)
		}
		installed[p.Name] = true
	}
	for _, r := range l.Requested {
		if !installed[r] {
			return fmt.Errorf("requested package %s is not among the installed packages", r)
		}
	}
	return nil
}

// ReadLock reads and validates a lock file.
func ReadLock(name string) (*Lock, error) {
	var l Lock
	if err := readJSON(name, "lock", &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// WriteLock writes the lock atomically as indented JSON, packages sorted.
func WriteLock(name string, l *Lock) error {
	sort.Slice(l.Packages, func(i, j int) bool { return l.Packages[i].Name < l.Packages[j].Name })
	sort.Strings(l.Requested)
	return writeJSON(name, "lock", l)
}

// validated is a lock file's content.
type validated interface{ Validate() error }

// readJSON decodes the file name into v and validates it (see decodeJSON).
func readJSON(name, what string, v validated) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("base: %s: %w", what, err)
	}
	return decodeJSON(b, name, what, v)
}

// decodeJSON decodes b, the content of the file name, into v, rejecting
// unknown fields and anything after the one JSON object, and validates
// it; errors name what the file is and its path.
func decodeJSON(b []byte, name, what string, v validated) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("base: %s %s: malformed: %w", what, name, err)
	}
	if end := dec.InputOffset(); !errors.Is(tokenErr(dec), io.EOF) {
		return fmt.Errorf("base: %s %s: malformed: data after the JSON object (which ends at byte %d)", what, name, end)
	}
	if err := v.Validate(); err != nil {
		return fmt.Errorf("base: %s %s: %w", what, name, err)
	}
	return nil
}

// tokenErr returns the error of reading the next JSON token: io.EOF when
// only white space is left.
func tokenErr(dec *json.Decoder) error {
	_, err := dec.Token()
	if err == nil {
		err = errors.New("another token")
	}
	return err
}

// writeJSON validates v and writes it atomically as indented JSON; an
// invalid v leaves nothing behind.
func writeJSON(name, what string, v validated) error {
	if err := v.Validate(); err != nil {
		return fmt.Errorf("base: %s %s: %w", what, name, err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("base: %s %s: %w", what, name, err)
	}
	f, err := outfile.Create(name, 0o644)
	if err != nil {
		return fmt.Errorf("base: %s: %w", what, err)
	}
	defer f.Abort()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("base: %s %s: %w", what, name, err)
	}
	return f.Commit()
}
