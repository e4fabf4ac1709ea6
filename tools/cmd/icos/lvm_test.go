package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLVMCommand(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "volumes.csv")
	out := filepath.Join(dir, "hostlvm.img")
	if err := os.WriteFile(csv, []byte("# name,start,size,uuid\nconfig,,1e,SIs20R-l6gh-2Rli-KAP0-ZO88-3Y4q-G9JPAm\nA_boot,,8M,0BQNUA-dzGu-wvW5-mMRh-Ptr6-J6DT-Ff2a9x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"--volumes", csv, "--output", out, "--vg-name", "hostlvm",
		"--vg-uuid", "Y9Tqbl-20VK-Yapy-Gax6-8Lzf-DcH2-tr2Ynq", "--pv-uuid", "ABCDEFghijklmnopqrstuvwxyz012345"}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"ok", []string{"--size", "64M", "--creation-time", "1700000000", "--creation-host", "builder"}, ""},
		{"too small", []string{"--size", "9M"}, "lvm: line 3: A_boot: extents [1, 3) do not fit the 2 extents of a 9437184-byte PV"},
		{"bytes", []string{"--size", "64"}, "lvm: PV size 64 is not a multiple of 512 of at least 5242880 bytes"},
		{"bad size", []string{"--size", "64MB"}, `--size: size "64MB": decimal unit MB is not accepted`},
		{"unknown image", []string{"--size", "64M", "--image", "B_boot=" + csv}, `image for "B_boot": no such logical volume`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(out)
			err := newApp().Run(append(append([]string{"icos", "lvm"}, common...), tc.args...))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want containing %q", err, tc.wantErr)
				}
				if ents, _ := os.ReadDir(dir); len(ents) != 1 {
					t.Fatalf("%d files in the output dir after an error, want the input only", len(ents))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil || len(b) != 64<<20 || string(b[512:520]) != "LABELONE" {
				t.Fatalf("output: %d bytes, %v", len(b), err)
			}
		})
	}
}
