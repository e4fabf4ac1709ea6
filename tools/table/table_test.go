package table

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

const cols = "name,start,size[,comment]"

func readAll(in string) ([]Row, error) {
	var rows []Row
	err := Read(strings.NewReader(in), "t.csv", cols, func(r Row) error {
		if r.Fields[0] == "bad" {
			return errors.New("bad row")
		}
		rows = append(rows, r)
		return nil
	})
	return rows, err
}

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Row
	}{
		{"empty", "", nil},
		{"comments and blanks", "# c\n\n   \n\t# indented comment\n", nil},
		{"trimmed", " a , 1M ,2M \n", []Row{{1, []string{"a", "1M", "2M"}}}},
		{"optional and extra fields", "a,,1M,x\nb,,1M,y,z,\n", []Row{{1, []string{"a", "", "1M", "x"}}, {2, []string{"b", "", "1M", "y", "z", ""}}}},
		{"line numbers", "# head\na,,1\n\nb,,2\n", []Row{{2, []string{"a", "", "1"}}, {4, []string{"b", "", "2"}}}},
		{"bom and crlf", "\ufeffa,,1\r\nb,,2\r\n", []Row{{1, []string{"a", "", "1"}}, {2, []string{"b", "", "2"}}}},
		{"bom before comment", "\ufeff# c\na,,1", []Row{{2, []string{"a", "", "1"}}}},
		{"empty names are the caller's", ",,1\n,,2\n", []Row{{1, []string{"", "", "1"}}, {2, []string{"", "", "2"}}}},
	} {
		got, err := readAll(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"short row", "# c\na,1M\n", "t.csv:2: 2 fields, want name,start,size[,comment]"},
		{"duplicate name", "a,,1\n\nb,,1\na,,2\n", "t.csv:4: a: name already used on line 1"},
		{"row error", "a,,1\nbad,,2\n", "t.csv:2: bad row"},
		{"bom not first", "a,,1\n\ufeffb,,1\n", ""},
		{"long line", strings.Repeat("x", MaxLineLength+1), "t.csv: bufio.Scanner: token too long"},
	} {
		_, err := readAll(tc.in)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	err := Read(iotest.ErrReader(errors.New("boom")), "t.csv", cols, func(Row) error { return nil })
	if err == nil || err.Error() != "t.csv: boom" {
		t.Errorf("read error: %v", err)
	}
	wrapped := errors.New("inner")
	err = Read(strings.NewReader("a,,1\n"), "t.csv", cols, func(Row) error { return wrapped })
	if !errors.Is(err, wrapped) {
		t.Errorf("row error not wrapped: %v", err)
	}
}
