package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/internal/testutil"
)

func TestVerityCommand(t *testing.T) {
	veritysetup := testutil.Tool(t, "veritysetup", "cryptsetup-bin")
	dir := t.TempDir()
	img := filepath.Join(dir, "root.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3*4096)
	rand.Read(data)
	if _, err := f.WriteAt(data, 100*4096); err != nil { // holes before and after
		t.Fatal(err)
	}
	if err := f.Truncate(300 * 4096); err != nil {
		t.Fatal(err)
	}
	f.Close()
	odd := filepath.Join(dir, "odd.img")
	empty := filepath.Join(dir, "empty.img")
	os.WriteFile(odd, make([]byte, 4097), 0o644)
	os.WriteFile(empty, nil, 0o644)
	inputs := 3

	out := filepath.Join(dir, "out.img")
	rootFile := filepath.Join(dir, "root.hash")
	const salt, uuid = "00112233445566778899aabbccddeeff", "6a8e2c5d-1f3b-4c7e-9a0d-2b4f6e8a1c3e"
	tests := []struct {
		name    string
		args    []string
		verify  []string // veritysetup verify arguments after the root hash
		wantErr string
	}{
		{"hash file", []string{"--input", img, "--output", out, "--salt", salt, "--uuid", uuid}, []string{img, out}, ""},
		{"no superblock", []string{"--input", img, "--output", out, "--salt", salt, "--no-superblock"},
			[]string{img, out, "--no-superblock", "--salt", salt}, ""},
		{"hash offset", []string{"--input", img, "--output", out, "--salt", salt, "--uuid", uuid, "--hash-offset", "2M"},
			[]string{out, out, "--hash-offset", "2097152", "--data-blocks", "300"}, ""},
		{"hash offset at end", []string{"--input", img, "--output", out, "--salt", salt, "--hash-offset", "1200K", "--no-superblock"},
			[]string{out, out, "--hash-offset", "1228800", "--data-blocks", "300", "--no-superblock", "--salt", salt}, ""},
		{"bad salt", []string{"--input", img, "--output", out, "--salt", "0g", "--uuid", uuid}, nil, `icos verity: --salt "0g": not hexadecimal`},
		{"empty salt", []string{"--input", img, "--output", out, "--salt", "", "--uuid", uuid}, nil, "icos verity: empty salt"},
		{"bad uuid", []string{"--input", img, "--output", out, "--salt", salt, "--uuid", "6a8e2c5d"}, nil, `icos verity: --uuid: "6a8e2c5d": want a UUID like`},
		{"no uuid", []string{"--input", img, "--output", out, "--salt", salt}, nil, "icos verity: give --uuid"},
		{"uuid without superblock", []string{"--input", img, "--output", out, "--salt", salt, "--uuid", uuid, "--no-superblock"}, nil, "icos verity: --uuid is stored in the superblock"},
		{"odd size", []string{"--input", odd, "--output", out, "--salt", salt, "--uuid", uuid}, nil, "icos verity: data size 4097 is not a multiple of the block size 4096"},
		{"empty input", []string{"--input", empty, "--output", out, "--salt", salt, "--uuid", uuid}, nil, "icos verity: empty data (size 0)"},
		{"missing input", []string{"--input", filepath.Join(dir, "none"), "--output", out, "--salt", salt, "--uuid", uuid}, nil, "icos verity: --input: open "},
		{"offset inside data", []string{"--input", img, "--output", out, "--salt", salt, "--uuid", uuid, "--hash-offset", "1M"}, nil,
			"icos verity: hash offset 1048576 is inside the data (1228800 bytes)"},
		{"unaligned offset", []string{"--input", img, "--output", out, "--salt", salt, "--uuid", uuid, "--hash-offset", "2049K"}, nil,
			"icos verity: hash offset 2098176 is not a multiple of the block size 4096"},
		{"bad offset", []string{"--input", img, "--output", out, "--salt", salt, "--uuid", uuid, "--hash-offset", "2MB"}, nil, "icos verity: --hash-offset: "},
	}
	for _, tc := range tests {
		for _, withFile := range []bool{true, false} {
			name := tc.name
			args := append([]string{"icos", "verity"}, tc.args...)
			if withFile {
				name += " root hash file"
				args = append(args, "--root-hash-file", rootFile)
			}
			t.Run(name, func(t *testing.T) {
				os.Remove(out)
				os.Remove(rootFile)
				var stdout bytes.Buffer
				app := newApp()
				app.Writer = &stdout
				err := app.Run(args)
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
				printed := stdout.String()
				if withFile {
					b, err := os.ReadFile(rootFile)
					if err != nil {
						t.Fatal(err)
					}
					if printed != "" {
						t.Errorf("printed %q with --root-hash-file", printed)
					}
					printed = string(b)
				}
				root, ok := strings.CutSuffix(printed, "\n")
				if !ok || len(root) != 64 {
					t.Fatalf("root hash output %q, want 64 hex digits and a newline", printed)
				}
				vargs := append(append([]string{"verify"}, tc.verify[:2]...), root)
				vargs = append(vargs, tc.verify[2:]...)
				if b, err := exec.Command(veritysetup, vargs...).CombinedOutput(); err != nil {
					t.Fatalf("veritysetup %s: %v\n%s", strings.Join(vargs, " "), err, b)
				}
			})
		}
	}
}
