package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/icos-build/icos/tools/grubenv"
)

// envVars returns the variables named and valued by the pairs in kv.
func envVars(kv ...string) []grubenv.Var {
	var vs []grubenv.Var
	for i := 0; i+1 < len(kv); i += 2 {
		vs = append(vs, grubenv.Var{Name: kv[i], Value: kv[i+1]})
	}
	return vs
}

func TestGrubenvCommand(t *testing.T) {
	dir := t.TempDir()
	boot, err := grubenv.Encode(envVars("boot_alternative", "A", "boot_cycle", "install"))
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in")
	short := filepath.Join(dir, "short")
	os.WriteFile(in, boot, 0o644)
	os.WriteFile(short, boot[:1000], 0o644)
	inputs := 2
	out := filepath.Join(dir, "out")

	tests := []struct {
		name    string
		args    []string
		want    []grubenv.Var // the variables of out
		printed string        // with --list
		wantErr string
	}{
		{"boot", []string{"-o", out, "--set", "boot_alternative=A", "--set", "boot_cycle=install"},
			envVars("boot_alternative", "A", "boot_cycle", "install"), "", ""},
		{"no variables", []string{"--output", out}, nil, "", ""},
		{"commas, equals, newline", []string{"-o", out, "--set", "a=x,y", "--set", "b=1=2", "--set", "c=", "--set", "d=l1\nl2\\"},
			envVars("a", "x,y", "b", "1=2", "c", "", "d", "l1\nl2\\"), "", ""},
		{"edit", []string{"-i", in, "-o", out, "--set", "boot_cycle=stable", "--set", "boot_alternative=B", "--set", "n=1"},
			envVars("boot_alternative", "B", "boot_cycle", "stable", "n", "1"), "", ""},
		{"list", []string{"--input", in, "--list"}, nil, "boot_alternative=A\nboot_cycle=install\n", ""},
		{"no output", []string{"--set", "a=1"}, nil, "", "icos grubenv: give --output (and --set), or --input and --list"},
		{"list without input", []string{"--list"}, nil, "", "icos grubenv: --list takes --input only"},
		{"list with output", []string{"--list", "-i", in, "-o", out}, nil, "", "icos grubenv: --list takes --input only"},
		{"list with set", []string{"--list", "-i", in, "--set", "a=1"}, nil, "", "icos grubenv: --list takes --input only"},
		{"set without equals", []string{"-o", out, "--set", "a"}, nil, "", `icos grubenv: --set "a": want NAME=VALUE`},
		{"set twice", []string{"-o", out, "--set", "a=1", "--set", "a=2"}, nil, "", `icos grubenv: --set: variable "a" given twice`},
		{"bad name", []string{"-o", out, "--set", "a-b=1"}, nil, "", `icos grubenv: variable name "a-b": want ASCII letters, digits and '_'`},
		{"too big", []string{"-o", out, "--set", "a=" + strings.Repeat("x", 1000)}, nil, "",
			"icos grubenv: the variables need 1003 bytes, more than the 1024 bytes of the block"},
		{"missing input", []string{"-i", filepath.Join(dir, "none"), "--list"}, nil, "", "icos grubenv: --input: open "},
		{"short input", []string{"-i", short, "-o", out}, nil, "", "icos grubenv: --input " + short + ": block is 1000 bytes, want 1024"},
		{"stray argument", []string{"-o", out, "a=1"}, nil, "", `icos grubenv: unexpected arguments ["a=1"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(out)
			var stdout bytes.Buffer
			app := newApp()
			app.Writer = &stdout
			err := app.Run(append([]string{"icos", "grubenv"}, tc.args...))
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to start with %q", err, tc.wantErr)
				}
				if ents, _ := os.ReadDir(dir); len(ents) != inputs {
					t.Fatalf("%d files in the directory after an error, want the %d inputs", len(ents), inputs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if stdout.String() != tc.printed {
				t.Errorf("printed %q, want %q", stdout.String(), tc.printed)
			}
			if tc.printed != "" {
				return
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			want, err := grubenv.Encode(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("wrote\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// TestGrubenvEnvironment: the block and its mode do not depend on the
// umask or the time zone.
func TestGrubenvEnvironment(t *testing.T) {
	run := func(tz string, umask int) ([]byte, os.FileMode) {
		t.Setenv("TZ", tz)
		old := syscall.Umask(umask)
		defer syscall.Umask(old)
		out := filepath.Join(t.TempDir(), "grubenv")
		if err := newApp().Run([]string{"icos", "grubenv", "-o", out, "--set", "boot_alternative=A", "--set", "boot_cycle=install"}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		return b, st.Mode()
	}
	b1, m1 := run("UTC", 0o022)
	b2, m2 := run("Pacific/Chatham", 0o077)
	if !bytes.Equal(b1, b2) || m1 != m2 || m1 != 0o644 {
		t.Errorf("outputs differ: modes %v and %v (want -rw-r--r--), same bytes: %v", m1, m2, bytes.Equal(b1, b2))
	}
}
