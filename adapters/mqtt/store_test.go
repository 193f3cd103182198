package mqtt

import (
	"bytes"
	"sync"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// TestStoreGetDoesNotShareThePacket is the shape of paho's resume: it
// reads a stored packet and marks it as a duplicate while the writer may
// still be writing (and so setting the length of) the packet that
// Publish stored. Under -race the plain memory store fails here; with
// copyingStore neither side touches the other's packet.
func TestStoreGetDoesNotShareThePacket(t *testing.T) {
	s := newCopyingStore()
	s.Open()
	defer s.Close()
	pub := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	pub.Qos, pub.MessageID, pub.TopicName, pub.Payload = 1, 7, "tos/commands", []byte(`{"id":"c1"}`)
	s.Put("o.7", pub)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the writer: sending the packet reads its fixed header
		defer wg.Done()
		var buf bytes.Buffer
		if err := pub.Write(&buf); err != nil {
			t.Error(err)
		}
	}()
	got, ok := s.Get("o.7").(*packets.PublishPacket)
	if !ok {
		t.Fatalf("Get returned %T, want *packets.PublishPacket", s.Get("o.7"))
	}
	got.Dup = true // what resume does
	wg.Wait()

	if got == pub {
		t.Fatal("Get returned the packet that was stored")
	}
	if again := s.Get("o.7").(*packets.PublishPacket); again.Dup || again == got {
		t.Errorf("marking what Get returned as a duplicate changed the stored packet (dup %v, same %v)", again.Dup, again == got)
	}
	if got.MessageID != 7 || got.TopicName != "tos/commands" || string(got.Payload) != `{"id":"c1"}` {
		t.Errorf("copy = id %d topic %q payload %q, want the stored packet's", got.MessageID, got.TopicName, got.Payload)
	}
	// An inbound PUBLISH is only held until its PUBACK: stored as it is.
	in := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	in.Qos, in.MessageID = 1, 3
	s.Put("i.3", in)
	if got := s.Get("i.3"); got != in {
		t.Errorf("inbound packet stored as %p, want the packet itself (%p): no copy on the receiving path", got, in)
	}
	if p := s.Get("o.8"); p != nil {
		t.Errorf("Get of a missing key = %v, want nil", p)
	}
}
