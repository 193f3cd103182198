package mqtt

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"
)

// dial opens a broker connection as paho's own does (the same schemes,
// the proxy from the environment), but coalesces the writes of a TCP or
// TLS connection (writer.go) and buffers the reads of a plain TCP one:
// paho reads a packet's type byte and each byte of its length with a read
// of their own, so every message cost three system calls or more. A TLS
// connection buffers its records itself. A WebSocket connection is left
// as paho makes it: each write there is a frame.
func dial(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
	d := &net.Dialer{Timeout: o.ConnectTimeout}
	switch uri.Scheme {
	case "tcp", "mqtt":
		conn, err := proxy.FromEnvironmentUsing(d).Dial("tcp", uri.Host)
		if err != nil {
			return nil, err
		}
		return &bufferedConn{coalescedConn: newCoalescedConn(conn, o.WriteTimeout), r: bufio.NewReaderSize(conn, 64<<10)}, nil
	case "ssl", "tls", "mqtts":
		conn, err := proxy.FromEnvironmentUsing(d).Dial("tcp", uri.Host)
		if err != nil {
			return nil, err
		}
		tc := o.TLSConfig
		if tc == nil {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if tc.ServerName == "" {
			tc = tc.Clone()
			tc.ServerName = uri.Hostname()
		}
		ctx, cancel := context.WithCancel(context.Background())
		if o.ConnectTimeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, o.ConnectTimeout)
		}
		defer cancel()
		tlsConn := tls.Client(conn, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		// Each Write of a TLS connection is a record and a system call of
		// its own, so its writes are coalesced as a plain connection's.
		return newCoalescedConn(tlsConn, o.WriteTimeout), nil
	case "ws", "wss":
		u := *uri // gorilla's websocket refuses a URL with user info (paho #623)
		u.User = nil
		var tc *tls.Config
		if uri.Scheme == "wss" {
			tc = o.TLSConfig
		}
		return paho.NewWebsocket(u.String(), tc, o.ConnectTimeout, o.HTTPHeaders, o.WebsocketOptions)
	}
	return nil, fmt.Errorf("unknown scheme %q", uri.Scheme)
}

// bufferedConn is a connection whose reads go through a buffer and whose
// writes are coalesced.
type bufferedConn struct {
	*coalescedConn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
