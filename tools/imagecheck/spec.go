package imagecheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/icos-build/icos/tools/size"
)

// Spec is what one image must look like (see the package documentation for
// the JSON form).
type Spec struct {
	Name       string      `json:"name"`
	Disk       Disk        `json:"disk"`
	Partitions []Partition `json:"partitions"`
	Files      []File      `json:"files,omitempty"`
	Shadow     *Shadow     `json:"shadow,omitempty"`
	Update     *Update     `json:"update,omitempty"`
}

// Disk is the sparse disk archive and the disk image in it.
type Disk struct {
	Archive      string `json:"archive"`                 // .tar.zst, with Archive+".sha256" beside it
	Entry        string `json:"entry"`                   // the disk image's name in the archive
	Size         Bytes  `json:"size"`                    // exact size of the disk image
	MaxAllocated Bytes  `json:"max_allocated,omitempty"` // the image allocates fewer bytes than this; 0: Size/2
}

// Bytes is a size in bytes, written in JSON as a number or as a string in
// the size grammar of package size ("50G", "64MiB", "2048s").
type Bytes int64

// UnmarshalJSON reads a number or a size string.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	var n int64
	if err := json.Unmarshal(data, &n); err == nil {
		*b = Bytes(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("size %s: want a number or a size string", data)
	}
	n, err := size.Parse(s)
	if err != nil {
		return err
	}
	*b = Bytes(n)
	return nil
}

// Partition kinds.
const (
	KindExt4  = "ext4"  // an ext4 filesystem (e2fsck -fn)
	KindVFAT  = "vfat"  // a FAT filesystem (fsck.vfat -n)
	KindLVM   = "lvm"   // an LVM2 physical volume (pvck); partitions only
	KindEmpty = "empty" // the first MiB is zero
)

// Partition is one GPT partition, or one logical volume of an LVM physical
// volume, and what it holds.
type Partition struct {
	Name    string      `json:"name"`
	Kind    string      `json:"kind"`              // KindExt4, KindVFAT, KindLVM or KindEmpty
	Volumes []Partition `json:"volumes,omitempty"` // logical volumes of a KindLVM partition, in order
}

// File is a check of one file or directory in a filesystem: Path with the
// content and metadata checks, or Dir with the listing checks. Unset fields
// are not checked.
type File struct {
	FS          string  `json:"fs"` // the partition or volume holding the filesystem
	Path        string  `json:"path,omitempty"`
	Equals      *string `json:"equals,omitempty"`
	EqualsFile  string  `json:"equals_file,omitempty"`
	Contains    string  `json:"contains,omitempty"`
	Size        *int64  `json:"size,omitempty"`
	Type        string  `json:"type,omitempty"`    // ext4: debugfs's file type name, e.g. "regular"
	Mode        string  `json:"mode,omitempty"`    // ext4: octal permissions, e.g. "0755"
	Symlink     string  `json:"symlink,omitempty"` // ext4: target of a symbolic link
	Dir         string  `json:"dir,omitempty"`
	HasPrefix   string  `json:"has_prefix,omitempty"`
	LacksPrefix string  `json:"lacks_prefix,omitempty"`
}

// Shadow is a check of one user's password field in /etc/shadow.
type Shadow struct {
	FS     string `json:"fs"`
	User   string `json:"user"`
	Locked bool   `json:"locked,omitempty"` // the field starts with "*" or "!"
	Hash   string `json:"hash,omitempty"`   // else the field equals this
}

// Update is the update archive.
type Update struct {
	Archive string           `json:"archive"` // .tar.zst, with Archive+".sha256" beside it
	Entries map[string]Entry `json:"entries"` // exactly the archive's entries
}

// Entry is what one update archive entry equals: a file, or the start of
// a partition or volume (EqualsFile or Partition).
type Entry struct {
	EqualsFile string `json:"equals_file,omitempty"`
	Partition  string `json:"partition,omitempty"`
}

// LoadSpec reads and validates a spec from a JSON file. Unknown fields are
// errors, so a misspelt check is never skipped silently.
func LoadSpec(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("imagecheck: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("imagecheck: %s: %w", path, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("imagecheck: %s: %w", path, err)
	}
	return &s, nil
}

// Validate reports whether s is complete and consistent: every kind known,
// names unique, every file check and update entry referring to a
// filesystem of the spec and asking something it can answer.
func (s *Spec) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if s.Disk.Archive == "" || s.Disk.Entry == "" {
		bad("disk: archive and entry are required")
	}
	if s.Disk.Size <= 0 || s.Disk.MaxAllocated < 0 {
		bad("disk: size must be positive, max_allocated not negative")
	}
	if len(s.Partitions) == 0 {
		bad("no partitions")
	}
	kinds := map[string]string{}
	var walk func(parts []Partition, inLVM bool)
	walk = func(parts []Partition, inLVM bool) {
		for _, p := range parts {
			if p.Name == "" {
				bad("partition without a name")
				continue
			}
			if _, dup := kinds[p.Name]; dup {
				bad("partition or volume %s: name used twice", p.Name)
			}
			kinds[p.Name] = p.Kind
			switch p.Kind {
			case KindExt4, KindVFAT, KindEmpty:
				if len(p.Volumes) > 0 {
					bad("%s: volumes in a partition of kind %s", p.Name, p.Kind)
				}
			case KindLVM:
				if inLVM {
					bad("%s: an LVM physical volume inside a logical volume", p.Name)
				} else if len(p.Volumes) == 0 {
					bad("%s: lvm without volumes", p.Name)
				}
				walk(p.Volumes, true)
			default:
				bad("%s: unknown kind %q (want ext4, vfat, lvm or empty)", p.Name, p.Kind)
			}
		}
	}
	walk(s.Partitions, false)
	fsKind := func(what, name string) string {
		k := kinds[name]
		if k != KindExt4 && k != KindVFAT {
			bad("%s: %q is not an ext4 or vfat partition or volume of the spec", what, name)
		}
		return k
	}
	for _, f := range s.Files {
		what := fmt.Sprintf("file %s:%s%s", f.FS, f.Path, f.Dir)
		k := fsKind(what, f.FS)
		if err := f.validate(k); err != nil {
			bad("%s: %v", what, err)
		}
	}
	if sh := s.Shadow; sh != nil {
		if fsKind("shadow", sh.FS) != KindExt4 {
			bad("shadow: %s is not ext4", sh.FS)
		}
		if sh.User == "" || sh.Locked == (sh.Hash != "") {
			bad("shadow: want a user and either locked or hash")
		}
	}
	if u := s.Update; u != nil {
		if u.Archive == "" || len(u.Entries) == 0 {
			bad("update: archive and entries are required")
		}
		for name, e := range u.Entries {
			switch {
			case (e.EqualsFile == "") == (e.Partition == ""):
				bad("update entry %s: want one of equals_file and partition", name)
			case e.Partition != "":
				fsKind("update entry "+name, e.Partition)
			}
		}
	}
	return errors.Join(errs...)
}

// validate checks that f is a path or dir check that a filesystem of kind
// can answer.
func (f *File) validate(kind string) error {
	for _, p := range []string{f.Path, f.Dir} {
		if strings.ContainsAny(p, "\"\n") {
			return errors.New(`path with " or a newline`)
		}
	}
	pathChecks := f.Equals != nil || f.EqualsFile != "" || f.Contains != "" || f.Size != nil ||
		f.Type != "" || f.Mode != "" || f.Symlink != ""
	dirChecks := f.HasPrefix != "" || f.LacksPrefix != ""
	switch {
	case (f.Path == "") == (f.Dir == ""):
		return errors.New("want one of path and dir")
	case f.Path != "" && (!strings.HasPrefix(f.Path, "/") || !pathChecks || dirChecks):
		return errors.New("a path must be absolute and have only path checks (equals, equals_file, contains, size, type, mode, symlink)")
	case f.Dir != "" && (!strings.HasPrefix(f.Dir, "/") || !dirChecks || pathChecks):
		return errors.New("a dir must be absolute and have only has_prefix or lacks_prefix")
	case kind == KindVFAT && (f.Type != "" || f.Mode != "" || f.Symlink != ""):
		return errors.New("type, mode and symlink are ext4 checks")
	}
	return nil
}
