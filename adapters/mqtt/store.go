package mqtt

import (
	"strings"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// copyingStore is paho's memory store, except that it keeps its own copy
// of a PUBLISH packet and hands out copies of that: no packet it stores
// or returns is ever one that another goroutine is writing.
//
// Paho stores a QoS 1 PUBLISH and then writes it to the connection, and
// writing a packet sets its RemainingLength. On every reconnect paho's
// resume reads each stored PUBLISH and sets its Dup (client.go, resume),
// while a Publish that was waiting to be written when the old connection
// dropped can be written on the new one at the same moment. With the
// memory store all three are one struct, a data race that the race
// detector reports (eclipse-paho/paho.mqtt.golang#703, still open; the
// maintainers' preferred fix is a store that returns copies). Waiting
// for resume before publishing (Conn.Publish) narrows the window but
// cannot close it: a Publish already inside paho is past that check.
type copyingStore struct {
	paho.Store
}

func newCopyingStore() copyingStore { return copyingStore{paho.NewMemoryStore()} }

// outboundPrefix begins the keys of the packets paho sends (store.go,
// outboundPrefix). Only those are resumed; an inbound PUBLISH is stored
// until its PUBACK and never read back, so it is not copied: one copy per
// inbound message would be work on the hot path for nothing.
const outboundPrefix = "o."

// Put runs in the publishing goroutine before paho hands the packet to its
// writer, so reading the packet here is safe.
func (s copyingStore) Put(key string, p packets.ControlPacket) {
	if strings.HasPrefix(key, outboundPrefix) {
		p = clonePublish(p)
	}
	s.Store.Put(key, p)
}

func (s copyingStore) Get(key string) packets.ControlPacket {
	p := s.Store.Get(key)
	if strings.HasPrefix(key, outboundPrefix) {
		p = clonePublish(p)
	}
	return p
}

// clonePublish copies a PUBLISH packet; any other packet is returned as
// it is. The payload is shared: nothing writes it after Publish.
func clonePublish(p packets.ControlPacket) packets.ControlPacket {
	if pub, ok := p.(*packets.PublishPacket); ok {
		cp := *pub
		return &cp
	}
	return p
}
