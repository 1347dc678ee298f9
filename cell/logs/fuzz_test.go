package logs

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParseChunk feeds arbitrary bytes to the chunk parser: it never
// panics, never claims more bytes than it has, and a chunk it encodes
// itself always decodes to the same time, stream and data.
func FuzzParseChunk(f *testing.F) {
	f.Add([]byte("2026-01-02T03:04:05.000000000Z out 5\nhello"), int64(0), uint8(1), []byte("x"))
	f.Add([]byte("2026-01-02T03:04:05.000000000Z err 99999\n"), int64(1e18), uint8(2), []byte{})
	f.Add([]byte("garbage\n"), int64(-1), uint8(0), []byte("\n\n"))
	f.Fuzz(func(t *testing.T, b []byte, nanos int64, stream uint8, data []byte) {
		ch, used, err := parseChunk(b)
		if err == nil && (used > len(b) || used <= len(ch.data) || ch.stream != Stdout && ch.stream != Stderr) {
			t.Fatalf("parseChunk(%q) = %+v, %d", b, ch, used)
		}
		if len(data) > MaxChunk {
			data = data[:MaxChunk]
		}
		at := time.Unix(0, nanos).UTC()
		if at.Year() < 1 || at.Year() > 9999 {
			return
		}
		s := Stream(stream%2 + 1)
		enc := append(appendHeader(nil, at, s, len(data)), data...)
		ch, used, err = parseChunk(append(enc, "trailing"...))
		if err != nil || used != len(enc) || !ch.at.Equal(at) || ch.stream != s || !bytes.Equal(ch.data, data) {
			t.Fatalf("round trip of %v %v %q: %+v, %d, %v", at, s, data, ch, used, err)
		}
	})
}

// FuzzParseDriverArg checks that an accepted argument has limits in bounds
// and an absolute directory, and encodes back to itself.
func FuzzParseDriverArg(f *testing.F) {
	f.Add("8388608:2:/var/lib/cellsync/logs/LRP_web_0")
	f.Add("0:0:/x")
	f.Add("65618:100:/a:b")
	f.Add("1:1:relative")
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseDriverArg(s)
		if err != nil {
			return
		}
		if _, err := spec.Limits.WithDefaults(); err != nil || !strings.HasPrefix(spec.Dir, "/") {
			t.Fatalf("ParseDriverArg(%q) accepted %+v", s, spec)
		}
		again, err := ParseDriverArg(EncodeDriverArg(spec))
		if err != nil || again != spec {
			t.Fatalf("re-encoding %+v gave %+v, %v", spec, again, err)
		}
	})
}

// FuzzInstanceDir checks that no accepted instance ID names a path outside
// the root or a nested one.
func FuzzInstanceDir(f *testing.F) {
	f.Add("LRP/web/0")
	f.Add("Task/migrate-db")
	f.Add("Task/../../etc")
	f.Add("LRP/web/0/x")
	f.Fuzz(func(t *testing.T, id string) {
		dir, err := InstanceDir("/root", id)
		if err != nil {
			return
		}
		if filepath.Dir(dir) != "/root" || filepath.Clean(dir) != dir || strings.ReplaceAll(filepath.Base(dir), "_", "/") != id {
			t.Fatalf("InstanceDir(%q) = %q", id, dir)
		}
	})
}
