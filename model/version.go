package model

import (
	"crypto/sha256"
	"encoding/hex"
)

// An LRP instance's version is what it runs: the hash of its cell body (the
// LRP as the hub stores it at specs/<hash>, without the fields that only
// place it or pace its rollout) and the hashes of the Config bodies it
// mounts. A change of command, image, env, resources, health check or of a
// mounted Config is a new version; scaling or moving an instance never is.

// MountedConfig names the body of one Config that an LRP item's instances
// mount: Spec is the hash of the Config's body at specs/<hash>, or "" for a
// Config the cell does not have.
type MountedConfig struct {
	Name string `json:"name"`
	Spec string `json:"spec"`
}

// InstanceVersion returns the version of an instance running body spec with
// configs mounted. configs must follow the order of the body's configs
// references, so that the result is the same wherever it is computed (the
// cell agent labels containers with it, the hub compares it). An instance
// that mounts no Config has its body hash as its version.
func InstanceVersion(spec string, configs []MountedConfig) string {
	if len(configs) == 0 {
		return spec
	}
	h := sha256.New()
	h.Write([]byte(spec))
	for _, c := range configs {
		h.Write([]byte{0})
		h.Write([]byte(c.Name))
		h.Write([]byte{0})
		h.Write([]byte(c.Spec))
	}
	return hex.EncodeToString(h.Sum(nil))
}
