package imgdiff

import (
	"unicode/utf8"
)

// diffImage compares two images of any kind: it detects what they hold and
// hands them to the matching comparison. prefix names where they are.
func (r *report) diffImage(prefix string, a, b *view) error {
	ka, err := detect(a)
	if err != nil {
		return err
	}
	kb, err := detect(b)
	if err != nil {
		return err
	}
	label := func(k imageKind) string {
		if prefix == "" {
			return k.String()
		}
		return prefix + " (" + k.String() + ")"
	}
	if ka != kb {
		r.add(prefix, "content %s != %s", ka, kb)
		return r.diffRaw(prefix, a, b)
	}
	switch ka {
	case kindDisk:
		return r.diffDisk(prefix, a, b)
	case kindExt4, kindVFAT:
		diff := r.diffExt4
		if ka == kindVFAT {
			diff = r.diffFAT
		}
		if err := diff(label(ka), a, b); err != nil {
			// A damaged or unsupported filesystem: say why, then
			// compare bytes (which fails again on I/O errors).
			r.add(label(ka), "cannot compare as %s (%v); comparing bytes", ka, err)
			return r.diffRaw(label(ka), a, b)
		}
		return nil
	}
	return r.diffRaw(prefix, a, b)
}

// diffRaw reports the differing byte ranges of two unstructured images
// (exact for files up to 64 KiB, in 4 KiB blocks for larger ones), and short
// text contents in full.
func (r *report) diffRaw(prefix string, a, b *view) error {
	unit := int64(4096)
	if a.size <= 64<<10 && b.size <= 64<<10 {
		unit = 1
	}
	rs, err := diffRanges(a, b, a.size, b.size, unit)
	if err != nil || len(rs) == 0 {
		return err
	}
	if a.size <= 256 && b.size <= 256 {
		ta := make([]byte, a.size)
		tb := make([]byte, b.size)
		if err := readFull(a, ta, 0); err != nil {
			return err
		}
		if err := readFull(b, tb, 0); err != nil {
			return err
		}
		if utf8.Valid(ta) && utf8.Valid(tb) {
			r.add(prefix, "content %q != %q", ta, tb)
			return nil
		}
	}
	if a.size != b.size {
		r.add(prefix, "image size %d != %d", a.size, b.size)
	}
	r.add(prefix, "bytes %s differ", formatRanges(rs, r.max))
	return nil
}
