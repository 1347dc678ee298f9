package hub

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/cellsync/cellsync/apply"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// Conflict is an object that several workloads put on one cell with
// different values for the same fields. The first workload in name order
// keeps the fields; the others' values are not applied (server-side apply
// without force), so the hub never flaps between them.
type Conflict struct {
	Cell     string   `json:"cell"`
	Object   string   `json:"object"`
	Manager  string   `json:"manager"`
	Fields   []string `json:"fields"`
	Owners   []string `json:"owners"`
	Workload string   `json:"workload"`
}

// intents gives a merge the apply intents of the desired model's bodies.
type intents interface {
	// intent returns the apply intent of a body of the model, decoded once
	// and shared; an error for a body the model does not hold.
	intent(hash string) (*apply.Intent, error)
}

// merged is what merging one cell's shared objects decided.
type merged struct {
	conflicts []Conflict
	// bodies are the merged bodies the cell's records now name, by hash:
	// each must be in etcd before a record names it.
	bodies map[string][]byte
	// refused holds the objects ("Kind/name") whose merged body is over
	// the size limit: their items keep the body the stored record names,
	// or are left out.
	refused map[string]refusal
	// errs are bodies that could not be merged (a body the model lacks),
	// for the log.
	errs []error
}

// refusal is an object refused on a cell, with the sources carrying it.
type refusal struct {
	why  string
	srcs []string
}

// mergeShared finds the objects that several sources put on one cell with
// different bodies and merges them with server-side apply, each source a
// field manager in name order (a conflict keeps the first owner's value and
// is reported). It rewrites want so that every source's item names the
// merged body. A merged body over maxBody bytes is refused for this cell
// only: its items keep the body their stored record names (the last good
// merge), or are dropped when there is none. It does no I/O.
func mergeShared(cell string, want map[string][]model.Item, shared map[string]bool, bodies intents, maxBody int, stored map[string]record) merged {
	var out merged
	if len(shared) == 0 {
		return out
	}
	type ref struct {
		src string
		i   int
	}
	var byObject map[string][]ref
	for src, items := range want {
		for i, it := range items {
			key := objectKey(it)
			if it.Kind == model.KindTask || !shared[key] {
				continue
			}
			if byObject == nil {
				byObject = map[string][]ref{}
			}
			byObject[key] = append(byObject[key], ref{src, i})
		}
	}
	for _, key := range slices.Sorted(maps.Keys(byObject)) {
		refs := byObject[key]
		if len(refs) < 2 {
			continue
		}
		sort.Slice(refs, func(a, b int) bool { return refs[a].src < refs[b].src })
		same := true
		for _, r := range refs[1:] {
			same = same && want[r.src][r.i].Spec == want[refs[0].src][refs[0].i].Spec
		}
		if same {
			continue // co-owned with equal values: nothing to merge
		}
		var live *apply.Object
		for _, r := range refs {
			in, err := bodies.intent(want[r.src][r.i].Spec)
			if err != nil {
				out.errs = append(out.errs, fmt.Errorf("merge %s from %s: %w", key, r.src, err))
				continue
			}
			res, err := apply.Apply(live, r.src, in, apply.Options{})
			var ce *apply.ConflictError
			switch {
			case errors.As(err, &ce):
				c := Conflict{Cell: cell, Object: key, Manager: r.src, Workload: r.src}
				for _, f := range ce.Conflicts {
					c.Fields = append(c.Fields, f.Path)
					c.Owners = append(c.Owners, f.Managers...)
				}
				out.conflicts = append(out.conflicts, c)
			case err != nil:
				out.errs = append(out.errs, fmt.Errorf("merge %s from %s: %w", key, r.src, err))
			default:
				live = res.Object
			}
		}
		if live == nil {
			continue
		}
		body, err := model.Marshal(live.Value)
		if err != nil {
			out.errs = append(out.errs, fmt.Errorf("encode merged %s: %w", key, err))
			continue
		}
		if len(body) > maxBody {
			if out.refused == nil {
				out.refused = map[string]refusal{}
			}
			why := fmt.Sprintf("%s on cell %s: the body merged from %d workloads is %d bytes, over the %d-byte limit of one etcd request; keeping the last merge",
				key, cell, len(refs), len(body), maxBody)
			rf := refusal{why: why}
			for _, r := range refs {
				want[r.src] = keepStored(want[r.src], r.i, stored[r.src])
				rf.srcs = append(rf.srcs, r.src)
			}
			out.refused[key] = rf
			continue
		}
		hash := model.SpecHash(body)
		if out.bodies == nil {
			out.bodies = map[string][]byte{}
		}
		out.bodies[hash] = body
		for _, r := range refs {
			items := slices.Clone(want[r.src])
			items[r.i].Spec = hash
			want[r.src] = items
		}
	}
	return out
}

// keepStored returns items with item i replaced by the stored record's item
// for the same object, or removed when the record has none. Removal keeps
// the indexes of the other refs into items valid: it swaps in a tombstone
// (an empty Kind), which withoutTombstones drops once the merge is done.
func keepStored(items []model.Item, i int, st record) []model.Item {
	items = slices.Clone(items)
	key := objectKey(items[i])
	for _, it := range st.a.Items {
		if !st.broken && objectKey(it) == key {
			items[i].Spec = it.Spec
			return items
		}
	}
	items[i] = model.Item{}
	return items
}

// withoutTombstones drops the items keepStored emptied.
func withoutTombstones(items []model.Item) []model.Item {
	if !slices.ContainsFunc(items, func(it model.Item) bool { return it.Kind == "" }) {
		return items
	}
	return slices.DeleteFunc(slices.Clone(items), func(it model.Item) bool { return it.Kind == "" })
}

func objectKey(it model.Item) string { return string(it.Kind) + "/" + it.Name }

// bodyOp is the write of a merged body.
func bodyOp(hash string, body []byte) store.Op {
	return store.Op{Key: store.SpecKey(hash), Value: body}
}
