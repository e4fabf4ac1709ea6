package grubenv

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzDecode: Decode never panics; its errors carry the package prefix and
// come without variables; a block it accepts is what Encode writes for the
// variables it returns.
func FuzzDecode(f *testing.F) {
	for _, tc := range encodeCases {
		b, err := Encode(tc.vars)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(block("#c\nb=2\n"))
	f.Add(block("a=x\\ty\n"))
	f.Add([]byte(Header + "a=" + strings.Repeat("x", room-3) + "\\"))
	f.Fuzz(func(t *testing.T, b []byte) {
		vars, err := Decode(b)
		if err != nil {
			if vars != nil || !strings.HasPrefix(err.Error(), "grubenv: ") {
				t.Fatalf("error %q without the prefix, or variables %q with it", err, vars)
			}
			return
		}
		again, err := Encode(vars)
		if err != nil {
			t.Fatalf("Encode of decoded %q: %v", vars, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("Encode(Decode(b)) differs:\n  b %q\ngot %q", b, again)
		}
	})
}
