package grubenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/internal/testutil"
)

// fill returns a variable whose line takes the n bytes left in a block
// after the variables before it (n >= 3).
func fill(name string, n int) Var {
	return Var{name, strings.Repeat("v", n-len(name)-2)}
}

// room is the space for variable lines in a block.
const room = Size - len(Header)

// encodeCases are variable lists grub-editenv can write; they are compared
// with its output byte for byte.
var encodeCases = []struct {
	name string
	vars []Var
}{
	{"none", nil},
	{"boot", []Var{{"boot_alternative", "A"}, {"boot_cycle", "install"}}},
	{"order kept", []Var{{"z", "1"}, {"a", "2"}, {"m", "3"}}},
	{"empty value", []Var{{"a", ""}, {"b", ""}}},
	{"spaces and equals", []Var{{"a", "x y  z "}, {"b", "1=2=3"}, {"c", "="}}},
	{"backslash", []Var{{"a", `back\slash`}, {"b", `\`}, {"c", `\\n`}, {"d", `end\`}}},
	{"newline", []Var{{"a", "new\nline"}, {"b", "\n"}, {"c", "\\\n\\"}}},
	{"hash and others", []Var{{"a", "#"}, {"b", "##x#"}, {"c", "tab\tcr\r$x;'\"{}"}, {"d", "é ü \xff"}}},
	{"underscores and digits", []Var{{"_", "1"}, {"_9", "2"}, {"A9_b", "3"}}},
	{"full", []Var{{"a", "1"}, fill("b", room-len("a=1\n"))}},
	{"full with escapes", []Var{{"a", "\\\n"}, fill("b", room-len("a=\\\\\\\n\n"))}},
	{"many", func() []Var {
		var vs []Var
		for _, c := range "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" {
			vs = append(vs, Var{string(c) + "_var", strings.Repeat(string(c), 10)})
		}
		return vs
	}()},
}

// list formats vars as grub-editenv list prints them.
func list(vars []Var) string {
	var b strings.Builder
	for _, v := range vars {
		b.WriteString(v.Name + "=" + v.Value + "\n")
	}
	return b.String()
}

// TestEncodeMatchesGrubEditenv: grub-editenv set, on an empty block, writes
// the bytes Encode does for the same variables in the same order, and
// grub-editenv list prints what Decode returns for them.
func TestEncodeMatchesGrubEditenv(t *testing.T) {
	editenv := testutil.Tool(t, "grub-editenv", "grub-common")
	empty, err := Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range encodeCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Encode(tc.vars)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != Size {
				t.Fatalf("Encode: %d bytes, want %d", len(got), Size)
			}
			theirs := filepath.Join(t.TempDir(), "grubenv")
			if err := os.WriteFile(theirs, empty, 0o644); err != nil {
				t.Fatal(err)
			}
			if len(tc.vars) > 0 {
				args := []string{theirs, "set"}
				for _, v := range tc.vars {
					args = append(args, v.Name+"="+v.Value)
				}
				if out, err := exec.Command(editenv, args...).CombinedOutput(); err != nil {
					t.Fatalf("grub-editenv set: %v\n%s", err, out)
				}
			}
			want, err := os.ReadFile(theirs)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Encode differs from grub-editenv:\n got %q\nwant %q", got, want)
			}

			ours := filepath.Join(t.TempDir(), "grubenv")
			if err := os.WriteFile(ours, got, 0o644); err != nil {
				t.Fatal(err)
			}
			printed, err := exec.Command(editenv, ours, "list").Output()
			if err != nil {
				t.Fatalf("grub-editenv list: %v", err)
			}
			vars, err := Decode(got)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if l := list(vars); l != string(printed) {
				t.Errorf("Decode lists\n%q\ngrub-editenv list prints\n%q", l, printed)
			}
			if want := tc.vars; !(len(want) == 0 && len(vars) == 0) && !reflect.DeepEqual(vars, want) {
				t.Errorf("Decode = %q, want %q", vars, want)
			}
		})
	}
}

// TestSetMatchesGrubEditenv: Set changes a variable where it is, as
// grub-editenv set does on a block that holds it.
func TestSetMatchesGrubEditenv(t *testing.T) {
	editenv := testutil.Tool(t, "grub-editenv", "grub-common")
	start := []Var{{"boot_alternative", "A"}, {"boot_cycle", "install"}, {"x", "1"}}
	for _, tc := range []struct{ name, value string }{
		{"boot_alternative", "B"},
		{"boot_cycle", "stable"},
		{"boot_cycle", ""},
		{"boot_cycle", "a much longer value\\ with\nescapes"},
		{"new", "appended"},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			b, err := Encode(start)
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(t.TempDir(), "grubenv")
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(editenv, f, "set", tc.name+"="+tc.value).CombinedOutput(); err != nil {
				t.Fatalf("grub-editenv set: %v\n%s", err, out)
			}
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			vars := Set(start, tc.name, tc.value)
			got, err := Encode(vars)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Encode(Set(...)) differs from grub-editenv set:\n got %q\nwant %q", got, want)
			}
			if v, ok := Get(vars, tc.name); !ok || v != tc.value {
				t.Errorf("Get(%q) = %q, %v after Set", tc.name, v, ok)
			}
			if !reflect.DeepEqual(start[0], Var{"boot_alternative", "A"}) || len(start) != 3 {
				t.Errorf("Set modified its argument: %q", start)
			}
		})
	}
	if _, ok := Get(start, "none"); ok {
		t.Error("Get found a variable that is not there")
	}
}

// TestGrubEditenvCreate: grub-editenv create (GRUB 2.04 and later) writes a
// warning comment after the header, which this package neither writes nor
// accepts; apart from that line its empty block is Encode(nil).
func TestGrubEditenvCreate(t *testing.T) {
	editenv := testutil.Tool(t, "grub-editenv", "grub-common")
	f := filepath.Join(t.TempDir(), "grubenv")
	if out, err := exec.Command(editenv, f, "create").CombinedOutput(); err != nil {
		t.Fatalf("grub-editenv create: %v\n%s", err, out)
	}
	created, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(created, empty) { // an older grub-editenv
		return
	}
	rest, ok := bytes.CutPrefix(created, []byte(Header+"#"))
	i := bytes.IndexByte(rest, '\n')
	if !ok || i < 0 {
		t.Fatalf("grub-editenv create wrote %q: neither Encode(nil) nor it with a comment line", created)
	}
	comment := created[len(Header) : len(Header)+1+i+1]
	stripped := append(bytes.Replace(created, comment, nil, 1), bytes.Repeat([]byte("#"), len(comment))...)
	if !bytes.Equal(stripped, empty) {
		t.Errorf("grub-editenv create without its comment %q is\n%q\nwant Encode(nil)", comment, stripped)
	}
	if _, err := Decode(created); err == nil || !strings.Contains(err.Error(), "comment line") {
		t.Errorf("Decode of grub-editenv create's block: error %v, want one about the comment line", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars []Var
		want string
	}{
		{"empty name", []Var{{"", "x"}}, "grubenv: empty variable name"},
		{"digit first", []Var{{"1a", "x"}}, `grubenv: variable name "1a": want ASCII letters, digits and '_', not starting with a digit`},
		{"space", []Var{{"a b", "x"}}, `grubenv: variable name "a b": `},
		{"equals", []Var{{"a=b", "x"}}, `grubenv: variable name "a=b": `},
		{"dash", []Var{{"a-b", "x"}}, `grubenv: variable name "a-b": `},
		{"hash", []Var{{"#a", "x"}}, `grubenv: variable name "#a": `},
		{"newline", []Var{{"a\nb", "x"}}, `grubenv: variable name "a\nb": `},
		{"non-ASCII", []Var{{"é", "x"}}, `grubenv: variable name "é": `},
		{"NUL in value", []Var{{"a", "1"}, {"b", "x\x00y"}}, `grubenv: variable "b": NUL byte at offset 1 of the value`},
		{"twice", []Var{{"a", "1"}, {"b", "2"}, {"a", "3"}}, `grubenv: variable "a" given twice`},
		{"one byte too many", []Var{{"a", "1"}, fill("b", room-len("a=1\n")+1)}, "grubenv: the variables need 1000 bytes, more than the 1024 bytes of the block (999 after the header)"},
		{"escapes too many", []Var{{"a", strings.Repeat("\\", room/2)}}, "grubenv: the variables need 1001 bytes, more than the 1024 bytes of the block"},
		{"many", func() []Var {
			var vs []Var
			for i := 0; i < 100; i++ {
				vs = append(vs, Var{"v" + strings.Repeat("x", i), "1"})
			}
			return vs
		}(), "grubenv: the variables need 5350 bytes, more than the 1024 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Encode(tc.vars)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to start with %q", err, tc.want)
			}
			if b != nil {
				t.Errorf("bytes returned with the error")
			}
		})
	}
}

// block returns the header, body, and '#' padding to Size bytes (or body
// cut to Size bytes after the header).
func block(body string) []byte {
	b := []byte(Header + body)
	for len(b) < Size {
		b = append(b, '#')
	}
	return b
}

func TestDecodeErrors(t *testing.T) {
	good := block("a=1\n")
	noNewline := []byte(Header + "a=" + strings.Repeat("x", room-2))
	trailingBackslash := []byte(Header + "a=" + strings.Repeat("x", room-3) + "\\")
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "grubenv: block is 0 bytes, want 1024"},
		{"truncated", good[:Size-1], "grubenv: block is 1023 bytes, want 1024"},
		{"oversized", append(good[:Size:Size], '#'), "grubenv: block is 1025 bytes, want 1024"},
		{"two blocks", append(good[:Size:Size], good...), "grubenv: block is 2048 bytes, want 1024"},
		{"no header", append([]byte("# GRUB environment block\n"), good[len(Header):]...), `grubenv: block does not start with the header "# GRUB Environment Block\n"`},
		{"zeros", make([]byte, Size), "grubenv: block does not start with the header"},
		{"zero padding", append([]byte(Header+"a=1\n"), make([]byte, room-4)...), "grubenv: offset 29: line without '='"},
		{"garbage in padding", block("a=1\n###x"), `grubenv: offset 32: byte 'x' in the padding, want only '#' after the variables`},
		{"comment line", block("#c\nb=2\n"), "grubenv: offset 25: comment line (GRUB skips it; grub-editenv create writes one): not supported"},
		{"comment after variable", block("a=1\n# note\n"), "grubenv: offset 29: comment line"},
		{"no equals", block("a=1\nb\n"), "grubenv: offset 29: line without '='"},
		{"empty line", block("a=1\n\nb=2\n"), "grubenv: offset 29: line without '='"},
		{"bad name", block("a=1\nb c=2\n"), `grubenv: offset 29: variable name "b c": want ASCII letters`},
		{"empty name", block("=2\n"), "grubenv: offset 25: empty variable name"},
		{"bad escape", block("a=x\\ty\n"), `grubenv: offset 28: variable "a": backslash followed by 't', want a backslash or a newline`},
		{"NUL", block("a=x\x00\n"), `grubenv: offset 28: variable "a": NUL byte in the value`},
		{"twice", block("a=1\nb=2\na=3\n"), `grubenv: offset 33: variable "a" occurs twice`},
		{"no newline at end", noNewline, `grubenv: offset 25: variable "a": line runs to the end of the block`},
		{"backslash at end", trailingBackslash, `grubenv: offset 25: variable "a": line runs to the end of the block`},
		{"escaped newline at end", []byte(Header + "a=" + strings.Repeat("x", room-4) + "\\\n"), `grubenv: offset 25: variable "a": line runs to the end of the block`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars, err := Decode(tc.b)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to start with %q", err, tc.want)
			}
			if vars != nil {
				t.Errorf("variables returned with the error: %q", vars)
			}
		})
	}
}

// TestDecodeFull: a block with no padding left decodes.
func TestDecodeFull(t *testing.T) {
	b := []byte(Header + "a=" + strings.Repeat("x", room-3) + "\n")
	vars, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(vars) != 1 || len(vars[0].Value) != room-3 {
		t.Fatalf("Decode = %q", vars)
	}
}
