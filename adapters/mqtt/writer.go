package mqtt

import (
	"net"
	stdsync "sync"
	"time"
)

// maxPending is how much may wait to be written before Write blocks: the
// socket is full, and paho should feel it as it did before.
const maxPending = 256 << 10

// closeFlushTimeout bounds how long Close waits for the pending bytes (a
// DISCONNECT among them) to be written before it closes the connection.
const closeFlushTimeout = time.Second

// coalescedConn is a broker connection whose writes are coalesced. paho
// writes every packet it sends with a write of its own: a PUBACK for each
// message in and a PUBLISH for each command out, two system calls an
// event, a quarter of the daemon's CPU budget per event at backlog rates
// (docs/performance.md). coalescedConn takes paho's writes into a buffer
// and a goroutine of its own writes out whatever has gathered, as a group
// commit does: at a low rate every packet still leaves at once, at a high
// rate the packets written while one write is in the kernel leave together
// in the next.
//
// A Write returns once its bytes are buffered, which promises no more than
// a write into the kernel's socket buffer did: a PUBLISH stays in paho's
// store until its PUBACK, and a PUBACK lost with the connection only makes
// the broker deliver its message again, which the store recognises.
type coalescedConn struct {
	net.Conn
	writeTimeout time.Duration // each write to the socket, 0 for none

	mu      stdsync.Mutex
	cond    *stdsync.Cond // pending bytes for the flusher, room for writers
	pending []byte
	err     error // the first failed write, returned by every later Write
	closing bool
	flushed chan struct{} // closed when the flusher has returned
}

func newCoalescedConn(conn net.Conn, writeTimeout time.Duration) *coalescedConn {
	c := &coalescedConn{Conn: conn, writeTimeout: writeTimeout, flushed: make(chan struct{})}
	c.cond = stdsync.NewCond(&c.mu)
	go c.flush()
	return c
}

func (c *coalescedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && !c.closing && len(c.pending) >= maxPending {
		c.cond.Wait()
	}
	switch {
	case c.err != nil:
		return 0, c.err
	case c.closing:
		return 0, net.ErrClosed
	}
	c.pending = append(c.pending, p...)
	c.cond.Broadcast()
	return len(p), nil
}

// flush writes out what has gathered until the connection closes or a
// write fails. A failed write closes the connection, so that paho's reader
// fails as well and paho reconnects.
func (c *coalescedConn) flush() {
	defer close(c.flushed)
	var out []byte
	c.mu.Lock()
	for {
		for len(c.pending) == 0 && !c.closing {
			c.cond.Wait()
		}
		if len(c.pending) == 0 {
			c.mu.Unlock()
			return
		}
		out, c.pending = c.pending, out[:0]
		c.cond.Broadcast()
		c.mu.Unlock()

		if c.writeTimeout > 0 {
			c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
		}
		_, err := c.Conn.Write(out)

		c.mu.Lock()
		if err != nil {
			c.err = err
			c.pending = nil
			c.cond.Broadcast()
			c.mu.Unlock()
			c.Conn.Close()
			return
		}
	}
}

// Close writes out what is pending, for up to closeFlushTimeout, and
// closes the connection.
func (c *coalescedConn) Close() error {
	c.mu.Lock()
	c.closing = true
	c.cond.Broadcast()
	c.mu.Unlock()
	select {
	case <-c.flushed:
	case <-time.After(closeFlushTimeout):
	}
	return c.Conn.Close()
}

// SetDeadline sets the read deadline only: the writes to the socket are
// the flusher's, and it sets their deadline itself. paho sets deadlines
// around its handshake and each PUBLISH; applied to the socket, they would
// cut the flusher's write of other packets.
func (c *coalescedConn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

// SetWriteDeadline is ignored, for the same reason.
func (c *coalescedConn) SetWriteDeadline(time.Time) error { return nil }
