package model

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"

	yaml "sigs.k8s.io/yaml/goyaml.v3"
)

// MaxDocuments bounds the documents one file may hold, so a hostile file
// cannot make the hub allocate without limit.
const MaxDocuments = 1000

// ParseFile parses every YAML document of one workload file and validates each
// object on its own. It returns the objects that are valid and one *Error per
// problem; an invalid document yields no object, so callers can keep the last
// good version of it. Empty documents are skipped. Rules that span documents
// and files are in Check.
func ParseFile(file string, data []byte) ([]Object, []error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var objs []Object
	var errs []error
	for doc := 0; ; doc++ {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// A syntax error ends the file: the YAML stream cannot be resynchronised.
			return objs, append(errs, &Error{File: file, Doc: doc, Line: syntaxLine(err), Msg: yamlMessage(err)})
		}
		if doc >= MaxDocuments {
			return objs, append(errs, &Error{File: file, Doc: doc, Line: root.Line, Msg: fmt.Sprintf("more than %d documents in one file", MaxDocuments)})
		}
		if len(root.Content) == 0 || isNull(root.Content[0]) {
			continue
		}
		d := &decoder{file: file, doc: doc, lines: map[string]int{}}
		obj := d.object(root.Content[0], "")
		if obj != nil {
			d.validateTop(obj)
		}
		if len(d.errs) > 0 {
			sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].(*Error).Line < d.errs[j].(*Error).Line })
			errs = append(errs, d.errs...)
			continue
		}
		objs = append(objs, obj)
	}
	return objs, errs
}

// decoder turns one YAML document into a typed object. It records the line of
// every field path so that validation can point at the offending line, and it
// collects every problem rather than stopping at the first.
type decoder struct {
	file  string
	doc   int
	lines map[string]int
	// broken holds the paths that failed to decode, so that validation does
	// not report a second, confusing error for the same field.
	broken map[string]bool
	errs   []error
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	if d.broken == nil {
		d.broken = map[string]bool{}
	}
	d.broken[path] = true
	d.errs = append(d.errs, &Error{File: d.file, Doc: d.doc, Line: line, Field: path, Msg: fmt.Sprintf(format, args...)})
}

// object decodes a mapping whose kind field selects its Go type.
func (d *decoder) object(n *yaml.Node, path string) Object {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping with apiVersion, kind and metadata")
		return nil
	}
	kindNode := lookup(n, "kind")
	if kindNode == nil {
		d.fail(n, join(path, "kind"), "is required (one of LRP, Task, Config, SelectorSyncSet)")
		return nil
	}
	obj := newObject(Kind(kindNode.Value))
	if obj == nil {
		d.fail(kindNode, join(path, "kind"), "unknown kind %q (want LRP, Task, Config or SelectorSyncSet)", kindNode.Value)
		return nil
	}
	d.value(n, reflect.ValueOf(obj).Elem(), path)
	h := obj.Head()
	h.Source = Source{File: d.file, Doc: d.doc, Line: kindNode.Line}
	return obj
}

var resourceType = reflect.TypeOf(Resource{})

// value decodes n into v, which must be settable.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	n = resolve(n)
	if _, ok := d.lines[path]; !ok {
		d.lines[path] = n.Line
	}
	if isNull(n) {
		return
	}
	if v.Type() == amountType {
		d.amount(n, v, path)
		return
	}
	if v.Type() == resourceType {
		obj := d.object(n, path)
		switch o := obj.(type) {
		case *LRP:
			v.Set(reflect.ValueOf(Resource{LRP: o}))
		case *Task:
			v.Set(reflect.ValueOf(Resource{Task: o}))
		case *Config:
			v.Set(reflect.ValueOf(Resource{Config: o}))
		case *SelectorSyncSet:
			d.fail(n, path, "a SelectorSyncSet cannot contain another SelectorSyncSet")
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.value(n, elem.Elem(), path)
		v.Set(elem)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "must be a mapping, got %s", describe(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := resolve(n.Content[i]), n.Content[i+1]
			if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
				d.fail(k, join(path, k.Value), "duplicate key")
				continue
			}
			elem := reflect.New(v.Type().Elem()).Elem()
			d.value(val, elem, join(path, k.Value))
			m.SetMapIndex(reflect.ValueOf(k.Value), elem)
		}
		v.Set(m)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "must be a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		// Unquoted numbers and booleans are accepted where a string is
		// expected (PORT: 8080 in env), as people write them.
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "must be a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int32, reflect.Int64:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.fail(n, path, "must be an integer, got %s", describe(n))
			return
		}
		i, err := strconv.ParseInt(n.Value, 0, v.Type().Bits())
		if err != nil {
			d.fail(n, path, "integer %s out of range", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.fail(n, path, "must be true or false, got %s", describe(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.fail(n, path, "must be true or false")
			return
		}
		v.SetBool(b)
	default:
		panic(fmt.Sprintf("model: no decoding for %s", v.Type())) // broken invariant: a type in this package
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping, got %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		fp := join(path, k.Value)
		if seen[k.Value] {
			d.fail(k, fp, "duplicate key")
			continue
		}
		seen[k.Value] = true
		idx, ok := fields[k.Value]
		if !ok {
			if near := suggest(k.Value, fields); near != "" {
				d.fail(k, fp, "unknown field (did you mean %q?)", near)
				// The intended field reads as missing; saying so again would confuse.
				d.broken[join(path, near)] = true
				continue
			}
			d.fail(k, fp, "unknown field")
			continue
		}
		d.lines[fp] = k.Line
		d.value(val, v.FieldByIndex(idx), fp)
	}
}

// fieldsOf maps JSON names to field indexes, flattening inline structs.
func fieldsOf(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" {
			for k, idx := range fieldsOf(f.Type) {
				out[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = []int{i}
	}
	return out
}

// suggest returns the known field that differs from name only in case, the
// commonest slip (memoryMb for memoryMB), or "".
func suggest(name string, fields map[string][]int) string {
	for k := range fields {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return ""
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return resolve(n.Content[0])
	}
	return n
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if resolve(m.Content[i]).Value == key {
			return resolve(m.Content[i+1])
		}
	}
	return nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!str":
		return fmt.Sprintf("string %q", n.Value)
	case "!!int", "!!float":
		return "number " + n.Value
	case "!!bool":
		return "boolean " + n.Value
	}
	return n.Value
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// syntaxLine extracts the line from a YAML syntax error, whose only structured
// form is its text ("yaml: line 7: ..."). Zero when there is none.
func syntaxLine(err error) int {
	msg := err.Error()
	_, rest, ok := strings.Cut(msg, "line ")
	if !ok {
		return 0
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	line, _ := strconv.Atoi(rest[:end])
	return line
}

func yamlMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "line ") {
		msg = rest
	}
	return "invalid YAML: " + msg
}
