package imagebuild

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readLayout unpacks an image-layout tar into name → content.
func readLayout(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = data
	}
}

func blobOf(t *testing.T, files map[string][]byte, digest string) []byte {
	t.Helper()
	b, ok := files["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")]
	if !ok {
		t.Fatalf("blob %s missing", digest)
	}
	sum := sha256.Sum256(b)
	if "sha256:"+hex.EncodeToString(sum[:]) != digest {
		t.Fatalf("blob %s has the wrong digest", digest)
	}
	return b
}

func TestBusybox(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "busybox")
	if err := os.WriteFile(bin, []byte("#!fake busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Busybox(&buf, "cellsync.local/busybox:1", bin); err != nil {
		t.Fatal(err)
	}
	files := readLayout(t, buf.Bytes())
	var index struct {
		Manifests []descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations["io.containerd.image.name"] != "cellsync.local/busybox:1" || index.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "1" {
		t.Fatalf("index = %+v", index)
	}
	var manifest struct {
		Config descriptor   `json:"config"`
		Layers []descriptor `json:"layers"`
	}
	if err := json.Unmarshal(blobOf(t, files, index.Manifests[0].Digest), &manifest); err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(blobOf(t, files, manifest.Config.Digest), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Layers) != 1 || len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != manifest.Layers[0].Digest {
		t.Fatalf("manifest %+v, config %+v", manifest, cfg)
	}
	layer := readLayoutEntries(t, blobOf(t, files, manifest.Layers[0].Digest))
	if string(layer["bin/busybox"].data) != "#!fake busybox" || layer["bin/sh"].link != "busybox" || layer["bin/sleep"].link != "busybox" {
		t.Fatalf("layer = %v", layer)
	}
}

type entry struct {
	data []byte
	link string
}

func readLayoutEntries(t *testing.T, b []byte) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		out[h.Name] = entry{data: data, link: h.Linkname}
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name    string
		img     Image
		wantErr bool
	}{
		{name: "ok", img: Image{Ref: "x/y:1", Files: []File{{Path: "a", Mode: 0o644, Data: []byte("a")}}}},
		{name: "no ref", img: Image{}, wantErr: true},
		{name: "empty path", img: Image{Ref: "x/y:1", Files: []File{{Path: "/"}}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Write(io.Discard, tt.img)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
	if err := Busybox(io.Discard, "x/y:1", "/nonexistent"); err == nil {
		t.Fatal("want an error for a missing busybox")
	}
}
