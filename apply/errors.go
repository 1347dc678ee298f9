package apply

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every error about malformed input: an intent
// value with no JSON form, a bad keyed-list item, a malformed stored object
// or field path, an intent applied to an object of another kind or name.
var ErrInvalid = errors.New("invalid")

// Conflict is one field that an apply would set to a value other than the
// one its current owners set.
type Conflict struct {
	// Path is the field, e.g. `.data.level`.
	Path string `json:"path"`
	// Managers are the other managers owning it, sorted.
	Managers []string `json:"managers"`
}

// ConflictError is returned by Apply, without force, when the intent would
// change fields owned by other managers. Nothing is changed. Retrying with
// Options.Force takes those fields over; otherwise the conflict is reported
// in status and the two managers' owners must agree. Match it with
// errors.As.
type ConflictError struct {
	// Kind and Name identify the object.
	Kind, Name string
	// Manager is the manager whose apply failed.
	Manager string
	// Conflicts are the conflicting fields, sorted by path.
	Conflicts []Conflict
}

// Error lists the conflicting fields and their owners.
func (e *ConflictError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "apply %s/%s as %s: %d conflicting field(s):", e.Kind, e.Name, e.Manager, len(e.Conflicts))
	for i, c := range e.Conflicts {
		if i > 0 {
			b.WriteByte(';')
		}
		fmt.Fprintf(&b, " %s owned by %s", c.Path, strings.Join(c.Managers, ", "))
	}
	return b.String()
}
