package imagecheck

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// lvmValue is a value of the LVM2 metadata text format: a number, a
// string, or a list of them.
type lvmValue struct {
	str   string
	num   int64
	isNum bool
	list  []lvmValue
}

// lvmSection is a section ("name { ... }") of the metadata text.
type lvmSection struct {
	name     string
	values   map[string]lvmValue
	children []*lvmSection // in text order
}

func (s *lvmSection) child(name string) *lvmSection {
	for _, c := range s.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

// number returns the numeric value key of s.
func (s *lvmSection) number(key string) (int64, error) {
	v, ok := s.values[key]
	if !ok || !v.isNum {
		return 0, fmt.Errorf("%s: no number %s", s.name, key)
	}
	return v.num, nil
}

// lvmVolume is where a logical volume lies in its physical volume.
type lvmVolume struct {
	name           string
	offset, length int64 // in bytes from the start of the physical volume
}

// lvmVolumes reads the output of pvck --dump metadata: the metadata text
// of a volume group with one physical volume, pv0. It returns the logical
// volumes in the order of the text; each must be one linear segment on pv0.
func lvmVolumes(pvck string) ([]lvmVolume, error) {
	text := pvck
	// pvck frames the text with "---" lines after a header line.
	if parts := strings.Split(text, "\n  ---\n"); len(parts) >= 3 {
		text = parts[1]
	}
	root, err := parseLVMText(text)
	if err != nil {
		return nil, err
	}
	if len(root.children) != 1 {
		return nil, fmt.Errorf("lvm metadata: want one volume group, found %d sections", len(root.children))
	}
	vg := root.children[0]
	extentSize, err := vg.number("extent_size") // in sectors
	if err != nil {
		return nil, err
	}
	pv0 := vg.child("physical_volumes")
	if pv0 != nil {
		pv0 = pv0.child("pv0")
	}
	if pv0 == nil {
		return nil, errors.New("lvm metadata: no physical volume pv0")
	}
	peStart, err := pv0.number("pe_start") // in sectors
	if err != nil {
		return nil, err
	}
	lvs := vg.child("logical_volumes")
	if lvs == nil {
		return nil, nil
	}
	var out []lvmVolume
	for _, lv := range lvs.children {
		n, err := lv.number("segment_count")
		if err != nil {
			return nil, err
		}
		seg := lv.child("segment1")
		if n != 1 || seg == nil || len(lv.children) != 1 {
			return nil, fmt.Errorf("logical volume %s: %d segments, want one", lv.name, n)
		}
		count, err := seg.number("extent_count")
		if err != nil {
			return nil, fmt.Errorf("logical volume %s: %w", lv.name, err)
		}
		stripes := seg.values["stripes"].list
		if len(stripes) != 2 || stripes[0].isNum || stripes[0].str != "pv0" || !stripes[1].isNum {
			return nil, fmt.Errorf("logical volume %s: segment not on one stripe of pv0", lv.name)
		}
		const sector = 512
		out = append(out, lvmVolume{
			name:   lv.name,
			offset: (peStart + stripes[1].num*extentSize) * sector,
			length: count * extentSize * sector,
		})
	}
	return out, nil
}

// parseLVMText parses the LVM2 metadata text format: "key = value" lines,
// "name {" ... "}" sections, values numbers, "strings" or [lists], and
// comments from # to the end of the line.
func parseLVMText(text string) (*lvmSection, error) {
	toks, err := lvmTokens(text)
	if err != nil {
		return nil, err
	}
	root := &lvmSection{values: map[string]lvmValue{}}
	stack := []*lvmSection{root}
	for i := 0; i < len(toks); {
		cur := stack[len(stack)-1]
		t := toks[i]
		switch {
		case t == "}":
			if len(stack) == 1 {
				return nil, errors.New("lvm metadata: unbalanced }")
			}
			stack = stack[:len(stack)-1]
			i++
		case i+1 < len(toks) && toks[i+1] == "{":
			s := &lvmSection{name: t, values: map[string]lvmValue{}}
			cur.children = append(cur.children, s)
			stack = append(stack, s)
			i += 2
		case i+2 < len(toks) && toks[i+1] == "=":
			v, next, err := lvmParseValue(toks, i+2)
			if err != nil {
				return nil, fmt.Errorf("lvm metadata: %s: %w", t, err)
			}
			cur.values[t] = v
			i = next
		default:
			return nil, fmt.Errorf("lvm metadata: unexpected %q", t)
		}
	}
	if len(stack) != 1 {
		return nil, errors.New("lvm metadata: unclosed section")
	}
	return root, nil
}

func lvmParseValue(toks []string, i int) (lvmValue, int, error) {
	t := toks[i]
	switch {
	case t == "[":
		var v lvmValue
		for i++; i < len(toks) && toks[i] != "]"; i++ {
			if toks[i] == "," {
				continue
			}
			e, _, err := lvmParseValue(toks, i)
			if err != nil {
				return v, 0, err
			}
			v.list = append(v.list, e)
		}
		if i == len(toks) {
			return v, 0, errors.New("unclosed [")
		}
		return v, i + 1, nil
	case strings.HasPrefix(t, `"`):
		return lvmValue{str: t[1:]}, i + 1, nil
	default:
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return lvmValue{}, 0, fmt.Errorf("bad value %q", t)
		}
		return lvmValue{num: n, isNum: true}, i + 1, nil
	}
}

// lvmTokens splits text into words, punctuation and strings; a string
// token keeps its opening quote (and loses the closing one) to tell it
// from a word.
func lvmTokens(text string) ([]string, error) {
	var toks []string
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(text) && text[i] != '\n' {
				i++
			}
		case strings.IndexByte("{}[]=,", c) >= 0:
			toks = append(toks, string(c))
			i++
		case c == '"':
			var b strings.Builder
			b.WriteByte('"')
			for i++; i < len(text) && text[i] != '"'; i++ {
				if text[i] == '\\' && i+1 < len(text) {
					i++
				}
				b.WriteByte(text[i])
			}
			if i == len(text) {
				return nil, errors.New("lvm metadata: unclosed string")
			}
			toks = append(toks, b.String())
			i++
		default:
			j := i
			for j < len(text) && strings.IndexByte(" \t\r\n#{}[]=,\"", text[j]) < 0 {
				j++
			}
			toks = append(toks, text[i:j])
			i = j
		}
	}
	return toks, nil
}
