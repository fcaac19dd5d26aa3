package turnserver

import (
	"net"

	"github.com/pion/logging"
	"github.com/pion/turn/v4"
)

// Client is a pion/turn client of one TURN server over UDP, as a WebRTC
// peer uses it: Allocate asks for a relay with the client's credential.
type Client struct {
	*turn.Client
	conn net.PacketConn
}

// NewClient connects a client to the TURN server at addr (host:port) with a
// TURN REST API credential; it does not allocate yet.
func NewClient(addr, username, password string) (*Client, error) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: username, Password: password, LoggerFactory: quiet,
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	if err := c.Listen(); err != nil {
		c.Close()
		conn.Close()
		return nil, err
	}
	return &Client{Client: c, conn: conn}, nil
}

// Close ends the client's allocations and closes its socket.
func (c *Client) Close() {
	c.Client.Close()
	c.conn.Close()
}
