package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiskCommand(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "partitions.csv")
	img := filepath.Join(dir, "esp.img")
	out := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(csv, []byte("# name,start,size,type,uuid\nesp,,2M,U,\nA_root,,4M,L,\nstore,,rest,V,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, []byte("ESP DATA"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantErr  string
		wantSize int64
	}{
		{"ok", []string{"--partitions", csv, "--output", out, "--size", "1G", "--image", "esp=" + img}, "", 1 << 30},
		{"default size", []string{"--partitions", csv, "--output", out, "--disk-guid", "5A3A3E6B-0D5C-4E8E-9B7E-6C2D1F0A9B11"}, "needs a disk size", 0},
		{"bad size", []string{"--partitions", csv, "--output", out, "--size", "50"}, "gpt: " + csv + ": disk size 50 is not a multiple of 512", 0},
		{"bad image flag", []string{"--partitions", csv, "--output", out, "--size", "1G", "--image", "esp"}, `--image "esp": want NAME=FILE`, 0},
		{"twice", []string{"--partitions", csv, "--output", out, "--size", "1G", "--image", "esp=a", "--image", "esp=b"}, "esp given twice", 0},
		{"too small", []string{"--partitions", csv, "--output", out, "--size", "7M"}, "gpt: " + csv + ":3: A_root: ends at byte 7340032, past the last usable byte 7323136", 0},
		{"no image", []string{"--partitions", csv, "--output", out, "--size", "1G", "--image", "A_root=" + filepath.Join(dir, "nope")}, "gpt: partition A_root: sparse: open " + filepath.Join(dir, "nope") + ": no such file", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(out)
			err := newApp().Run(append([]string{"icos", "disk"}, tc.args...))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want containing %q", err, tc.wantErr)
				}
				if ents, _ := os.ReadDir(dir); len(ents) != 2 {
					t.Fatalf("%d files in the output dir after an error, want the 2 inputs", len(ents))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(out)
			if err != nil || st.Size() != tc.wantSize {
				t.Fatalf("output: %v, %v", st, err)
			}
		})
	}
}
