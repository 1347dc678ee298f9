package netprobe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Held is how long Cut waits for a slow connection to be closed before
// calling it held; servers under test cut theirs in seconds.
const Held = time.Minute

// Cut opens a connection to addr, sends partial (a request that never
// finishes, or none at all after a complete one), and returns nil once the
// server closes the connection, or an error if it holds it for Held.
func Cut(addr, partial string) error {
	c, err := net.Dial("tcp", dialAddr(addr))
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := io.WriteString(c, partial); err != nil {
		return err
	}
	if err := c.SetReadDeadline(time.Now().Add(Held)); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, c) // whatever the server says first (a 408, a response)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%s held a slow connection open for %s", addr, Held)
	}
	return nil
}

// Queued holds max connections to addr with requests whose headers never
// end, sends req on one more, and checks that it is answered only once one
// of them goes: it returns the status code of that answer, or an error if
// it was answered while the others were held, or not at all.
func Queued(addr string, max int, req string) (int, error) {
	dial := func() (net.Conn, error) { return net.Dial("tcp", dialAddr(addr)) }
	held := make([]net.Conn, 0, max)
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range max {
		c, err := dial()
		if err != nil {
			return 0, err
		}
		held = append(held, c)
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\n"); err != nil {
			return 0, err
		}
	}
	extra, err := dial()
	if err != nil {
		return 0, err
	}
	defer extra.Close()
	if _, err := io.WriteString(extra, req); err != nil {
		return 0, err
	}
	served := make(chan int, 1)
	go func() {
		code := 0
		if resp, err := http.ReadResponse(bufio.NewReader(extra), nil); err == nil {
			resp.Body.Close()
			code = resp.StatusCode
		}
		served <- code
	}()
	// A slow machine can only make this wait pass, never fail, when the
	// server keeps to its limit.
	select {
	case code := <-served:
		return code, fmt.Errorf("connection %d to %s was answered (status %d) while %d were held", max+1, addr, code, max)
	case <-time.After(300 * time.Millisecond):
	}
	held[0].Close()
	select {
	case code := <-served:
		if code == 0 {
			return 0, fmt.Errorf("connection %d to %s got no answer once a slot freed", max+1, addr)
		}
		return code, nil
	case <-time.After(Held):
		extra.Close() // ends the reader
		return 0, fmt.Errorf("connection %d to %s was not served after a slot freed", max+1, addr)
	}
}
