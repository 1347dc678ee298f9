package selectors

import (
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"

	"github.com/cellsync/cellsync/model"
)

// precheck is a top-level conjunct of a selector that Go can decide without
// running CEL: `cell.<attr> == "v"`, `cell.<attr> in ["a", "b"]` for a string
// attribute, or the same on `cell.labels["k"]`. When a precheck does not
// hold, the conjunct is false, and CEL's && is false as soon as one operand
// is false (even when another is an error), so skipping the evaluation gives
// exactly the result full evaluation would.
type precheck struct {
	// attr reads a string attribute; nil for a label.
	attr func(*model.Cell) string
	// label is the label key when attr is nil.
	label  string
	values []string
}

// holds reports whether the conjunct may be true for c. A missing label
// could make the conjunct an error rather than false, so it does not rule
// the cell out; the CEL program then decides.
func (p precheck) holds(c *model.Cell) bool {
	var v string
	if p.attr != nil {
		v = p.attr(c)
	} else {
		lv, ok := c.Labels[p.label]
		if !ok {
			return true
		}
		v = lv
	}
	for _, w := range p.values {
		if v == w {
			return true
		}
	}
	return false
}

var stringAttrs = map[string]func(*model.Cell) string{
	"name":    func(c *model.Cell) string { return c.Name },
	"zone":    func(c *model.Cell) string { return c.Zone },
	"runtime": func(c *model.Cell) string { return c.Runtime },
	"version": func(c *model.Cell) string { return c.Version },
	"state":   cellState,
}

// prechecks extracts the prechecks of the top-level && chain of e.
func prechecks(e celast.Expr) []precheck {
	var out []precheck
	var walk func(celast.Expr)
	walk = func(e celast.Expr) {
		if e.Kind() != celast.CallKind {
			return
		}
		call := e.AsCall()
		switch call.FunctionName() {
		case operators.LogicalAnd:
			for _, a := range call.Args() {
				walk(a)
			}
		case operators.Equals:
			args := call.Args()
			if p, ok := subject(args[0]); ok {
				if v, ok := stringConst(args[1]); ok {
					p.values = []string{v}
					out = append(out, p)
				}
			} else if p, ok := subject(args[1]); ok {
				if v, ok := stringConst(args[0]); ok {
					p.values = []string{v}
					out = append(out, p)
				}
			}
		case operators.In:
			args := call.Args()
			p, ok := subject(args[0])
			if !ok || args[1].Kind() != celast.ListKind {
				return
			}
			list := args[1].AsList()
			if len(list.OptionalIndices()) > 0 {
				return
			}
			for _, el := range list.Elements() {
				v, ok := stringConst(el)
				if !ok {
					return
				}
				p.values = append(p.values, v)
			}
			out = append(out, p)
		}
	}
	walk(e)
	return out
}

// subject recognises `cell.<string attr>` and `cell.labels["k"]`.
func subject(e celast.Expr) (precheck, bool) {
	switch e.Kind() {
	case celast.SelectKind:
		sel := e.AsSelect()
		if sel.IsTestOnly() || !isCellIdent(sel.Operand()) {
			return precheck{}, false
		}
		if f, ok := stringAttrs[sel.FieldName()]; ok {
			return precheck{attr: f}, true
		}
	case celast.CallKind:
		call := e.AsCall()
		if call.FunctionName() != operators.Index || len(call.Args()) != 2 {
			return precheck{}, false
		}
		m, key := call.Args()[0], call.Args()[1]
		if m.Kind() != celast.SelectKind {
			return precheck{}, false
		}
		sel := m.AsSelect()
		if sel.IsTestOnly() || sel.FieldName() != "labels" || !isCellIdent(sel.Operand()) {
			return precheck{}, false
		}
		if k, ok := stringConst(key); ok {
			return precheck{label: k}, true
		}
	}
	return precheck{}, false
}

func isCellIdent(e celast.Expr) bool {
	return e.Kind() == celast.IdentKind && e.AsIdent() == "cell"
}

func stringConst(e celast.Expr) (string, bool) {
	if e.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}
