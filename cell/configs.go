package cell

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cellsync/cellsync/model"
)

// configFiles materialises Configs as directories of files, one file per
// key, under <StateDir>/configs/<name>-<hash>. A directory is written once
// (its content never changes, as the hash names the body) and removed by gc
// once no desired Config uses it.
type configFiles struct {
	dir string
}

func (c configFiles) path(name, hash string) string {
	return filepath.Join(c.dir, "configs", name+"-"+hash[:min(16, len(hash))])
}

// ensure writes the Config's directory if it is missing and returns it.
func (c configFiles) ensure(cfg *model.Config, hash string) (string, error) {
	if c.dir == "" {
		return "", fmt.Errorf("materialise config %s: the agent has no state directory", cfg.Metadata.Name)
	}
	dst := c.path(cfg.Metadata.Name, hash)
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("materialise config %s: %w", cfg.Metadata.Name, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".tmp-"+cfg.Metadata.Name+"-")
	if err != nil {
		return "", fmt.Errorf("materialise config %s: %w", cfg.Metadata.Name, err)
	}
	defer os.RemoveAll(tmp)
	for k, v := range cfg.Data {
		if !fileKey(k) {
			return "", fmt.Errorf("materialise config %s: key %q is not a file name", cfg.Metadata.Name, k)
		}
		if err := os.WriteFile(filepath.Join(tmp, k), []byte(v), 0o644); err != nil {
			return "", fmt.Errorf("materialise config %s: %w", cfg.Metadata.Name, err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("materialise config %s: %w", cfg.Metadata.Name, err)
	}
	if err := os.Rename(tmp, dst); err != nil && !os.IsExist(err) {
		if _, serr := os.Stat(dst); serr != nil {
			return "", fmt.Errorf("materialise config %s: %w", cfg.Metadata.Name, err)
		}
	}
	return dst, nil
}

// gc removes the directories of Configs not in keep.
func (c configFiles) gc(keep []configWant) error {
	if c.dir == "" {
		return nil
	}
	root := filepath.Join(c.dir, "configs")
	ents, err := os.ReadDir(root)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clean configs: %w", err)
	}
	want := map[string]bool{}
	for _, cw := range keep {
		want[filepath.Base(c.path(cw.cfg.Metadata.Name, cw.hash))] = true
	}
	for _, e := range ents {
		if want[e.Name()] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
			return fmt.Errorf("clean configs: %w", err)
		}
	}
	return nil
}

// fileKey reports whether a Config key can be a file name.
func fileKey(k string) bool {
	return k != "" && k != "." && k != ".." && !strings.ContainsAny(k, "/\x00")
}

// envName reports whether a Config key can be an environment variable.
func envName(k string) bool {
	if k == "" || strings.ContainsAny(k, "=\x00") {
		return false
	}
	return true
}

// containerSpec builds the runtime's view of a Process: command, env with
// Config values, memory limit and Config mounts.
func (c configFiles) containerSpec(id string, labels map[string]string, p *model.Process, configs map[string]configWant) (ContainerSpec, error) {
	spec := ContainerSpec{
		ID:          id,
		Labels:      labels,
		Image:       p.Image,
		Command:     p.Command,
		MemoryBytes: p.Needs().MemoryMB << 20,
		Network:     p.NetworkMode(),
	}
	env := map[string]string{}
	for _, ref := range p.Configs {
		cw, ok := configs[ref.Name]
		if !ok {
			return ContainerSpec{}, fmt.Errorf("config %s is not on the cell", ref.Name)
		}
		if ref.Env {
			for k, v := range cw.cfg.Data {
				if envName(k) {
					env[k] = v
				}
			}
		}
		if ref.MountPath != "" {
			dir, err := c.ensure(cw.cfg, cw.hash)
			if err != nil {
				return ContainerSpec{}, err
			}
			spec.Mounts = append(spec.Mounts, Mount{Source: dir, Target: ref.MountPath, ReadOnly: true})
		}
	}
	// The workload's own env wins over Config values.
	for k, v := range p.Env {
		env[k] = v
	}
	for k, v := range env {
		spec.Env = append(spec.Env, k+"="+v)
	}
	sort.Strings(spec.Env)
	return spec, nil
}
