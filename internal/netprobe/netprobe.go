// Package netprobe attacks a process's own TCP listeners as an
// unauthenticated local process would, for tests that prove none of them
// lets it in or can be held: Listening finds the listeners (Linux, through
// /proc), Raft posts a raft message to one as an etcd peer would, Etcd makes
// a plain etcd request to one, Cut checks that a slow HTTP connection is
// closed and Queued that an HTTP server keeps to its connection limit. It
// keeps no state.
//
//	opened, err := netprobe.OpenedBy(func() { /* start the server under test */ })
//	if err := netprobe.Refused(ctx, opened); err != nil {
//		t.Error(err) // some listener accepted a raft message or an etcd request
//	}
//
// The caller must not open listeners concurrently with OpenedBy, or they
// are counted as the server's.
package netprobe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/version"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

// Listening returns the addresses ("ip:port") of this process's listening
// TCP sockets, IPv4 and IPv6.
func Listening() (map[string]bool, error) {
	inodes, err := socketInodes()
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, file := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		if err := listeners(file, inodes, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Opened returns the addresses in after that are not in before, sorted.
func Opened(before, after map[string]bool) []string {
	var out []string
	for a := range after {
		if !before[a] {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// OpenedBy runs start and returns the TCP listeners this process opened
// meanwhile.
func OpenedBy(start func()) ([]string, error) {
	before, err := Listening()
	if err != nil {
		return nil, err
	}
	start()
	after, err := Listening()
	if err != nil {
		return nil, err
	}
	return Opened(before, after), nil
}

// Refused probes each address with Raft and Etcd; it returns the joined
// errors of those that let an unauthenticated client in, nil if none did.
func Refused(ctx context.Context, addrs []string) error {
	var errs []error
	for _, a := range addrs {
		errs = append(errs, Raft(ctx, a), Etcd(ctx, a))
	}
	return errors.Join(errs...)
}

// socketInodes returns the inodes of the sockets this process holds open.
func socketInodes() (map[string]bool, error) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, fmt.Errorf("list open files: %w", err)
	}
	out := map[string]bool{}
	for _, e := range entries {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // closed since the listing
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok {
			out[strings.TrimSuffix(inode, "]")] = true
		}
	}
	return out, nil
}

// listeners adds to out the listening sockets of file (/proc/net/tcp or
// tcp6) whose inode is in inodes.
func listeners(file string, inodes, out map[string]bool) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("list TCP sockets: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Scan() // header
	for s.Scan() {
		// sl local_address rem_address st tx_queue rx_queue tr tm->when retrnsmt uid timeout inode
		fields := strings.Fields(s.Text())
		if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] { // 0A: LISTEN
			continue
		}
		addr, err := parseAddr(fields[1])
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		out[addr] = true
	}
	return s.Err()
}

// parseAddr decodes /proc's "hex IP:hex port"; the IP is in 32-bit words of
// host byte order (little-endian on every machine cellsync runs on).
func parseAddr(s string) (string, error) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	raw, err := hex.DecodeString(ipHex)
	if !ok || err != nil || (len(raw) != 4 && len(raw) != 16) {
		return "", fmt.Errorf("bad address %q", s)
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(ip[i:], binary.LittleEndian.Uint32(raw[i:]))
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return "", fmt.Errorf("bad port in %q", s)
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10)), nil
}

// dialAddr makes a wildcard address ("0.0.0.0:p", "[::]:p") dialable.
func dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() != nil {
			return net.JoinHostPort("127.0.0.1", port)
		}
		return net.JoinHostPort("::1", port)
	}
	return addr
}

// clients are the ways an attacker without credentials talks to addr:
// plain HTTP, and TLS trusting anything and presenting no certificate.
func clients() map[string]*http.Client {
	return map[string]*http.Client{
		"http": {Timeout: 5 * time.Second},
		"https": {Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // an attacker checks nothing
		}},
	}
}

// Raft posts a raft MsgHeartbeat to addr's /raft as an etcd peer would,
// over plain HTTP and over TLS without a client certificate, learning what
// an attacker learns first: the member's ID from GET /members and the
// cluster ID from any answer's header. It returns an error if a message is
// accepted (a 2xx answer), nil when all are refused. The message carries
// term 0 and commit 0, which a member that does accept it ignores.
func Raft(ctx context.Context, addr string) error {
	for scheme, c := range clients() {
		base := scheme + "://" + dialAddr(addr)
		to, cid, err := member(ctx, c, base)
		if err != nil {
			continue // refused at the connection or the handshake
		}
		body, err := proto.Marshal(&raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(0xbad), To: proto.Uint64(to)})
		if err != nil {
			return fmt.Errorf("encode raft message: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/raft", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/protobuf")
		req.Header.Set("X-Server-From", "bad")
		req.Header.Set("X-Server-Version", version.Version)
		req.Header.Set("X-Min-Cluster-Version", version.MinClusterVersion)
		req.Header.Set("X-Etcd-Cluster-ID", cid)
		resp, err := c.Do(req)
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return fmt.Errorf("%s/raft accepted a raft message without credentials (status %d)", base, resp.StatusCode)
		}
	}
	return nil
}

// member asks base for its members as a peer would: the first one's ID and
// the cluster ID, when it says.
func member(ctx context.Context, c *http.Client, base string) (id uint64, cluster string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/members", nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var members []struct {
		ID uint64 `json:"id"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&members) == nil && len(members) > 0 {
		id = members[0].ID
	}
	return id, resp.Header.Get("X-Etcd-Cluster-ID"), nil
}

// Etcd makes a plain etcd request (a count of cellsync's keys) to addr
// without credentials, over plain HTTP/2 and over TLS without a client
// certificate. It returns an error if any succeeds, nil when all fail.
// Requests fail fast: a listener that is not etcd answers at once.
func Etcd(ctx context.Context, addr string) error {
	for name, creds := range map[string]credentials.TransportCredentials{
		"plain": insecure.NewCredentials(),
		"TLS":   credentials.NewTLS(&tls.Config{InsecureSkipVerify: true}), //nolint:gosec // an attacker checks nothing
	} {
		conn, err := grpc.NewClient(dialAddr(addr), grpc.WithTransportCredentials(creds))
		if err != nil {
			return fmt.Errorf("etcd probe of %s: %w", addr, err)
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = etcdserverpb.NewKVClient(conn).Range(rctx, &etcdserverpb.RangeRequest{
			Key: []byte("/cellsync/v1/"), RangeEnd: []byte("/cellsync/v10"), CountOnly: true})
		cancel()
		conn.Close()
		if err == nil {
			return fmt.Errorf("%s answered a %s etcd request without credentials", addr, name)
		}
	}
	return nil
}
