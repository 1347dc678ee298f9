package model

import (
	"errors"
	"fmt"
	"sort"
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

// SortErrors orders errors by file and line; errors that are not *Error
// keep their place relative to each other, first.
func SortErrors(errs []error) {
	sort.SliceStable(errs, func(i, j int) bool {
		var a, b *Error
		if !errors.As(errs[i], &a) {
			return errors.As(errs[j], &b)
		}
		if !errors.As(errs[j], &b) {
			return false
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
}
