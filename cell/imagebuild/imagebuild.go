package imagebuild

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// BusyboxApplets returns the commands linked to busybox in the Busybox image.
func BusyboxApplets() []string {
	return []string{"sh", "sleep", "echo", "cat", "true", "false", "ls", "nc", "httpd", "wget", "env", "test", "grep", "kill", "dd", "head", "yes"}
}

// DefaultPath is the PATH of built images.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Media types of the OCI image specification.
const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar"
)

// File is one entry of an image's only layer.
type File struct {
	// Path is relative to the root, without a leading '/'.
	Path string
	// Mode holds the permission bits.
	Mode int64
	// Data is the content of a regular file.
	Data []byte
	// Link, when set, makes the entry a symbolic link to Link.
	Link string
	// Dir makes the entry a directory.
	Dir bool
}

// Image is what Write packs.
type Image struct {
	// Ref is the image's full reference, e.g. "cellsync.local/busybox:1".
	Ref   string
	Files []File
	// Env and Cmd are the image's default environment and command.
	Env []string
	Cmd []string
}

// Busybox writes an image of the busybox binary at path, with BusyboxApplets
// linked to it in /bin, as an OCI image-layout tar to w.
func Busybox(w io.Writer, ref, path string) error {
	bin, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("build busybox image: %w", err)
	}
	files := []File{
		{Path: "bin", Dir: true, Mode: 0o755},
		{Path: "bin/busybox", Mode: 0o755, Data: bin},
		{Path: "etc", Dir: true, Mode: 0o755},
		{Path: "tmp", Dir: true, Mode: 0o1777},
		{Path: "proc", Dir: true, Mode: 0o555},
		{Path: "sys", Dir: true, Mode: 0o555},
		{Path: "dev", Dir: true, Mode: 0o755},
	}
	for _, a := range BusyboxApplets() {
		files = append(files, File{Path: "bin/" + a, Link: "busybox", Mode: 0o777})
	}
	return Write(w, Image{Ref: ref, Files: files, Env: []string{DefaultPath}, Cmd: []string{"sh"}})
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type blob struct {
	digest string
	data   []byte
}

func newBlob(data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{digest: "sha256:" + hex.EncodeToString(sum[:]), data: data}
}

// Write packs img as an OCI image-layout tar (oci-layout, index.json,
// blobs/sha256/...) for the machine's architecture. The index names the
// image with both the containerd and the OCI reference annotations.
func Write(w io.Writer, img Image) error {
	if img.Ref == "" {
		return fmt.Errorf("build image: no reference")
	}
	layer, err := layerTar(img.Files)
	if err != nil {
		return fmt.Errorf("build image %s: %w", img.Ref, err)
	}
	lb := newBlob(layer)
	created := time.Unix(0, 0).UTC()
	cfg := map[string]any{
		"created":      created,
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       map[string]any{"Env": img.Env, "Cmd": img.Cmd},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{lb.digest}},
	}
	cb, err := jsonBlob(cfg)
	if err != nil {
		return fmt.Errorf("build image %s: %w", img.Ref, err)
	}
	manifest := map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaManifest,
		"config":        descriptor{MediaType: mediaConfig, Digest: cb.digest, Size: int64(len(cb.data))},
		"layers":        []descriptor{{MediaType: mediaLayer, Digest: lb.digest, Size: int64(len(lb.data))}},
	}
	mb, err := jsonBlob(manifest)
	if err != nil {
		return fmt.Errorf("build image %s: %w", img.Ref, err)
	}
	tag := img.Ref
	if i := strings.LastIndex(tag, ":"); i > strings.LastIndex(tag, "/") {
		tag = tag[i+1:]
	}
	index := map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaIndex,
		"manifests": []descriptor{{
			MediaType: mediaManifest, Digest: mb.digest, Size: int64(len(mb.data)),
			Platform: &platform{Architecture: runtime.GOARCH, OS: "linux"},
			Annotations: map[string]string{
				"io.containerd.image.name":          img.Ref,
				"org.opencontainers.image.ref.name": tag,
			},
		}},
	}
	ib, err := json.Marshal(index)
	if err != nil {
		return fmt.Errorf("build image %s: %w", img.Ref, err)
	}

	tw := tar.NewWriter(w)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: created, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", ib},
		{"blobs/sha256/" + strings.TrimPrefix(lb.digest, "sha256:"), lb.data},
		{"blobs/sha256/" + strings.TrimPrefix(cb.digest, "sha256:"), cb.data},
		{"blobs/sha256/" + strings.TrimPrefix(mb.digest, "sha256:"), mb.data},
	}
	for _, e := range entries {
		if err := add(e.name, e.data); err != nil {
			return fmt.Errorf("write image %s: %w", img.Ref, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write image %s: %w", img.Ref, err)
	}
	return nil
}

func jsonBlob(v any) (blob, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return blob{}, err
	}
	return newBlob(b), nil
}

// layerTar packs files as an uncompressed layer.
func layerTar(files []File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0).UTC()
	for _, f := range files {
		p := strings.TrimPrefix(f.Path, "/")
		if p == "" {
			return nil, fmt.Errorf("layer: empty path")
		}
		h := &tar.Header{Name: p, Mode: f.Mode, ModTime: mtime}
		switch {
		case f.Dir:
			h.Typeflag, h.Name = tar.TypeDir, p+"/"
		case f.Link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer %s: %w", p, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, fmt.Errorf("layer %s: %w", p, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), nil
}
