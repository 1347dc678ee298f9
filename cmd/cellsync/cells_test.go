package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cellsync/cellsync/ops"
)

func TestCells(t *testing.T) {
	u := startUp(t, "", "--runtime", "sim")
	waitStatus(t, u.target, "repo-example rolled out", rolledOut)
	etcd := strings.Join(u.target.Etcd, ",")

	out, err := run(t, "cells", "--etcd-endpoints", etcd)
	if err != nil {
		t.Fatal(err)
	}
	header := "CELL    ZONE  LABELS    MEMORY MB (USED/CAP)  DISK MB (USED/CAP)  CONTAINERS (USED/CAP)  INSTANCES  RUNNING  CRASHED  HEALTH\n"
	if !strings.Contains(out, header) {
		t.Errorf("cells lacks the header:\n%s", out)
	}
	for _, name := range []string{"cell-1", "cell-2", "cell-3"} {
		f := strings.Fields(fieldsOf(out, name))
		if len(f) != 9 || f[1] != "env=prod" || !strings.HasSuffix(f[2], "/4096") || f[8] != "ok" {
			t.Errorf("row of %s = %q", name, f)
		}
	}

	out, err = run(t, "cells", "--etcd-endpoints", etcd, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var cells []ops.CellInfo
	if err := json.Unmarshal([]byte(out), &cells); err != nil {
		t.Fatalf("cells -o json: %v\n%s", err, out)
	}
	var instances, running int
	var memory int64
	for _, c := range cells {
		instances += c.Instances
		running += c.Running
		memory += c.Used.MemoryMB
	}
	// repo-example: web 4×64 MB, worker 2×32, node-agent 3×16 (the
	// completed Task no longer reserves anything).
	if len(cells) != 3 || instances != 9 || running != 9 || memory != 4*64+2*32+3*16 {
		t.Errorf("cells = %+v: %d instances, %d running, %d MB, want 9, 9, %d", cells, instances, running, memory, 4*64+2*32+3*16)
	}

	// With only the hub, the status's view: no labels nor capacity.
	out, err = run(t, "cells", "--hub", u.target.Hub)
	if err != nil {
		t.Fatal(err)
	}
	if f := fieldsOf(out, "cell-2"); !strings.HasPrefix(f, "z2 - - - -") || !strings.HasSuffix(f, "ok") {
		t.Errorf("cells --hub row of cell-2 = %q:\n%s", f, out)
	}

	if _, err := run(t, "cells", "--etcd-endpoints", "http://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "pass --etcd-endpoints") {
		t.Errorf("cells against no etcd: err = %v", err)
	}
}
