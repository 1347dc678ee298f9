package selectors

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// Semver is a parsed semantic version (https://semver.org, 2.0.0):
// MAJOR.MINOR.PATCH, an optional pre-release after '-' and optional build
// metadata after '+', with an optional leading 'v'. Build metadata is kept
// but ignored when comparing.
type Semver struct {
	// Major, Minor and Patch are the version core.
	Major, Minor, Patch uint64
	// Pre holds the dot-separated pre-release identifiers; nil for a
	// release.
	Pre []string
	// Build is the build metadata after '+', without the '+'.
	Build string
}

// errSemver is wrapped by every ParseSemver error.
var errSemver = errors.New("invalid semantic version")

// ParseSemver parses a version such as "1.4.2", "v1.4.2" or "2.0.0-rc.1+build.5".
func ParseSemver(s string) (Semver, error) {
	var v Semver
	rest := strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(rest, '+'); i >= 0 {
		v.Build = rest[i+1:]
		rest = rest[:i]
		if err := checkIdents(v.Build, false); err != nil {
			return Semver{}, fmt.Errorf("%w %q: build metadata: %v", errSemver, s, err)
		}
	}
	if i := strings.IndexByte(rest, '-'); i >= 0 {
		pre := rest[i+1:]
		rest = rest[:i]
		if err := checkIdents(pre, true); err != nil {
			return Semver{}, fmt.Errorf("%w %q: pre-release: %v", errSemver, s, err)
		}
		v.Pre = strings.Split(pre, ".")
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return Semver{}, fmt.Errorf("%w %q: want MAJOR.MINOR.PATCH", errSemver, s)
	}
	nums := [3]*uint64{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		if !isNumeric(p) || (len(p) > 1 && p[0] == '0') {
			return Semver{}, fmt.Errorf("%w %q: %q is not a number without leading zeros", errSemver, s, p)
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return Semver{}, fmt.Errorf("%w %q: %v", errSemver, s, err)
		}
		*nums[i] = n
	}
	return v, nil
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkIdents checks dot-separated identifiers of [0-9A-Za-z-]; numeric
// pre-release identifiers must not have leading zeros.
func checkIdents(s string, pre bool) error {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return errors.New("empty identifier")
		}
		for i := 0; i < len(id); i++ {
			c := id[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return fmt.Errorf("invalid character %q", c)
			}
		}
		if pre && isNumeric(id) && len(id) > 1 && id[0] == '0' {
			return fmt.Errorf("numeric identifier %q has a leading zero", id)
		}
	}
	return nil
}

// Compare returns -1, 0 or +1 as v sorts before, with or after w, following
// semver precedence: a pre-release sorts before its release, identifiers
// compare numerically when both are numbers, and build metadata is ignored.
func (v Semver) Compare(w Semver) int {
	for _, d := range [3][2]uint64{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(v.Pre) == 0 && len(w.Pre) == 0:
		return 0
	case len(v.Pre) == 0:
		return 1
	case len(w.Pre) == 0:
		return -1
	}
	for i := 0; i < len(v.Pre) && i < len(w.Pre); i++ {
		if c := compareIdent(v.Pre[i], w.Pre[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(v.Pre) < len(w.Pre):
		return -1
	case len(v.Pre) > len(w.Pre):
		return 1
	}
	return 0
}

func compareIdent(a, b string) int {
	an, bn := isNumeric(a), isNumeric(b)
	switch {
	case an && bn:
		// Compare numbers of any length without overflow: shorter is
		// smaller (no leading zeros), then lexically.
		if len(a) != len(b) {
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}

// String formats the version without a leading 'v'.
func (v Semver) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if len(v.Pre) > 0 {
		s += "-" + strings.Join(v.Pre, ".")
	}
	if v.Build != "" {
		s += "+" + v.Build
	}
	return s
}

// semverType is the type checkers see for semver(...) values;
// semverRuntimeType is the same type at run time, carrying the comparer
// trait the standard ordering operators dispatch on.
var (
	semverType        = types.NewOpaqueType("semver")
	semverRuntimeType = types.NewTypeValue("semver", traits.ComparerType)
)

// semverVal is a Semver inside CEL.
type semverVal struct{ v Semver }

// ConvertToNative implements ref.Val.
func (s semverVal) ConvertToNative(t reflect.Type) (any, error) {
	if t == reflect.TypeOf(Semver{}) {
		return s.v, nil
	}
	return nil, fmt.Errorf("cannot convert semver to %v", t)
}

// ConvertToType implements ref.Val.
func (s semverVal) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.TypeType:
		return semverRuntimeType
	case types.StringType:
		return types.String(s.v.String())
	}
	if t.TypeName() == semverType.TypeName() {
		return s
	}
	return types.NewErr("type conversion error from semver to %s", t.TypeName())
}

// Equal implements ref.Val with semver precedence (build metadata ignored).
func (s semverVal) Equal(other ref.Val) ref.Val {
	o, ok := other.(semverVal)
	return types.Bool(ok && s.v.Compare(o.v) == 0)
}

// Compare implements traits.Comparer with semver precedence.
func (s semverVal) Compare(other ref.Val) ref.Val {
	o, ok := other.(semverVal)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Int(s.v.Compare(o.v))
}

// Type implements ref.Val.
func (s semverVal) Type() ref.Type { return semverRuntimeType }

// Value implements ref.Val.
func (s semverVal) Value() any { return s.v }
