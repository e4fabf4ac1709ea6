package ext4

import (
	"archive/tar"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/selinux"
)

func TestSELinuxLabels(t *testing.T) {
	fc, err := selinux.Parse(strings.NewReader(`
/.*			system_u:object_r:default_t:s0
/			-d	system_u:object_r:root_t:s0
/boot(/.*)?		system_u:object_r:boot_t:s0
/boot/vmlinuz.*		--	system_u:object_r:kernel_t:s0
/etc(/.*)?		system_u:object_r:etc_t:s0
/etc/keep		<<none>>
/lost\+found		-d	system_u:object_r:lost_found_t:s0
/usr/bin(/.*)?		system_u:object_r:bin_t:s0
/usr/bin/sh		-l	system_u:object_r:shell_link_t:s0
`), "fc")
	if err != nil {
		t.Fatal(err)
	}
	tarball := mkTar(t, []ent{
		{name: "./", typ: tar.TypeDir},
		{name: "boot/vmlinuz", typ: tar.TypeReg, data: "k"},
		{name: "boot/vmlinuz.d/", typ: tar.TypeDir},
		{name: "etc/keep", typ: tar.TypeReg, xattrs: map[string]string{"security.selinux": "u:r:from_tar_t:s0\x00"}},
		{name: "etc/passwd", typ: tar.TypeReg, xattrs: map[string]string{"security.selinux": "u:r:from_tar_t:s0\x00"}},
		{name: "usr/bin/sh", typ: tar.TypeSymlink, link: "bash"},
		{name: "usr/bin/bash", typ: tar.TypeReg, data: "b"},
		{name: "usr/bin/hl", typ: tar.TypeLink, link: "usr/bin/bash"},
	})
	label := func(img, path string) string {
		// "security.selinux (N) = "ctx\000""
		out := strings.TrimSpace(debugfs(t, img, "ea_get "+path+" security.selinux"))
		_, v, _ := strings.Cut(out, " = ")
		return strings.TrimSuffix(strings.Trim(v, `"`), `\000`)
	}
	img := mustBuild(t, tarball, Options{Labeler: fc})
	for path, want := range map[string]string{
		"/":               "system_u:object_r:root_t:s0",
		"/lost+found":     "system_u:object_r:lost_found_t:s0",
		"/boot":           "system_u:object_r:boot_t:s0",
		"/boot/vmlinuz":   "system_u:object_r:kernel_t:s0",
		"/boot/vmlinuz.d": "system_u:object_r:boot_t:s0",
		"/etc/keep":       "u:r:from_tar_t:s0",
		"/etc/passwd":     "system_u:object_r:etc_t:s0",
		"/usr/bin/sh":     "system_u:object_r:shell_link_t:s0",
		"/usr/bin/bash":   "system_u:object_r:bin_t:s0",
		"/usr":            "system_u:object_r:default_t:s0",
	} {
		if got := label(img, path); got != want {
			t.Errorf("%s: label %q, want %q", path, got, want)
		}
	}
	// With --subdir boot, paths are looked up as they appear once the
	// partition is mounted at /boot.
	img = mustBuild(t, tarball, Options{Labeler: fc, Subdir: "boot"})
	for path, want := range map[string]string{
		"/":        "system_u:object_r:boot_t:s0",
		"/vmlinuz": "system_u:object_r:kernel_t:s0",
	} {
		if got := label(img, path); got != want {
			t.Errorf("subdir boot: %s: label %q, want %q", path, got, want)
		}
	}
}
