package apply

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Field paths name one field of an object tree. A path is a sequence of
// steps, each one of:
//
//	.key                 a map key made of letters, digits, '_' and '-'
//	["any key"]          any other map key, Go-quoted
//	[name="web"]         the item of a keyed list whose key field name has
//	                     the given value (a quoted string, an integer or a bool)
//
// e.g. `.spec.configs[name="agent-conf"].mountPath` or `.data["app.yaml"]`.
// The root has the empty path. Paths are plain strings so that managed
// fields are readable in etcd and in `cellsync plan`, and so that a sorted
// []string is a field set with no further structure.

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// appendKey returns the path of map key key under path.
func appendKey(path, key string) string {
	if isIdent(key) {
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// appendItem returns the path of the keyed-list item whose field has value
// key under path. key is a string, an int64 or a bool.
func appendItem(path, field string, key any) string {
	return path + "[" + field + "=" + formatKey(key) + "]"
}

func formatKey(key any) string {
	switch k := key.(type) {
	case string:
		return strconv.Quote(k)
	case int64:
		return strconv.FormatInt(k, 10)
	case bool:
		return strconv.FormatBool(k)
	}
	return "?"
}

// validKey reports whether v may be the key of a keyed-list item.
func validKey(v any) bool {
	switch v.(type) {
	case string, int64, bool:
		return true
	}
	return false
}

// step is one parsed step of a path.
type step struct {
	key  string // map key, or the key field of an item step
	item bool   // an item step: select the list item whose key field == val
	val  any    // string, int64 or bool, for item steps
}

// parseStep parses the first step of p and returns it with the number of
// bytes it spans. It allocates only for quoted strings with escapes.
func parseStep(p string) (step, int, error) {
	if p == "" {
		return step{}, 0, fmt.Errorf("empty path step: %w", ErrInvalid)
	}
	switch p[0] {
	case '.':
		i := 1
		for i < len(p) && p[i] != '.' && p[i] != '[' {
			i++
		}
		if i == 1 {
			return step{}, 0, fmt.Errorf("path %q: empty key: %w", p, ErrInvalid)
		}
		return step{key: p[1:i]}, i, nil
	case '[':
		if len(p) > 1 && p[1] == '"' {
			q, err := strconv.QuotedPrefix(p[1:])
			if err != nil {
				return step{}, 0, fmt.Errorf("path %q: bad quoted key: %w", p, ErrInvalid)
			}
			end := 1 + len(q)
			if end >= len(p) || p[end] != ']' {
				return step{}, 0, fmt.Errorf("path %q: missing ]: %w", p, ErrInvalid)
			}
			k, err := strconv.Unquote(q)
			if err != nil {
				return step{}, 0, fmt.Errorf("path %q: bad quoted key: %w", p, ErrInvalid)
			}
			return step{key: k}, end + 1, nil
		}
		eq := strings.IndexByte(p, '=')
		if eq < 2 || !isIdent(p[1:eq]) {
			return step{}, 0, fmt.Errorf("path %q: bad item selector: %w", p, ErrInvalid)
		}
		s := step{key: p[1:eq], item: true}
		rest := p[eq+1:]
		var n int
		if rest != "" && rest[0] == '"' {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return step{}, 0, fmt.Errorf("path %q: bad item key: %w", p, ErrInvalid)
			}
			k, err := strconv.Unquote(q)
			if err != nil {
				return step{}, 0, fmt.Errorf("path %q: bad item key: %w", p, ErrInvalid)
			}
			s.val, n = k, len(q)
		} else {
			n = strings.IndexByte(rest, ']')
			if n < 0 {
				return step{}, 0, fmt.Errorf("path %q: missing ]: %w", p, ErrInvalid)
			}
			switch lit := rest[:n]; lit {
			case "true":
				s.val = true
			case "false":
				s.val = false
			default:
				i, err := strconv.ParseInt(lit, 10, 64)
				if err != nil {
					return step{}, 0, fmt.Errorf("path %q: bad item key: %w", p, ErrInvalid)
				}
				s.val = i
			}
		}
		if n >= len(rest) || rest[n] != ']' {
			return step{}, 0, fmt.Errorf("path %q: missing ]: %w", p, ErrInvalid)
		}
		return s, eq + 1 + n + 1, nil
	}
	return step{}, 0, fmt.Errorf("path %q: step must start with '.' or '[': %w", p, ErrInvalid)
}

// checkPath reports whether p parses completely.
func checkPath(p string) error {
	if p == "" {
		return fmt.Errorf("empty field path: %w", ErrInvalid)
	}
	for off := 0; off < len(p); {
		_, n, err := parseStep(p[off:])
		if err != nil {
			return err
		}
		off += n
	}
	return nil
}

// findItem returns the index of the map item of l whose field equals key, or
// -1.
func findItem(l []any, field string, key any) int {
	for i, it := range l {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		if v, ok := m[field]; ok && equal(v, key) {
			return i
		}
	}
	return -1
}

// lookup returns the value at path p in root and whether it exists.
func lookup(root map[string]any, p string) (any, bool) {
	var cur any = root
	for off := 0; off < len(p); {
		s, n, err := parseStep(p[off:])
		if err != nil {
			return nil, false
		}
		off += n
		if s.item {
			l, ok := cur.([]any)
			if !ok {
				return nil, false
			}
			i := findItem(l, s.key, s.val)
			if i < 0 {
				return nil, false
			}
			cur = l[i]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[s.key]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// without returns node with the field at full[off:] removed, copying the
// maps and lists on the way and sharing everything else. A map or list that
// becomes empty is removed as well unless keep reports its path as owned.
// It returns the new node, whether the caller should remove node itself
// (it became an empty, unowned container) and whether the field was found.
func without(node any, full string, off int, keep func(string) bool) (any, bool, bool) {
	s, n, err := parseStep(full[off:])
	if err != nil {
		return node, false, false
	}
	end := off + n
	last := end == len(full)
	if s.item {
		l, ok := node.([]any)
		if !ok {
			return node, false, false
		}
		i := findItem(l, s.key, s.val)
		if i < 0 {
			return node, false, false
		}
		drop := last
		var child any
		if !last {
			c, prune, found := without(l[i], full, end, keep)
			if !found {
				return node, false, false
			}
			child, drop = c, prune
		}
		if drop {
			out := make([]any, 0, len(l)-1)
			out = append(append(out, l[:i]...), l[i+1:]...)
			return out, len(out) == 0 && !keep(full[:off]), true
		}
		out := make([]any, len(l))
		copy(out, l)
		out[i] = child
		return out, false, true
	}
	m, ok := node.(map[string]any)
	if !ok {
		return node, false, false
	}
	c, ok := m[s.key]
	if !ok {
		return node, false, false
	}
	drop := last
	var child any
	if !last {
		nc, prune, found := without(c, full, end, keep)
		if !found {
			return node, false, false
		}
		child, drop = nc, prune
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	if drop {
		delete(out, s.key)
	} else {
		out[s.key] = child
	}
	return out, len(out) == 0 && !keep(full[:off]), true
}

// Field sets are sorted []string of paths.

// contains reports whether the sorted set fs holds p.
func contains(fs []string, p string) bool {
	i := sort.SearchStrings(fs, p)
	return i < len(fs) && fs[i] == p
}

// coversOrBelow reports whether the sorted set fs holds p or a path below
// it. Paths sharing the prefix p are contiguous in sorted order.
func coversOrBelow(fs []string, p string) bool {
	for i := sort.SearchStrings(fs, p); i < len(fs) && strings.HasPrefix(fs[i], p); i++ {
		if len(fs[i]) == len(p) || fs[i][len(p)] == '.' || fs[i][len(p)] == '[' {
			return true
		}
	}
	return false
}

// minus returns the elements of sorted a that are not in sorted b. It
// allocates only when there is at least one.
func minus(a, b []string) []string {
	var out []string
	j := 0
	for _, p := range a {
		for j < len(b) && b[j] < p {
			j++
		}
		if j < len(b) && b[j] == p {
			continue
		}
		out = append(out, p)
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
