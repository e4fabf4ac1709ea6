// Package table reads the small comma-separated tables icos takes as
// input (partitions.csv of package gpt, volumes.csv of package lvm). It
// does the reading those formats share; what a row means stays with its
// package.
//
// The format, line by line: a UTF-8 byte order mark at the start of the
// file (as some editors save CSV) is skipped; blank lines and lines whose
// first non-blank character is '#' are ignored; any other line is a row of
// fields separated by commas, each trimmed of surrounding blanks. There is
// no quoting: a field cannot hold a comma. The first field is the row's
// name and must be unique in the file. Lines may end in "\r\n".
//
// Errors start with the position, "source:line: " (or "source: " for a
// read error), and carry no package prefix of their own: they are about
// the caller's file, and the caller prefixes its package name once
// ("gpt: partitions.csv:3: esp: ...").
package table

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// MaxLineLength is the longest line Read accepts, in bytes.
const MaxLineLength = 1 << 20

// bom is the UTF-8 byte order mark.
const bom = "\ufeff"

// Row is one row of a table.
type Row struct {
	Line   int      // line number in the file, from 1
	Fields []string // trimmed fields, at least as many as the required columns
}

// Read reads the table in r and calls row for every row, in order.
// source names the file in errors. columns describes the fields for the
// error on a short row, required ones first, then the optional ones in
// brackets: "name,start,size,uuid[,comment]"; a row needs at least the
// required ones. An error returned by row, a short row and a name already
// used on an earlier row end the reading with an error "source:line: ...".
func Read(r io.Reader, source, columns string, row func(Row) error) error {
	required := len(strings.Split(strings.SplitN(columns, "[", 2)[0], ","))
	names := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), MaxLineLength)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 {
			text = strings.TrimPrefix(text, bom)
		}
		text = strings.TrimSpace(text)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Split(text, ",")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if len(f) < required {
			return fmt.Errorf("%s:%d: %d fields, want %s", source, line, len(f), columns)
		}
		if prev, ok := names[f[0]]; ok && f[0] != "" {
			return fmt.Errorf("%s:%d: %s: name already used on line %d", source, line, f[0], prev)
		}
		names[f[0]] = line
		if err := row(Row{Line: line, Fields: f}); err != nil {
			return fmt.Errorf("%s:%d: %w", source, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	return nil
}
