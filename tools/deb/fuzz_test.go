package deb

import (
	"archive/tar"
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"
)

// quotedRE matches a Go-quoted string (%q) in an error text.
var quotedRE = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// FuzzFiles reads arbitrary bytes as a .deb: Files never panics, its
// errors carry the package prefix once outside the quoted names they
// cite, and what it extracts is what Data's tar stream holds under that
// name.
func FuzzFiles(f *testing.F) {
	for _, suffix := range []string{"", ".gz", ".xz", ".zst"} {
		f.Add(debFile(f, suffix, files...))
	}
	x := compress(f, ".xz", tarball(f, files...))
	f.Add(arArchive(members(f, arMember{"data.tar.xz", truncateXZ(f, x)})...))
	f.Add(arArchive(members(f, arMember{"data.tar.xz", x}, arMember{"data.tar.gz", nil})...))
	f.Add([]byte(arMagic))
	// CI's fuzzer found a member named "deb: ..." (the prefix inside a
	// quoted name is not a doubled prefix).
	f.Add([]byte(arMagic + "deb:     \xbe\xbe\xbe\xbe\xbe\xbe\xbe" + strings.Repeat("0", 42) + "4 "))
	const name = "usr/lib/shim/odd"
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Files(bytes.NewReader(data), name)
		if err != nil {
			// A member name (quoted with %q) may itself hold "deb: ".
			msg := err.Error()
			if !strings.HasPrefix(msg, "deb: ") || strings.Count(quotedRE.ReplaceAllString(msg, `""`), "deb: ") != 1 {
				t.Fatalf("error %q: prefix not once", err)
			}
			return
		}
		var found []byte
		err = Data(bytes.NewReader(data), func(_ string, tr *tar.Reader) error {
			for {
				h, err := tr.Next()
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				if strings.TrimPrefix(h.Name, "./") == name {
					found, err = io.ReadAll(tr)
					return err
				}
			}
		})
		if err != nil {
			t.Fatalf("Files accepted what Data refuses: %v", err)
		}
		if !bytes.Equal(found, got[name]) {
			t.Fatalf("Files gave %q, the tar holds %q", got[name], found)
		}
	})
}
