package bootloader

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const seedLock = `{
  "format": 1,
  "debian": {"suite": "bookworm", "suites": ["bookworm", "bookworm-security", "bookworm-updates"], "components": ["main"], "architecture": "amd64"},
  "packages": [
    {"name": "grub-efi-amd64-signed", "version": "1+2.06+13+deb12u2", "architecture": "amd64",
     "sha256": "fbe2b28166a6dca8111bbf6a30d52d4781973c3a0440d8080f901e039b1f83f2",
     "filename": "pool/main/g/grub-efi-amd64-signed/grub-efi-amd64-signed_1+2.06+13+deb12u2_amd64.deb"},
    {"name": "shim-signed", "version": "1.51~1+deb12u1+16.1-2~deb12u1", "architecture": "amd64",
     "sha256": "c2acf5e559664bbadb7ce5789f9a321f39754a34854d3097b8cc0369df513b3b",
     "filename": "pool/main/s/shim-signed/shim-signed_1.51~1+deb12u1+16.1-2~deb12u1_amd64.deb"}
  ],
  "files": [
    {"path": "EFI/BOOT/BOOTX64.EFI", "package": "shim-signed", "source": "usr/lib/shim/shimx64.efi.signed",
     "sha256": "0fc347af103ec1dfac6e3f184c0a5241a2ce756a0932b359c404d39c45423806"},
    {"path": "EFI/BOOT/grubx64.efi", "package": "grub-efi-amd64-signed", "source": "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
     "sha256": "78313ff24688c8b2e1d4f4e1eff13236b2bd29b0f76ba749fd7fff4d305a1d94"}
  ]
}
`

func TestReadLock(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(string) string
		wantErr string
	}{
		{name: "ok", edit: func(s string) string { return s }},
		{"unknown field", func(s string) string { return strings.Replace(s, `"format": 1,`, `"format": 1, "epoch": 3,`, 1) }, `malformed: json: unknown field "epoch"`},
		{"data after", func(s string) string { return s + "{}" }, "malformed: data after the JSON object"},
		{"format", func(s string) string { return strings.Replace(s, `"format": 1`, `"format": 2`, 1) }, "format 2, want 1"},
		{"variant", func(s string) string {
			return strings.Replace(s, `"architecture": "amd64"}`, `"architecture": "amd64", "variant": "apt"}`, 1)
		}, `debian: variant "apt": a base image setting, not used here`},
		{"no suites", func(s string) string {
			return strings.Replace(s, `["bookworm", "bookworm-security", "bookworm-updates"]`, `[]`, 1)
		}, "debian: suite, suites, components and architecture are required"},
		{"unsorted packages", func(s string) string {
			return strings.Replace(s, `"grub-efi-amd64-signed", "version"`, `"to-sort", "version"`, 1)
		},
			`packages[1] shim-signed: not sorted or duplicate`},
		{"bad name", func(s string) string { return strings.Replace(s, `"name": "shim-signed"`, `"name": "Shim"`, 1) }, `packages[1]: invalid name "Shim"`},
		{"no version", func(s string) string { return strings.Replace(s, `"1.51~1+deb12u1+16.1-2~deb12u1"`, `""`, 1) },
			"packages[1] shim-signed: version and architecture are required"},
		{"deb sha256", func(s string) string { return strings.Replace(s, "c2acf5e5", "C2ACF5E5", 1) }, "packages[1] shim-signed: sha256 \"C2ACF5E5"},
		{"filename", func(s string) string { return strings.Replace(s, `"pool/main/s/`, `"../main/s/`, 1) }, `packages[1] shim-signed: filename "../main/s/`},
		{"filename not a deb", func(s string) string { return strings.Replace(s, `deb12u1_amd64.deb"`, `deb12u1_amd64.udeb"`, 1) }, "is not a pool/.../*.deb path"},
		{"unsorted files", func(s string) string { return strings.Replace(s, `"EFI/BOOT/grubx64.efi"`, `"EFI/BOOT/A.EFI"`, 1) },
			"files[1] EFI/BOOT/A.EFI: not sorted or duplicate"},
		{"absolute path", func(s string) string {
			return strings.Replace(s, `"EFI/BOOT/grubx64.efi"`, `"/EFI/BOOT/grubx64.efi"`, 1)
		},
			`files[1]: path "/EFI/BOOT/grubx64.efi" is not a clean relative path`},
		{"dot path", func(s string) string {
			return strings.Replace(s, `"EFI/BOOT/grubx64.efi"`, `"EFI/BOOT/../grubx64.efi"`, 1)
		},
			`is not a clean relative path`},
		{"unknown package", func(s string) string { return strings.Replace(s, `"package": "shim-signed"`, `"package": "shim"`, 1) },
			`files[0] EFI/BOOT/BOOTX64.EFI: package "shim" is not among the packages`},
		{"source with ./", func(s string) string { return strings.Replace(s, `"usr/lib/shim/`, `"./usr/lib/shim/`, 1) },
			`files[0] EFI/BOOT/BOOTX64.EFI: source "./usr/lib/shim/shimx64.efi.signed" is not a clean relative path (without ./)`},
		{"file sha256", func(s string) string { return strings.Replace(s, `"0fc347af`, `"0fc347a`, 1) }, `files[0] EFI/BOOT/BOOTX64.EFI: sha256 "0fc347a`},
		{"package unused", func(s string) string {
			return strings.Replace(s, `"package": "grub-efi-amd64-signed"`, `"package": "shim-signed"`, 1)
		}, "package grub-efi-amd64-signed supplies no file"},
		{"no files", func(s string) string { return s[:strings.Index(s, `"files"`)] + `"files": []}` }, "files is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "bootloader.lock.json")
			if err := os.WriteFile(name, []byte(tc.edit(seedLock)), 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := ReadLock(name)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "bootloader: lock "+name+": ") {
					t.Fatalf("err = %v, want bootloader: lock %s: ...%s", err, name, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Written back: sorted, stable, and read again the same.
			l.Packages[0], l.Packages[1] = l.Packages[1], l.Packages[0]
			l.Files[0], l.Files[1] = l.Files[1], l.Files[0]
			if err := WriteLock(name, l); err != nil {
				t.Fatal(err)
			}
			first, _ := os.ReadFile(name)
			again, err := ReadLock(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteLock(name, again); err != nil {
				t.Fatal(err)
			}
			second, _ := os.ReadFile(name)
			if string(first) != string(second) || strings.Contains(string(first), "variant") {
				t.Fatalf("not stable or has a variant:\n%s\n%s", first, second)
			}
		})
	}
}

func TestWriteLockInvalid(t *testing.T) {
	name := filepath.Join(t.TempDir(), "l.json")
	if err := WriteLock(name, &Lock{Format: LockFormat}); err == nil {
		t.Fatal("invalid lock written")
	}
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Fatalf("an invalid lock left %s", name)
	}
}
