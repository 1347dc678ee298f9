package rollout

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/cellsync/cellsync/model"
)

// SetVersion is the version of a set's items on a cell, what a set's
// rollout moves cells between: a hash of each item's kind, name, body and
// pinned Configs, in any order. LRP indexes do not count, so scaling an LRP
// of the set is no new version.
func SetVersion(items []model.Item) string {
	sorted := slices.Clone(items)
	slices.SortFunc(sorted, func(a, b model.Item) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Spec, b.Spec))
	})
	h := sha256.New()
	for _, it := range sorted {
		for _, s := range []string{string(it.Kind), it.Name, model.InstanceVersion(it.Spec, it.Configs)} {
			h.Write([]byte(s))
			h.Write([]byte{0})
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
