package imagecheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadSpecExamples loads the example specs of testdata/examples.
func TestLoadSpecExamples(t *testing.T) {
	paths, err := filepath.Glob("testdata/examples/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, p := range paths {
		s, err := LoadSpec(p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if s.Name == "" || len(s.Partitions) == 0 || len(s.Files) == 0 {
			t.Errorf("%s: incomplete: %+v", p, s)
		}
	}
}

func TestLoadSpecErrors(t *testing.T) {
	const disk = `"disk": {"archive": "d.tar.zst", "entry": "disk.img", "size": 1024, "max_allocated": 512}`
	for _, tc := range []struct {
		name, json, want string
	}{
		{"unknown field", `{"name": "x", ` + disk + `, "partitions": [{"name": "a", "kind": "ext4"}], "filez": []}`, `unknown field "filez"`},
		{"no disk", `{"name": "x", "partitions": [{"name": "a", "kind": "ext4"}]}`, "disk: archive and entry are required"},
		{"unknown kind", `{` + disk + `, "partitions": [{"name": "a", "kind": "xfs"}]}`, `a: unknown kind "xfs"`},
		{"duplicate", `{` + disk + `, "partitions": [{"name": "a", "kind": "ext4"}, {"name": "v", "kind": "lvm", "volumes": [{"name": "a", "kind": "empty"}]}]}`,
			"partition or volume a: name used twice"},
		{"lvm in lvm", `{` + disk + `, "partitions": [{"name": "v", "kind": "lvm", "volumes": [{"name": "w", "kind": "lvm", "volumes": [{"name": "a", "kind": "empty"}]}]}]}`,
			"w: an LVM physical volume inside a logical volume"},
		{"file on empty", `{` + disk + `, "partitions": [{"name": "a", "kind": "empty"}], "files": [{"fs": "a", "path": "/x", "contains": "y"}]}`,
			`file a:/x: "a" is not an ext4 or vfat partition or volume of the spec`},
		{"file without check", `{` + disk + `, "partitions": [{"name": "a", "kind": "ext4"}], "files": [{"fs": "a", "path": "/x"}]}`,
			"file a:/x: a path must be absolute and have only path checks"},
		{"mode on vfat", `{` + disk + `, "partitions": [{"name": "a", "kind": "vfat"}], "files": [{"fs": "a", "path": "/x", "mode": "0755"}]}`,
			"file a:/x: type, mode and symlink are ext4 checks"},
		{"dir with path check", `{` + disk + `, "partitions": [{"name": "a", "kind": "ext4"}], "files": [{"fs": "a", "dir": "/", "size": 1}]}`,
			"file a:/: a dir must be absolute"},
		{"shadow both", `{` + disk + `, "partitions": [{"name": "a", "kind": "ext4"}], "shadow": {"fs": "a", "user": "root", "locked": true, "hash": "x"}}`,
			"shadow: want a user and either locked or hash"},
		{"update entry", `{` + disk + `, "partitions": [{"name": "a", "kind": "ext4"}], "update": {"archive": "u", "entries": {"b.img": {"partition": "b"}}}}`,
			`update entry b.img: "b" is not an ext4 or vfat partition or volume of the spec`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "spec.json")
			if err := os.WriteFile(p, []byte(tc.json), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadSpec(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "imagecheck: ") {
				t.Errorf("LoadSpec: %v, want an error with %q", err, tc.want)
			}
		})
	}
}
