package model

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	dnsLabel   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	labelValue = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`)
	labelName  = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	dnsPrefix  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	envName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	configKey  = regexp.MustCompile(`^[-._A-Za-z0-9]+$`)
	// image: [host[:port]/]path[:tag][@digest], as the OCI distribution spec
	// and Docker's reference grammar allow.
	imageRef = regexp.MustCompile(`^` +
		`(?:[A-Za-z0-9](?:[-A-Za-z0-9.]*[A-Za-z0-9])?(?::[0-9]+)?/)?` +
		`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` +
		`(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?` +
		`(?:@sha256:[a-f0-9]{64})?$`)
)

func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("is required")
	case len(name) > maxNameLen:
		return fmt.Errorf("%q is longer than %d characters", name, maxNameLen)
	case !dnsLabel.MatchString(name):
		return fmt.Errorf("%q must be a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

func checkLabelKey(key string) error {
	prefix, name, hasPrefix := strings.Cut(key, "/")
	if !hasPrefix {
		name, prefix = prefix, ""
	}
	if hasPrefix && (prefix == "" || len(prefix) > 253 || !dnsPrefix.MatchString(prefix)) {
		return fmt.Errorf("label key %q: prefix must be a DNS subdomain", key)
	}
	if len(name) == 0 || len(name) > maxNameLen || !labelName.MatchString(name) {
		return fmt.Errorf("label key %q must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", key)
	}
	return nil
}

// validator checks one decoded document; fail finds the line of a field
// path in the document, falling back to its nearest present parent.
type validator struct{ *decoder }

func (d *decoder) validateTop(obj Object) {
	v := validator{d}
	h := obj.Head()
	if h.APIVersion != APIVersion {
		v.fail("apiVersion", "must be %q, got %q", APIVersion, h.APIVersion)
	}
	v.object(obj, "", false)
}

func (v validator) fail(path, format string, args ...any) {
	for p := path; ; {
		if v.broken[p] {
			return
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	line := 0
	if v.b.reported < MaxErrors {
		line = v.lineOf(path)
	}
	v.decoder.fail(line, path, format, args...)
}

// object validates one object; nested is true inside a SelectorSyncSet.
func (v validator) object(obj Object, path string, nested bool) {
	h := obj.Head()
	if nested && h.APIVersion != "" && h.APIVersion != APIVersion {
		v.fail(join(path, "apiVersion"), "must be %q or omitted, got %q", APIVersion, h.APIVersion)
	}
	v.meta(&h.Metadata, join(path, "metadata"))
	v.pauseAnnotation(&h.Metadata, join(path, "metadata"))
	spec := join(path, "spec")
	switch o := obj.(type) {
	case *LRP:
		v.process(&o.Spec.Process, spec, nested)
		if n := o.Spec.Replicas(); n < 0 || n > MaxInstances {
			v.fail(join(spec, "instances"), "must be between 0 and %d, got %d", MaxInstances, n)
		}
		switch o.Spec.Spread {
		case "", SpreadZone, SpreadNone:
		default:
			v.fail(join(spec, "spread"), "must be %q or %q, got %q", SpreadZone, SpreadNone, o.Spec.Spread)
		}
		if hc := o.Spec.HealthCheck; hc != nil {
			v.healthCheck(hc, join(spec, "healthCheck"))
		}
		v.network(&o.Spec, spec)
		if u := o.Spec.Update; u != nil {
			v.update(u, join(spec, "update"), nested)
		}
	case *Task:
		v.process(&o.Spec.Process, spec, nested)
		v.taskSpec(&o.Spec, spec)
	case *Config:
		for k := range o.Data {
			if !configKey.MatchString(k) || k == "." || k == ".." {
				v.fail(join(join(path, "data"), k), "key must be a file name of letters, digits, '-', '_' and '.'")
			}
		}
		if len(o.Data) > MaxConfigKeys {
			v.fail(join(path, "data"), "has %d keys, more than %d", len(o.Data), MaxConfigKeys)
		}
	case *SelectorSyncSet:
		v.set(o, spec)
	}
}

func (v validator) meta(m *Meta, path string) {
	if err := checkName(m.Name); err != nil {
		v.fail(join(path, "name"), "%v", err)
	}
	if len(m.Labels) > MaxLabels {
		v.fail(join(path, "labels"), "has %d labels, more than %d", len(m.Labels), MaxLabels)
	}
	if len(m.Annotations) > MaxLabels {
		v.fail(join(path, "annotations"), "has %d annotations, more than %d", len(m.Annotations), MaxLabels)
	}
	for k, val := range m.Annotations {
		if len(val) > MaxAnnotationBytes {
			v.fail(join(join(path, "annotations"), k), "is %d bytes, more than %d", len(val), MaxAnnotationBytes)
		}
	}
	for k, val := range m.Labels {
		if err := checkLabelKey(k); err != nil {
			v.fail(join(join(path, "labels"), k), "%v", err)
		}
		if len(val) > maxLabelValue || !labelValue.MatchString(val) {
			v.fail(join(join(path, "labels"), k), "label value %q must be at most 63 letters, digits, '-', '_' or '.'", val)
		}
	}
}

func (v validator) process(p *Process, path string, nested bool) {
	switch {
	case nested && p.Selector != "":
		v.fail(join(path, "selector"), "resources of a SelectorSyncSet use the set's selector; remove this one")
	case len(p.Selector) > maxSelectorLen:
		v.fail(join(path, "selector"), "is longer than %d characters", maxSelectorLen)
	}
	switch {
	case p.Image == "":
		v.fail(join(path, "image"), "is required")
	case len(p.Image) > MaxImageLen:
		v.fail(join(path, "image"), "is %d bytes, more than %d", len(p.Image), MaxImageLen)
	case !imageRef.MatchString(p.Image):
		v.fail(join(path, "image"), "%q is not a valid image reference (host/name:tag or name@sha256:digest)", p.Image)
	}
	v.args(p.Command, join(path, "command"))
	if len(p.Command) > 0 && strings.TrimSpace(p.Command[0]) == "" {
		v.fail(join(path, "command")+"[0]", "the program to run must not be empty")
	}
	envBytes := 0
	for k, val := range p.Env {
		if !envName.MatchString(k) {
			v.fail(join(join(path, "env"), k), "environment variable names are letters, digits and '_', not starting with a digit")
		}
		envBytes += len(k) + len(val)
	}
	if len(p.Env) > MaxEnv || envBytes > MaxEnvBytes {
		v.fail(join(path, "env"), "has %d variables of %d bytes, more than %d or %d", len(p.Env), envBytes, MaxEnv, MaxEnvBytes)
	}
	if r := p.Resources; r != nil {
		if r.MemoryMB <= 0 || r.MemoryMB > MaxMemoryMB {
			v.fail(join(path, "resources.memoryMB"), "must be between 1 and %d, got %d", MaxMemoryMB, r.MemoryMB)
		}
		if r.DiskMB <= 0 || r.DiskMB > MaxDiskMB {
			v.fail(join(path, "resources.diskMB"), "must be between 1 and %d, got %d", MaxDiskMB, r.DiskMB)
		}
	}
	if len(p.Configs) > MaxConfigRefs {
		v.fail(join(path, "configs"), "has %d Configs, more than %d", len(p.Configs), MaxConfigRefs)
	}
	seen := map[string]bool{}
	for i, c := range p.Configs {
		cp := fmt.Sprintf("%s.configs[%d]", path, i)
		if err := checkName(c.Name); err != nil {
			v.fail(cp+".name", "%v", err)
		}
		if seen[c.Name] {
			v.fail(cp+".name", "config %q is referenced twice", c.Name)
		}
		seen[c.Name] = true
		if c.MountPath == "" && !c.Env {
			v.fail(cp, "set mountPath, env: true, or both")
		}
		switch {
		case len(c.MountPath) > MaxPathLen:
			v.fail(cp+".mountPath", "is %d bytes, more than %d", len(c.MountPath), MaxPathLen)
		case c.MountPath != "" && (!strings.HasPrefix(c.MountPath, "/") || strings.Contains(c.MountPath, "..")):
			v.fail(cp+".mountPath", "must be an absolute path without '..', got %q", c.MountPath)
		}
	}
	switch p.Network {
	case "", NetworkBridge, NetworkHost, NetworkNone:
	default:
		v.fail(join(path, "network"), "must be %q, %q or %q, got %q", NetworkBridge, NetworkHost, NetworkNone, p.Network)
	}
}

func (v validator) taskSpec(s *TaskSpec, path string) {
	if n := s.TimeoutSeconds; n < 0 || n > MaxTaskTimeoutSeconds {
		v.fail(join(path, "timeoutSeconds"), "must be between 0 (no limit) and %d (7 days), got %d", MaxTaskTimeoutSeconds, n)
	}
	switch f := s.ResultFile; {
	case f == "":
	case len(f) > maxResultFileLen:
		v.fail(join(path, "resultFile"), "is longer than %d characters", maxResultFileLen)
	case !strings.HasPrefix(f, "/") || strings.ContainsRune(f, 0) || strings.HasSuffix(f, "/"):
		v.fail(join(path, "resultFile"), "must be the absolute path of a file inside the container, got %q", f)
	}
}

func (v validator) healthCheck(hc *HealthCheck, path string) {
	set := 0
	for _, ok := range []bool{len(hc.Exec) > 0, hc.TCPPort != 0, hc.HTTP != nil} {
		if ok {
			set++
		}
	}
	if set != 1 {
		v.fail(path, "set exactly one of exec, tcpPort and http")
	}
	if hc.TCPPort < 0 || hc.TCPPort > 65535 {
		v.fail(join(path, "tcpPort"), "must be between 1 and 65535, got %d", hc.TCPPort)
	}
	v.args(hc.Exec, join(path, "exec"))
	for _, f := range []struct {
		name   string
		n, max int
	}{
		{"intervalSeconds", hc.IntervalSeconds, MaxCheckSeconds},
		{"timeoutSeconds", hc.TimeoutSeconds, MaxCheckSeconds},
		{"failureThreshold", hc.FailureThreshold, MaxFailureThreshold},
	} {
		if f.n < 0 || f.n > f.max {
			v.fail(join(path, f.name), "must be between 0 (the default) and %d, got %d", f.max, f.n)
		}
	}
}

// args checks a command line: no NUL bytes, at most MaxArgs arguments of
// MaxArgBytes in total.
func (v validator) args(args []string, path string) {
	total := 0
	for i, arg := range args {
		if strings.ContainsRune(arg, 0) {
			v.fail(fmt.Sprintf("%s[%d]", path, i), "contains a NUL byte")
		}
		total += len(arg)
	}
	if len(args) > MaxArgs || total > MaxArgBytes {
		v.fail(path, "has %d arguments of %d bytes, more than %d or %d", len(args), total, MaxArgs, MaxArgBytes)
	}
}

func (v validator) set(s *SelectorSyncSet, path string) {
	switch s.Spec.ResourceApplyMode {
	case "", ApplyUpsert, ApplySync:
	default:
		v.fail(join(path, "resourceApplyMode"), "must be %q or %q, got %q", ApplyUpsert, ApplySync, s.Spec.ResourceApplyMode)
	}
	if len(s.Spec.Selector) > maxSelectorLen {
		v.fail(join(path, "selector"), "is longer than %d characters", maxSelectorLen)
	}
	switch n := len(s.Spec.Resources); {
	case n == 0:
		v.fail(join(path, "resources"), "must list at least one Config, LRP or Task")
	case n > MaxSetResources:
		v.fail(join(path, "resources"), "has %d resources, more than %d", n, MaxSetResources)
	}
	if r := s.Spec.Rollout; r != nil {
		v.setRollout(r, join(path, "rollout"))
	}
	seen := map[string]int{}
	for i, r := range s.Spec.Resources {
		rp := fmt.Sprintf("%s.resources[%d]", path, i)
		obj := r.Object()
		if obj == nil {
			continue // decoding already reported it
		}
		v.object(obj, rp, true)
		key := string(obj.Head().Kind) + "/" + obj.Head().Metadata.Name
		if j, dup := seen[key]; dup {
			v.fail(rp+".metadata.name", "%s is already defined in resources[%d]", key, j)
		}
		seen[key] = i
	}
}
