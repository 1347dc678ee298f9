package selectors

import (
	"fmt"
	"maps"
	"reflect"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/cellsync/cellsync/model"
)

// CEL type names of the cell record and its capacity.
const (
	cellTypeName     = "cellsync.Cell"
	capacityTypeName = "cellsync.Capacity"
)

var (
	cellType     = types.NewObjectType(cellTypeName)
	capacityType = types.NewObjectType(capacityTypeName)
)

// field is one attribute of a CEL object type backed by a Go struct: its CEL
// type and typed accessors that avoid reflection on every evaluation.
type field struct {
	typ   *types.Type
	get   func(any) any
	isSet func(any) bool
}

// cellOf returns the cell a field accessor is applied to.
func cellOf(o any) *model.Cell {
	switch c := o.(type) {
	case *model.Cell:
		return c
	case *stored:
		return &c.Cell
	case model.Cell:
		return &c
	}
	return nil
}

func capacityOf(o any) *model.Capacity {
	switch c := o.(type) {
	case *model.Capacity:
		return c
	case *boxedCapacity:
		return &c.cap
	case model.Capacity:
		return &c
	}
	return nil
}

// Indexes into stored.strs and boxedCapacity.ints.
const (
	strName = iota
	strZone
	strRuntime
	strVersion
	strState
	numStrs
)

const (
	intMemory = iota
	intDisk
	intContainers
	numInts
)

// stored is the Index's copy of a cell, with its string attributes and
// capacity converted to CEL values once, at update time, rather than on
// every evaluation of every selector.
type stored struct {
	model.Cell
	// small caches withinHints.
	small bool
	// slot is the cell's bit in the Index's match sets.
	slot int
	strs [numStrs]ref.Val
	cap  *boxedCapacity
}

// boxedCapacity is a capacity with its numbers converted to CEL values.
type boxedCapacity struct {
	cap  model.Capacity
	ints [numInts]ref.Val
}

func newStored(c model.Cell) *stored {
	s := &stored{Cell: c}
	s.Labels = maps.Clone(c.Labels)
	s.small = withinHints(&s.Cell)
	for i, v := range [numStrs]string{c.Name, c.Zone, c.Runtime, c.Version, cellState(&c)} {
		s.strs[i] = types.String(v)
	}
	s.cap = &boxedCapacity{cap: c.Capacity, ints: [numInts]ref.Val{
		types.Int(c.Capacity.MemoryMB), types.Int(c.Capacity.DiskMB), types.Int(c.Capacity.Containers)}}
	return s
}

// cellState returns the cell's state with the default applied: an empty
// state means ready, so `cell.state == "ready"` holds for such cells.
func cellState(c *model.Cell) string {
	if c.State == "" {
		return model.CellReady
	}
	return c.State
}

func stringField(idx int, f func(*model.Cell) string) field {
	return field{
		typ: types.StringType,
		get: func(o any) any {
			if s, ok := o.(*stored); ok {
				return s.strs[idx]
			}
			if c := cellOf(o); c != nil {
				return f(c)
			}
			return ""
		},
		isSet: func(o any) bool {
			c := cellOf(o)
			return c != nil && f(c) != ""
		},
	}
}

func intField(idx int, f func(*model.Capacity) int64) field {
	return field{
		typ: types.IntType,
		get: func(o any) any {
			if b, ok := o.(*boxedCapacity); ok {
				return b.ints[idx]
			}
			if c := capacityOf(o); c != nil {
				return f(c)
			}
			return int64(0)
		},
		isSet: func(o any) bool {
			c := capacityOf(o)
			return c != nil && f(c) != 0
		},
	}
}

// cellFields are the attributes of `cell` visible to selectors, named as in
// the cell record's JSON form.
var cellFields = map[string]field{
	"name":    stringField(strName, func(c *model.Cell) string { return c.Name }),
	"zone":    stringField(strZone, func(c *model.Cell) string { return c.Zone }),
	"runtime": stringField(strRuntime, func(c *model.Cell) string { return c.Runtime }),
	"version": stringField(strVersion, func(c *model.Cell) string { return c.Version }),
	"state":   stringField(strState, cellState),
	"labels": {
		typ: types.NewMapType(types.StringType, types.StringType),
		get: func(o any) any {
			if c := cellOf(o); c != nil && c.Labels != nil {
				return c.Labels
			}
			return map[string]string{}
		},
		isSet: func(o any) bool {
			c := cellOf(o)
			return c != nil && len(c.Labels) > 0
		},
	},
	"capacity": {
		typ: capacityType,
		get: func(o any) any {
			if s, ok := o.(*stored); ok {
				return s.cap
			}
			if c := cellOf(o); c != nil {
				return &c.Capacity
			}
			return &model.Capacity{}
		},
		isSet: func(o any) bool { return cellOf(o) != nil },
	},
}

var capacityFields = map[string]field{
	"memoryMB":   intField(intMemory, func(c *model.Capacity) int64 { return c.MemoryMB }),
	"diskMB":     intField(intDisk, func(c *model.Capacity) int64 { return c.DiskMB }),
	"containers": intField(intContainers, func(c *model.Capacity) int64 { return int64(c.Containers) }),
}

// cellFieldNames lists the fields in declaration order, for error messages
// and FindStructFieldNames.
var (
	cellFieldNames     = []string{"name", "zone", "labels", "capacity", "runtime", "version", "state"}
	capacityFieldNames = []string{"memoryMB", "diskMB", "containers"}
)

// provider declares the cell types to the CEL checker and planner and
// delegates every other type to the environment's base provider. It is
// immutable after construction and safe for concurrent use.
type provider struct {
	base    types.Provider
	adapter types.Adapter
}

func (p *provider) fields(typeName string) (map[string]field, []string, bool) {
	switch typeName {
	case cellTypeName:
		return cellFields, cellFieldNames, true
	case capacityTypeName:
		return capacityFields, capacityFieldNames, true
	}
	return nil, nil, false
}

// EnumValue implements types.Provider.
func (p *provider) EnumValue(name string) ref.Val { return p.base.EnumValue(name) }

// FindIdent implements types.Provider.
func (p *provider) FindIdent(name string) (ref.Val, bool) { return p.base.FindIdent(name) }

// FindStructType implements types.Provider.
func (p *provider) FindStructType(name string) (*types.Type, bool) {
	switch name {
	case cellTypeName:
		return types.NewTypeTypeWithParam(cellType), true
	case capacityTypeName:
		return types.NewTypeTypeWithParam(capacityType), true
	}
	return p.base.FindStructType(name)
}

// FindStructFieldNames implements types.Provider.
func (p *provider) FindStructFieldNames(name string) ([]string, bool) {
	if _, names, ok := p.fields(name); ok {
		return append([]string(nil), names...), true
	}
	return p.base.FindStructFieldNames(name)
}

// FindStructFieldType implements types.Provider. The returned accessors let
// the planner read fields straight from *model.Cell.
func (p *provider) FindStructFieldType(name, fieldName string) (*types.FieldType, bool) {
	fs, _, ok := p.fields(name)
	if !ok {
		return p.base.FindStructFieldType(name, fieldName)
	}
	f, ok := fs[fieldName]
	if !ok {
		return nil, false
	}
	return &types.FieldType{
		Type:    f.typ,
		IsSet:   f.isSet,
		GetFrom: func(o any) (any, error) { return f.get(o), nil },
	}, true
}

// NewValue implements types.Provider. Cells cannot be constructed inside a
// selector.
func (p *provider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, _, ok := p.fields(name); ok {
		return types.NewErr("%s cannot be constructed in a selector", name)
	}
	return p.base.NewValue(name, fields)
}

// NativeToValue implements types.Adapter: cells and capacities become
// objectVal, everything else goes to the base adapter.
func (p *provider) NativeToValue(v any) ref.Val {
	switch v := v.(type) {
	case *model.Cell:
		return &objectVal{p: p, typ: cellType, fields: cellFields, v: v}
	case *stored:
		return &objectVal{p: p, typ: cellType, fields: cellFields, v: &v.Cell}
	case *model.Capacity:
		return &objectVal{p: p, typ: capacityType, fields: capacityFields, v: v}
	case *boxedCapacity:
		return &objectVal{p: p, typ: capacityType, fields: capacityFields, v: &v.cap}
	}
	return p.adapter.NativeToValue(v)
}

// objectVal is a cell or capacity used as a whole value in an expression
// (passed to a function or compared). Field reads go through the typed
// accessors, like direct field selection does.
type objectVal struct {
	p      *provider
	typ    *types.Type
	fields map[string]field
	v      any
}

// ConvertToNative implements ref.Val.
func (o *objectVal) ConvertToNative(t reflect.Type) (any, error) {
	if reflect.TypeOf(o.v) == t {
		return o.v, nil
	}
	if rv := reflect.ValueOf(o.v); rv.Kind() == reflect.Pointer && rv.Type().Elem() == t {
		return rv.Elem().Interface(), nil
	}
	return nil, fmt.Errorf("cannot convert %s to %v", o.typ.TypeName(), t)
}

// ConvertToType implements ref.Val.
func (o *objectVal) ConvertToType(t ref.Type) ref.Val {
	switch {
	case t == types.TypeType:
		return o.typ
	case t.TypeName() == o.typ.TypeName():
		return o
	}
	return types.NewErr("type conversion error from %s to %s", o.typ.TypeName(), t.TypeName())
}

// Equal implements ref.Val: two objects are equal when all their fields are.
func (o *objectVal) Equal(other ref.Val) ref.Val {
	x, ok := other.(*objectVal)
	if !ok || x.typ.TypeName() != o.typ.TypeName() {
		return types.False
	}
	for _, f := range o.fields {
		a, b := o.p.NativeToValue(f.get(o.v)), o.p.NativeToValue(f.get(x.v))
		if a.Equal(b) != types.True {
			return types.False
		}
	}
	return types.True
}

// Type implements ref.Val.
func (o *objectVal) Type() ref.Type { return o.typ }

// Value implements ref.Val; it returns the *model.Cell or *model.Capacity,
// which the planner's field accessors accept.
func (o *objectVal) Value() any { return o.v }

// IsSet implements traits.FieldTester.
func (o *objectVal) IsSet(name ref.Val) ref.Val {
	f, ok := o.fields[string(asString(name))]
	if !ok {
		return types.NewErr("no such field %v", name)
	}
	return types.Bool(f.isSet(o.v))
}

// Get implements traits.Indexer.
func (o *objectVal) Get(name ref.Val) ref.Val {
	f, ok := o.fields[string(asString(name))]
	if !ok {
		return types.NewErr("no such field %v", name)
	}
	return o.p.NativeToValue(f.get(o.v))
}

func asString(v ref.Val) types.String {
	s, _ := v.(types.String)
	return s
}
