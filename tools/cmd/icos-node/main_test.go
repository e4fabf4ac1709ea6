package main

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const testHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestRun(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	off := write("off", "BOOT_IMAGE=/vmlinuz root=PARTLABEL=A_root ro quiet\n")
	on := write("on", "root=PARTLABEL=A_root ro root_hash="+testHash+" root_hash_offset=3221225472\n")
	badHash := write("bad", "root=PARTLABEL=A_root root_hash=xyz root_hash_offset=4096\n")
	mods := write("mods", "# order\n"+filepath.Join(dir, "missing", "dm-mod.ko")+"\n")
	param := filepath.Join(dir, "param.conf")

	for _, tc := range []struct {
		name   string
		args   []string
		status int
		stderr string // prefix of the one line printed; "" for none
	}{
		{"off", []string{"verity-root", "--cmdline", off, "--modules", "/nonexistent", "--param-file", param}, 0, ""},
		{"bad hash", []string{"verity-root", "--cmdline", badHash}, 1, `icos-node verity-root: root_hash="xyz": want 64 hex digits`},
		{"no cmdline", []string{"verity-root", "--cmdline", filepath.Join(dir, "none")}, 1, "icos-node verity-root: kernel command line: open "},
		{"no module list", []string{"verity-root", "--cmdline", on, "--modules", filepath.Join(dir, "none")}, 1, "icos-node verity-root: --modules: open "},
		{"module missing", []string{"verity-root", "--cmdline", on, "--modules", mods, "--param-file", param}, 1,
			"icos-node verity-root: load module " + filepath.Join(dir, "missing", "dm-mod.ko") + ": open "},
		{"bad flag", []string{"verity-root", "--nope"}, 2, "icos-node verity-root: flag provided but not defined: -nope"},
		{"stray argument", []string{"verity-root", "x"}, 2, `icos-node verity-root: unexpected arguments ["x"]`},
		{"unknown", []string{"frobnicate"}, 2, `icos-node: unknown subcommand "frobnicate"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(tc.args, &stdout, &stderr); got != tc.status {
				t.Fatalf("status %d, want %d; stderr %q", got, tc.status, stderr.String())
			}
			if tc.stderr == "" {
				if stderr.Len() > 0 || stdout.Len() > 0 {
					t.Fatalf("output %q %q, want none", stdout.String(), stderr.String())
				}
				return
			}
			first, _, _ := strings.Cut(stderr.String(), "\n")
			if !strings.HasPrefix(first, tc.stderr) {
				t.Fatalf("stderr %q, want a first line starting %q", stderr.String(), tc.stderr)
			}
			if tc.status == 1 && strings.Count(stderr.String(), "\n") != 1 {
				t.Fatalf("stderr %q: want exactly one line", stderr.String())
			}
		})
	}
	if _, err := os.Stat(param); err == nil {
		t.Error("param.conf written by a failed or idle run")
	}
	var stdout bytes.Buffer
	if run([]string{"help", "verity-root"}, &stdout, &stdout) != 0 || !strings.Contains(stdout.String(), "-timeout") {
		t.Errorf("help verity-root: %q", stdout.String())
	}
}

// TestStatic builds the command as the initramfs gets it and checks that
// the binary has no program interpreter (is statically linked).
func TestStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	out := filepath.Join(t.TempDir(), "icos-node")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("go build: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatalf("icos-node is dynamically linked (%v)", p.Type)
		}
	}
}

// TestDependencies: icos-node goes into the initramfs; it uses the
// standard library, golang.org/x/sys and packages of this module that do
// the same (not the image tools and their compressors).
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := map[string]bool{
		"github.com/icos-build/icos/tools/cmd/icos-node": true,
		"github.com/icos-build/icos/tools/verityroot":    true,
		"golang.org/x/sys/unix":                          true,
	}
	for _, p := range strings.Fields(string(out)) {
		if !allowed[p] {
			t.Errorf("icos-node depends on %s", p)
		}
	}
}
