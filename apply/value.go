package apply

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// The value domain of object trees, after normalisation: nil, bool, string,
// int64, float64 (only for numbers that are not integers), map[string]any and
// []any. Normalising integral numbers to int64 makes a tree built in Go and
// the same tree decoded from JSON compare and hash equal.

// normalize returns a deep copy of v in the value domain. path names v in
// errors.
func normalize(v any, path string) (any, error) {
	switch x := v.(type) {
	case nil, bool, string, int64:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint:
		if uint64(x) > math.MaxInt64 {
			return nil, fmt.Errorf("%s: %d overflows int64: %w", pathOrRoot(path), x, ErrInvalid)
		}
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return nil, fmt.Errorf("%s: %d overflows int64: %w", pathOrRoot(path), x, ErrInvalid)
		}
		return int64(x), nil
	case float32:
		return normFloat(float64(x), path)
	case float64:
		return normFloat(x, path)
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, fmt.Errorf("%s: number %q: %w", pathOrRoot(path), string(x), ErrInvalid)
		}
		return normFloat(f, path)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, c := range x {
			n, err := normalize(c, appendKey(path, k))
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, c := range x {
			out[k] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, c := range x {
			n, err := normalize(c, path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case []string:
		out := make([]any, len(x))
		for i, c := range x {
			out[i] = c
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: unsupported value type %T: %w", pathOrRoot(path), v, ErrInvalid)
}

// normFloat turns integral floats into int64 and rejects NaN and infinities,
// which JSON cannot carry.
func normFloat(f float64, path string) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%s: %v is not a JSON number: %w", pathOrRoot(path), f, ErrInvalid)
	}
	if i, ok := integral(f); ok {
		return i, nil
	}
	return f, nil
}

// integral reports whether f is an integer that int64 holds exactly.
func integral(f float64) (int64, bool) {
	if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

func pathOrRoot(path string) string {
	if path == "" {
		return "<root>"
	}
	return path
}

// equal reports whether two normalised values are deeply equal.
func equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equal(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// FNV-1a 64 constants; the hash must be stable across processes because it
// is stored in etcd, which rules out hash/maphash's per-process seed.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashByte(h uint64, b byte) uint64 { return (h ^ uint64(b)) * fnvPrime }

func hashString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

func hashUint(h, v uint64) uint64 {
	for i := 0; i < 8; i++ {
		h = (h ^ (v & 0xff)) * fnvPrime
		v >>= 8
	}
	return h
}

// mix is the splitmix64 finaliser: it spreads every input bit over the
// output so that summing entry hashes (below) stays collision-resistant.
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// hashValue folds v into h. Map entries are hashed independently and summed,
// so the result does not depend on Go's random map iteration order and the
// walk allocates nothing. Accepts the same types as normalize and hashes a
// value and its normalised form identically.
func hashValue(h uint64, v any) uint64 {
	switch x := v.(type) {
	case nil:
		return hashByte(h, 'n')
	case bool:
		if x {
			return hashByte(h, 't')
		}
		return hashByte(h, 'f')
	case string:
		return hashString(hashUint(hashByte(h, 's'), uint64(len(x))), x)
	case int64:
		return hashInt(h, x)
	case int:
		return hashInt(h, int64(x))
	case int32:
		return hashInt(h, int64(x))
	case int16:
		return hashInt(h, int64(x))
	case int8:
		return hashInt(h, int64(x))
	case uint8:
		return hashInt(h, int64(x))
	case uint16:
		return hashInt(h, int64(x))
	case uint32:
		return hashInt(h, int64(x))
	case uint:
		return hashInt(h, int64(x))
	case uint64:
		return hashInt(h, int64(x))
	case float32:
		return hashFloat(h, float64(x))
	case float64:
		return hashFloat(h, x)
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return hashInt(h, i)
		}
		f, _ := strconv.ParseFloat(string(x), 64)
		return hashFloat(h, f)
	case map[string]any:
		var sum uint64
		for k, c := range x {
			sum += mix(hashValue(hashString(hashByte(fnvOffset, 'k'), k), c))
		}
		return hashUint(hashUint(hashByte(h, 'm'), uint64(len(x))), sum)
	case map[string]string:
		var sum uint64
		for k, c := range x {
			e := hashString(hashByte(fnvOffset, 'k'), k)
			e = hashString(hashUint(hashByte(e, 's'), uint64(len(c))), c)
			sum += mix(e)
		}
		return hashUint(hashUint(hashByte(h, 'm'), uint64(len(x))), sum)
	case []any:
		h = hashUint(hashByte(h, 'l'), uint64(len(x)))
		for _, c := range x {
			h = hashValue(h, c)
		}
		return h
	case []string:
		h = hashUint(hashByte(h, 'l'), uint64(len(x)))
		for _, c := range x {
			h = hashString(hashUint(hashByte(h, 's'), uint64(len(c))), c)
		}
		return h
	}
	return hashByte(h, '?')
}

func hashInt(h uint64, i int64) uint64 { return hashUint(hashByte(h, 'i'), uint64(i)) }

func hashFloat(h uint64, f float64) uint64 {
	if i, ok := integral(f); ok {
		return hashInt(h, i)
	}
	return hashUint(hashByte(h, 'd'), math.Float64bits(f))
}
