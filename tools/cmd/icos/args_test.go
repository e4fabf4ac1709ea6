package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// takesArgs lists the commands that read positional arguments themselves.
var takesArgs = map[string]bool{"base check": true, "diff": true, "pack": true}

// TestExtraArguments: every command without positional arguments rejects
// them, naming them, before it reads or writes anything.
func TestExtraArguments(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "missing.tar")
	out := filepath.Join(dir, "out")
	lock := filepath.Join(dir, "missing.lock")
	cases := map[string][]string{
		"ext4":                {"--input", in, "--output", out, "--size", "8M"},
		"vfat":                {"--output", out, "--size", "1M"},
		"tar normalize":       {"-i", in, "-o", out},
		"disk":                {"--partitions", in, "--output", out},
		"lvm":                 {"--volumes", in, "--output", out, "--size", "1G", "--vg-name", "vg", "--vg-uuid", "u", "--pv-uuid", "u"},
		"oci from-tar":        {"-i", in, "-o", out},
		"rootfs":              {"--empty", "--output", out},
		"verity":              {"-i", in, "-o", out, "--salt", "ab", "--uuid", "u"},
		"grubenv":             {"-o", out, "--set", "a=1"},
		"initrd":              {"--rootfs", in, "--kernel-modules", "dm-verity", "--binary", in, "-o", out},
		"vm run":              {"--disk", in},
		"base build":          {"--lock", lock},
		"base bump":           {"--context", dir, "--builder-lock", lock},
		"base verify":         {"--lock", lock},
		"base fetch":          {"--lock", lock},
		"base builder ensure": {"--builder-lock", lock},
		"base builder bump":   {"--builder-lock", lock},
		"bootloader fetch":    {"--lock", lock, "--output", out},
		"bootloader bump":     {"--lock", lock},
	}
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			name := strings.TrimSpace(prefix + " " + c.Name)
			// A command that has run (in an earlier test: the commands
			// are shared by every newApp) has a "help" subcommand added
			// by the cli package; it is not one of ours.
			var subs []*cli.Command
			for _, sub := range c.Subcommands {
				if sub.Name != "help" {
					subs = append(subs, sub)
				}
			}
			if len(subs) > 0 {
				walk(name, subs)
				continue
			}
			if _, ok := cases[name]; !ok && !takesArgs[name] {
				t.Errorf("command %q: no case in TestExtraArguments (add one, or list it in takesArgs)", name)
			}
		}
	}
	walk("", newApp().Commands)
	for name, flags := range cases {
		args := append(append([]string{"icos"}, strings.Fields(name)...), flags...)
		args = append(args, "extra", "--size")
		err := newApp().Run(args)
		want := "icos " + name + `: unexpected arguments ["extra" "--size"]`
		if err == nil || err.Error() != want {
			t.Errorf("%s: err = %v, want %q", name, err, want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("rejected commands left files: %v", ents)
	}
}
