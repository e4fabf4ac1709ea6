package hosttool

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	for _, tc := range []struct {
		name, pkg string
		wantErr   string // empty: found
	}{
		{"sh", "dash", ""},
		{"e2fsck", "e2fsprogs", ""}, // in /sbin or /usr/sbin, often not in PATH
		{"icos-no-such-tool", "icos-pkg", "hosttool: icos-no-such-tool not found: install the Debian package icos-pkg"},
	} {
		p, err := Find(tc.name, tc.pkg)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("Find(%s): %v", tc.name, err)
		case tc.wantErr == "" && (!filepath.IsAbs(p) || filepath.Base(p) != tc.name):
			t.Errorf("Find(%s) = %q, want an absolute path to %s", tc.name, p, tc.name)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("Find(%s) = %q, %v, want error %q", tc.name, p, err, tc.wantErr)
		}
	}
}

func TestFindSbinWithoutPath(t *testing.T) {
	t.Setenv("PATH", "")
	p, err := Find("e2fsck", "e2fsprogs")
	if err != nil {
		t.Fatal(err)
	}
	if dir := filepath.Dir(p); dir != "/usr/sbin" && dir != "/sbin" {
		t.Errorf("Find(e2fsck) with empty PATH = %q, want it from /usr/sbin or /sbin", p)
	}
}
