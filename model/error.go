package model

import (
	"fmt"
	"strings"
)

// Error is a problem with one place in a workload file. Fields that are not
// known are left zero (Line 0, Doc -1 when the problem concerns the whole file).
type Error struct {
	File  string
	Doc   int
	Line  int
	Field string
	Msg   string
}

// Error formats as "file:line: document N: field: message", the form editors
// and CI logs link to.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Doc >= 0 && e.File != "" {
		fmt.Fprintf(&b, "document %d: ", e.Doc+1)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}
