package selectors

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/cellsync/cellsync/model"
)

// Default cost limits; see the package documentation for what they mean.
const (
	// DefaultMaxEstimatedCost is the largest worst-case cost, estimated at
	// compile time, that a selector may have.
	DefaultMaxEstimatedCost = 5_000
	// DefaultMaxRuntimeCost is the cost budget of one evaluation of one
	// selector against one cell.
	DefaultMaxRuntimeCost = 10_000
	// MaxLabelsHint is the number of labels a cell is assumed to have at
	// most when estimating cost.
	MaxLabelsHint = 64
	// MaxStringHint is the length a cell's string attribute (a label key or
	// value, name, zone, runtime, version, state) is assumed to have at most
	// when estimating cost.
	MaxStringHint = 256
)

// Config holds the limits of an Env. Zero fields take their defaults.
type Config struct {
	// MaxEstimatedCost rejects at compile time a selector whose estimated
	// worst-case cost is higher (CEL cost units). Default
	// DefaultMaxEstimatedCost.
	MaxEstimatedCost uint64
	// MaxRuntimeCost aborts an evaluation once it has spent this many CEL
	// cost units; the cell then does not match. Default
	// DefaultMaxRuntimeCost.
	MaxRuntimeCost uint64
}

// Default returns the default configuration.
func Default() Config {
	return Config{MaxEstimatedCost: DefaultMaxEstimatedCost, MaxRuntimeCost: DefaultMaxRuntimeCost}
}

func (c Config) withDefaults() Config {
	d := Default()
	if c.MaxEstimatedCost == 0 {
		c.MaxEstimatedCost = d.MaxEstimatedCost
	}
	if c.MaxRuntimeCost == 0 {
		c.MaxRuntimeCost = d.MaxRuntimeCost
	}
	return c
}

// Env compiles selectors. It is immutable once built and safe for
// concurrent use.
type Env struct {
	cfg Config
	env *cel.Env
}

// NewEnv builds the CEL environment: the typed `cell` variable, the helper
// functions and the optional-value syntax (`cell.labels[?"k"]`).
func NewEnv(cfg Config) (*Env, error) {
	cfg = cfg.withDefaults()
	opts := []cel.EnvOption{
		cel.OptionalTypes(),
		cel.HomogeneousAggregateLiterals(),
		cel.Variable("cell", cellType),
		labelFunc(),
	}
	opts = append(opts, semverFuncs(&semverCache{})...)
	// The cell types go last: options such as OptionalTypes register types
	// on the standard registry, which the custom provider wraps.
	opts = append(opts, cellTypes())
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("build CEL environment: %w", err)
	}
	return &Env{cfg: cfg, env: env}, nil
}

// Config returns the limits in force, defaults applied.
func (e *Env) Config() Config { return e.cfg }

// cellTypes installs the provider declaring cellsync.Cell and
// cellsync.Capacity over the environment's standard types.
func cellTypes() cel.EnvOption {
	return func(env *cel.Env) (*cel.Env, error) {
		p := &provider{base: env.CELTypeProvider(), adapter: env.CELTypeAdapter()}
		env, err := cel.CustomTypeAdapter(p)(env)
		if err != nil {
			return nil, err
		}
		return cel.CustomTypeProvider(p)(env)
	}
}

// labelFunc declares cell.label(key, default): the value of label key, or
// default when the cell has no such label.
func labelFunc() cel.EnvOption {
	return cel.Function("label",
		cel.MemberOverload("cell_label_string_string",
			[]*cel.Type{cellType, cel.StringType, cel.StringType}, cel.StringType,
			cel.OverloadExamples(`cell.label("env", "dev") == "prod"`),
			cel.FunctionBinding(func(args ...ref.Val) ref.Val {
				c, ok := args[0].Value().(*model.Cell)
				key, ok2 := args[1].(types.String)
				def, ok3 := args[2].(types.String)
				if !ok || !ok2 || !ok3 {
					return types.NewErr("label: bad arguments")
				}
				if v, found := c.Labels[string(key)]; found {
					return types.String(v)
				}
				return def
			})))
}

// semverFuncs declares semver(string) and the ordering operators on its
// result. The standard library evaluates <, <=, >, >= through
// traits.Comparer and == through Equal, both of which semverVal
// implements, so the operator overloads only need declaring.
func semverFuncs(cache *semverCache) []cel.EnvOption {
	cmp := func(name, id string) cel.EnvOption {
		return cel.Function(name, cel.Overload(id, []*cel.Type{semverType, semverType}, cel.BoolType))
	}
	return []cel.EnvOption{
		cel.Function("semver",
			cel.Overload("semver_string", []*cel.Type{cel.StringType}, semverType,
				cel.OverloadExamples(`semver(cell.version) >= semver("1.2.0")`),
				cel.UnaryBinding(func(a ref.Val) ref.Val {
					s, ok := a.(types.String)
					if !ok {
						return types.NewErr("semver: argument is not a string")
					}
					return cache.parse(string(s))
				}))),
		cmp(operators.Less, "less_semver"),
		cmp(operators.LessEquals, "less_equals_semver"),
		cmp(operators.Greater, "greater_semver"),
		cmp(operators.GreaterEquals, "greater_equals_semver"),
	}
}

// semverCache remembers parsed versions: a fleet runs few distinct
// versions, and semver(cell.version) is parsed once per evaluation
// otherwise. It is safe for concurrent use and holds at most
// maxCachedVersions entries.
type semverCache struct {
	m sync.Map // string -> ref.Val (semverVal or error)
	n atomic.Int64
}

const maxCachedVersions = 1024

func (c *semverCache) parse(s string) ref.Val {
	if v, ok := c.m.Load(s); ok {
		return v.(ref.Val)
	}
	var out ref.Val
	v, err := ParseSemver(s)
	if err != nil {
		out = types.WrapErr(err)
	} else {
		out = semverVal{v}
	}
	if c.n.Load() < maxCachedVersions {
		if _, loaded := c.m.LoadOrStore(s, out); !loaded {
			c.n.Add(1)
		}
	}
	return out
}

// estimator bounds the sizes CEL cannot know from the expression: a cell's
// labels and its string attributes.
type estimator struct{}

// EstimateSize implements checker.CostEstimator.
func (estimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	if t := n.Type(); t != nil {
		// Sizes of whole values matter for == and !=; count fields.
		switch t.TypeName() {
		case semverType.TypeName():
			return &checker.SizeEstimate{Min: 1, Max: 1}
		case capacityTypeName:
			return &checker.SizeEstimate{Min: uint64(len(capacityFieldNames)), Max: uint64(len(capacityFieldNames))}
		case cellTypeName:
			return &checker.SizeEstimate{Min: uint64(len(cellFieldNames)), Max: uint64(len(cellFieldNames)) + MaxLabelsHint}
		}
	}
	p := n.Path()
	if len(p) < 2 || p[0] != "cell" {
		return nil
	}
	if p[len(p)-1] == "labels" {
		return &checker.SizeEstimate{Min: 0, Max: MaxLabelsHint}
	}
	if n.Type() != nil && n.Type().Kind() == types.StringKind {
		return &checker.SizeEstimate{Min: 0, Max: MaxStringHint}
	}
	return nil
}

// EstimateCallCost implements checker.CostEstimator. The helpers cost about
// as much as a map lookup (label) or a scan of a short string (semver).
func (estimator) EstimateCallCost(fn, overload string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	switch overload {
	case "cell_label_string_string", "less_semver", "less_equals_semver", "greater_semver", "greater_equals_semver":
		return &checker.CallEstimate{CostEstimate: checker.CostEstimate{Min: 1, Max: 1}}
	case "semver_string":
		return &checker.CallEstimate{CostEstimate: checker.CostEstimate{Min: 1, Max: 1 + MaxStringHint/10}}
	}
	return nil
}
