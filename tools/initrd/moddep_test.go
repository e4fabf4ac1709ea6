package initrd

import (
	"strings"
	"testing"
)

// The lines of the Debian 6.1.0-57-amd64 modules.dep for dm-verity.
const bookwormDeps = `kernel/lib/reed_solomon/reed_solomon.ko:
kernel/drivers/md/dm-mod.ko:
kernel/drivers/md/dm-bufio.ko: kernel/drivers/md/dm-mod.ko
kernel/drivers/md/dm-verity.ko: kernel/drivers/md/dm-bufio.ko kernel/drivers/md/dm-mod.ko kernel/lib/reed_solomon/reed_solomon.ko
kernel/drivers/md/dm-crypt.ko: kernel/drivers/md/dm-mod.ko
`

func TestLoadOrder(t *testing.T) {
	md, err := ParseModuleDeps(strings.NewReader(bookwormDeps))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"dm-verity"}, "dm-mod dm-bufio reed_solomon dm-verity"},
		{[]string{"dm_verity"}, "dm-mod dm-bufio reed_solomon dm-verity"},
		{[]string{"reed-solomon", "dm-verity"}, "reed_solomon dm-mod dm-bufio dm-verity"},
		{[]string{"dm-crypt", "dm-verity"}, "dm-mod dm-crypt dm-bufio reed_solomon dm-verity"},
		{[]string{"dm-verity", "dm-verity"}, "dm-mod dm-bufio reed_solomon dm-verity"},
	} {
		got, err := md.LoadOrder(tc.names...)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range got {
			names = append(names, strings.TrimSuffix(f[strings.LastIndexByte(f, '/')+1:], ".ko"))
		}
		if strings.Join(names, " ") != tc.want {
			t.Errorf("LoadOrder(%q) = %q, want %q", tc.names, names, tc.want)
		}
	}
	if got, _ := md.LoadOrder("dm-verity"); got[3] != "kernel/drivers/md/dm-verity.ko" {
		t.Errorf("files are paths in the module directory: %q", got)
	}
}

func TestModuleDepsErrors(t *testing.T) {
	for _, tc := range []struct{ deps, module, want string }{
		{bookwormDeps, "dm-nope", `initrd: kernel module "dm-nope" not in modules.dep`},
		{"a.ko: b.ko\n", "a", "initrd: modules.dep: b.ko (needed by a.ko) not listed"},
		{"a.ko: b.ko\nb.ko: a.ko\n", "a", "initrd: modules.dep: dependency cycle through a.ko"},
		{"a.ko\n", "a", `initrd: modules.dep:1: want "FILE: DEPS"`},
		{"a.ko:\na.ko:\n", "a", "initrd: modules.dep:2: a.ko listed twice"},
		{"x/a-b.ko:\ny/a_b.ko:\n", "a", "initrd: modules.dep:2: module a_b is both x/a-b.ko and y/a_b.ko"},
	} {
		md, err := ParseModuleDeps(strings.NewReader(tc.deps))
		if err == nil {
			_, err = md.LoadOrder(tc.module)
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q, %s: error %v, want %q", tc.deps, tc.module, err, tc.want)
		}
	}
}
