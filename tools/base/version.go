package base

import "strings"

// CompareVersions compares two Debian package versions
// ([epoch:]upstream[-revision]) in dpkg's order and returns -1, 0 or +1.
// Epochs compare as numbers (a missing one is 0); upstream versions and
// revisions compare part by part: a run of non-digits character by
// character, where '~' sorts before everything (even the end of the part),
// letters before other characters; then a run of digits as a number.
// A missing revision compares as "0", as dpkg does.
func CompareVersions(a, b string) int {
	ea, ua, ra := splitVersion(a)
	eb, ub, rb := splitVersion(b)
	if c := compareNumber(ea, eb); c != 0 {
		return c
	}
	if c := compareFragment(ua, ub); c != 0 {
		return c
	}
	return compareFragment(ra, rb)
}

// splitVersion splits a version into epoch, upstream version and revision
// (the part after the last '-'; "" when there is none).
func splitVersion(v string) (epoch, upstream, revision string) {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		epoch, v = v[:i], v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

// compareFragment is dpkg's verrevcmp: alternating non-digit and digit
// runs.
func compareFragment(a, b string) int {
	for a != "" || b != "" {
		var na, nb string
		na, a = cutRun(a, false)
		nb, b = cutRun(b, false)
		if c := compareNonDigits(na, nb); c != 0 {
			return c
		}
		na, a = cutRun(a, true)
		nb, b = cutRun(b, true)
		if c := compareNumber(na, nb); c != 0 {
			return c
		}
	}
	return 0
}

// cutRun splits s after its leading run of digits (digits true) or
// non-digits.
func cutRun(s string, digits bool) (run, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) == digits {
		i++
	}
	return s[:i], s[i:]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// order is the weight of one character of a non-digit run (0 for the end
// of the run).
func order(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	switch c := s[i]; {
	case c == '~':
		return -1
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return int(c)
	default:
		return int(c) + 256
	}
}

func compareNonDigits(a, b string) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		if oa, ob := order(a, i), order(b, i); oa != ob {
			return sign(oa - ob)
		}
	}
	return 0
}

// compareNumber compares two runs of decimal digits by value, whatever
// their length ("" counts as 0).
func compareNumber(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return sign(len(a) - len(b))
	}
	return strings.Compare(a, b)
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
