package mqtt

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// tcpPair is a connected pair of loopback TCP connections.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := lis.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// Every byte written arrives, in order, and Close writes out what is still
// pending before it closes: a DISCONNECT written just before the close
// reaches the broker. net.Pipe has no buffer, so nothing leaves before the
// peer reads, and the peer reads only once Close is under way.
func TestCoalescedConnDeliversInOrderAndFlushesOnClose(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	c := newCoalescedConn(client, 10*time.Second)
	var want bytes.Buffer
	for i := range 20000 {
		p := []byte{byte(i), byte(i >> 8), 0xAB}
		want.Write(p)
		if n, err := c.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write %d: %d, %v", i, n, err)
		}
	}
	want.WriteString("DISCONNECT")
	if _, err := c.Write([]byte("DISCONNECT")); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	for !c.isClosing() {
		time.Sleep(time.Millisecond)
	}
	got, err := io.ReadAll(server)
	if err != nil && !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("read: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("received %d bytes, want %d in the same order", len(got), want.Len())
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v, want net.ErrClosed", err)
	}
}

func (c *coalescedConn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// A peer that does not read holds up the writer: once maxPending bytes
// wait, Write blocks, as a write to a full socket did; Close releases it
// within its bound.
func TestCoalescedConnPushesBackAndCloseReleases(t *testing.T) {
	client, server := net.Pipe() // the server side never reads
	defer server.Close()
	c := newCoalescedConn(client, 0)
	var accepted atomic.Int64
	done := make(chan error, 1)
	go func() {
		chunk := make([]byte, 16<<10)
		for accepted.Load() < 64*maxPending { // far past the bound: Write never blocked
			if _, err := c.Write(chunk); err != nil {
				done <- err
				return
			}
			accepted.Add(int64(len(chunk)))
		}
		done <- nil
	}()
	// The flusher holds one batch in its write to the pipe, and at most
	// maxPending plus a chunk wait behind it.
	bound := int64(2*maxPending + 2*16<<10)
	var held int64
	for range 50 {
		time.Sleep(10 * time.Millisecond)
		if n := accepted.Load(); n > 0 && n == held {
			break
		}
		held = accepted.Load()
	}
	if n := accepted.Load(); n > bound {
		t.Fatalf("Write accepted %d bytes with nothing read, want at most %d", n, bound)
	}
	select {
	case err := <-done:
		t.Fatalf("the writer stopped before Close: %v", err)
	default:
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case <-closed:
	case <-time.After(closeFlushTimeout + 5*time.Second):
		t.Fatal("Close did not return while the peer was not reading")
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the blocked Write returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a Write stayed blocked after Close")
	}
}

// A write that fails (the peer reset the connection) is returned by the
// Writes after it, which is how paho's writer learns the connection is lost.
func TestCoalescedConnReportsAFailedWrite(t *testing.T) {
	client, server := tcpPair(t)
	c := newCoalescedConn(client, 10*time.Second)
	defer c.Close()
	server.(*net.TCPConn).SetLinger(0) // close with a reset
	server.Close()
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		_, err = c.Write(make([]byte, 1024))
		time.Sleep(time.Millisecond)
	}
	if err == nil {
		t.Fatal("Writes to a reset connection kept succeeding")
	}
	if _, again := c.Write([]byte("x")); !errors.Is(again, err) {
		t.Fatalf("the next Write: %v, want the first failure again (%v)", again, err)
	}
}
