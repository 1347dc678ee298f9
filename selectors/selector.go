package selectors

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"github.com/cellsync/cellsync/model"
)

// CompileError is a selector that does not compile: a syntax or type error,
// a non-boolean result, an invalid constant or an estimated cost over the
// limit. Line and Column are 1-based positions inside Expr (0 when the
// problem concerns the whole expression); callers add the file and line of
// the workload, as CheckObjects does.
type CompileError struct {
	Expr   string
	Line   int
	Column int
	Msg    string
}

// Error formats as "line L, column C: message" ("column C: message" for a
// one-line expression).
func (e *CompileError) Error() string {
	switch {
	case e.Line > 1:
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
	case e.Column > 0:
		return fmt.Sprintf("column %d: %s", e.Column, e.Msg)
	}
	return e.Msg
}

// ErrCostLimit is wrapped by evaluation errors of a selector that ran out of
// its runtime cost budget.
var ErrCostLimit = errors.New("selector exceeded its runtime cost budget")

// Selector is a compiled selector. It is immutable and safe for concurrent
// use.
type Selector struct {
	expr string
	// all is set for the empty selector, which matches every cell without
	// evaluating anything.
	all bool
	// prg enforces the runtime cost budget; fast does not track cost and
	// runs only on cells within the size hints, where the estimate, which is
	// at most the budget, bounds the actual cost.
	prg  cel.Program
	fast cel.Program
	// fastOK is set when the selector has no comprehension and its
	// estimate is within the runtime budget. Without loops the evaluation
	// takes a fixed number of steps, and on cells within the size hints
	// the estimate bounds its cost (TestEstimateBoundsActualCost).
	fastOK bool
	cost   uint64
	// pre holds the top-level conjuncts simple enough to test in Go; if one
	// is false, the whole selector is false.
	pre []precheck
}

// Compile parses and type-checks expr once. An empty (or blank) expr
// matches every cell. The error is a *CompileError.
func (e *Env) Compile(expr string) (*Selector, error) {
	if strings.TrimSpace(expr) == "" {
		return &Selector{expr: expr, all: true}, nil
	}
	ast, iss := e.env.Compile(expr)
	if iss.Err() != nil {
		return nil, issueError(expr, iss)
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, &CompileError{Expr: expr, Line: 1, Column: 1,
			Msg: fmt.Sprintf("selector must be a bool expression, not %s", ast.OutputType())}
	}
	if err := checkConstants(expr, ast.NativeRep()); err != nil {
		return nil, err
	}
	est, err := e.env.EstimateCost(ast, estimator{})
	if err != nil {
		return nil, &CompileError{Expr: expr, Msg: fmt.Sprintf("estimate cost: %v", err)}
	}
	if est.Max > e.cfg.MaxEstimatedCost {
		return nil, &CompileError{Expr: expr,
			Msg: fmt.Sprintf("estimated cost %s exceeds the limit of %d; simplify the selector",
				costString(est.Max), e.cfg.MaxEstimatedCost)}
	}
	prg, err := e.env.Program(ast,
		cel.CostLimit(e.cfg.MaxRuntimeCost),
		cel.EvalOptions(cel.OptOptimize),
	)
	if err != nil {
		return nil, &CompileError{Expr: expr, Msg: fmt.Sprintf("plan: %v", err)}
	}
	fast, err := e.env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, &CompileError{Expr: expr, Msg: fmt.Sprintf("plan: %v", err)}
	}
	root := ast.NativeRep().Expr()
	return &Selector{
		expr:   expr,
		prg:    prg,
		fast:   fast,
		fastOK: est.Max <= e.cfg.MaxRuntimeCost && !hasComprehension(root),
		cost:   est.Max,
		pre:    prechecks(root),
	}, nil
}

func costString(c uint64) string {
	if c == ^uint64(0) {
		return "unbounded"
	}
	return fmt.Sprint(c)
}

// issueError turns the first CEL issue into a CompileError; the count of
// further issues is appended to the message.
func issueError(expr string, iss *cel.Issues) error {
	errs := iss.Errors()
	if len(errs) == 0 {
		return &CompileError{Expr: expr, Msg: iss.String()}
	}
	first := errs[0]
	ce := &CompileError{Expr: expr, Msg: first.Message}
	if loc := first.Location; loc != nil && loc.Line() > 0 {
		ce.Line, ce.Column = loc.Line(), loc.Column()+1
	}
	if n := len(errs) - 1; n > 0 {
		ce.Msg += fmt.Sprintf(" (and %d more)", n)
	}
	return ce
}

// checkConstants rejects semver("...") calls whose constant argument is not
// a semantic version, so the typo shows at compile time, not as a selector
// that silently matches nothing, and object literals, which selectors have
// no use for.
func checkConstants(expr string, a *celast.AST) error {
	var bad error
	at := func(id int64, msg string) *CompileError {
		ce := &CompileError{Expr: expr, Msg: msg}
		if loc := a.SourceInfo().GetStartLocation(id); loc != common.NoLocation {
			ce.Line, ce.Column = loc.Line(), loc.Column()+1
		}
		return ce
	}
	celast.PostOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if bad != nil {
			return
		}
		if e.Kind() == celast.StructKind {
			bad = at(e.ID(), fmt.Sprintf("%s cannot be constructed in a selector", e.AsStruct().TypeName()))
			return
		}
		if e.Kind() != celast.CallKind {
			return
		}
		call := e.AsCall()
		if call.FunctionName() != "semver" || len(call.Args()) != 1 || call.Args()[0].Kind() != celast.LiteralKind {
			return
		}
		s, ok := call.Args()[0].AsLiteral().(types.String)
		if !ok {
			return
		}
		if _, err := ParseSemver(string(s)); err != nil {
			bad = at(call.Args()[0].ID(), err.Error())
		}
	}))
	return bad
}

// hasComprehension reports whether e contains a loop (all, exists,
// exists_one, map, filter), whose cost grows with the size of the cell.
func hasComprehension(e celast.Expr) bool {
	found := false
	celast.PostOrderVisit(e, celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() == celast.ComprehensionKind {
			found = true
		}
	}))
	return found
}

// Expr returns the selector's source text.
func (s *Selector) Expr() string { return s.expr }

// MatchesAll reports whether s is the empty selector.
func (s *Selector) MatchesAll() bool { return s.all }

// EstimatedCost returns the worst-case cost estimated at compile time.
func (s *Selector) EstimatedCost() uint64 { return s.cost }

// activation binds `cell` (a *model.Cell, or the Index's *stored) without
// allocating a map per evaluation.
type activation struct{ cell any }

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	if name == "cell" {
		return a.cell, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// Match evaluates s against c. A cell matches when the selector evaluates
// to true. An evaluation error (a missing map key, an invalid version passed
// to semver, an exhausted cost budget wrapping ErrCostLimit) means no match
// and is returned so callers can report it.
func (s *Selector) Match(c *model.Cell) (bool, error) {
	return s.match(&activation{cell: c}, c, withinHints(c))
}

// match is Match with the activation binding c and the size check of c
// provided by the caller: the Index reuses one activation and checks sizes
// once per cell update.
func (s *Selector) match(act *activation, c *model.Cell, small bool) (bool, error) {
	if s == nil || s.all {
		return true, nil
	}
	for _, p := range s.pre {
		if !p.holds(c) {
			return false, nil
		}
	}
	if small && s.fastOK {
		return result(s.fast.Eval(act))
	}
	return result(s.prg.Eval(act))
}

// eval runs the cost-limited CEL program without the pre-checks: the
// reference that Match must agree with.
func (s *Selector) eval(c *model.Cell) (bool, error) {
	if s == nil || s.all {
		return true, nil
	}
	return result(s.prg.Eval(&activation{cell: c}))
}

func result(out ref.Val, _ *cel.EvalDetails, err error) (bool, error) {
	if err != nil {
		var cancel interpreter.EvalCancelledError
		if errors.As(err, &cancel) && cancel.Cause == interpreter.CostLimitExceeded {
			return false, fmt.Errorf("%w: %v", ErrCostLimit, err)
		}
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("selector returned %s, not bool", out.Type().TypeName())
	}
	return bool(b), nil
}

// withinHints reports whether c respects the sizes the cost estimate
// assumed (MaxLabelsHint labels, strings of at most MaxStringHint bytes).
// For such cells a selector's actual cost cannot exceed its estimate, which
// is at most MaxEstimatedCost.
func withinHints(c *model.Cell) bool {
	if len(c.Labels) > MaxLabelsHint {
		return false
	}
	for _, s := range [...]string{c.Name, c.Zone, c.Runtime, c.Version, c.State} {
		if len(s) > MaxStringHint {
			return false
		}
	}
	for k, v := range c.Labels {
		if len(k) > MaxStringHint || len(v) > MaxStringHint {
			return false
		}
	}
	return true
}
