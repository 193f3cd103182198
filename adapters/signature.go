package adapters

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"

	"github.com/portsync/portsync/adapters/jsonstrict"
	"github.com/portsync/portsync/state"
)

// CodeBadSignature is the dead-letter code of a message whose signature is
// missing or wrong.
const CodeBadSignature = "bad_signature"

// signedDecoder checks an HMAC-SHA256 envelope before decoding:
//
//	{"event": <the message as it would be sent unsigned>, "hmac_sha256": "<hex>"}
//
// where the HMAC is computed with the source's key over the exact bytes of
// the "event" value. A forged release would let held cargo leave, so an
// agency feed that crosses networks portsync does not control should be
// signed.
type signedDecoder struct {
	key   []byte
	inner Decoder
}

// Signed wraps a decoder so that only messages signed with key get through;
// the others are rejected as bad_signature.
func Signed(inner Decoder, key []byte) Decoder {
	return &signedDecoder{key: key, inner: inner}
}

func (s *signedDecoder) Decode(payload []byte) []Record {
	// A repeated "event" would let the HMAC vouch for one event while a
	// reader that keeps the other name's value (gjson keeps the first,
	// encoding/json the last) acts on another. The event's own members are
	// left to the inner decoder, which checks them as it decodes.
	var dup *jsonstrict.DuplicateKeyError
	if errors.As(jsonstrict.CheckExcept(payload, "event"), &dup) {
		return []Record{{Err: state.Reject(state.CodeMalformed, "%v", dup)}}
	}
	var env struct {
		Event json.RawMessage `json:"event"`
		HMAC  string          `json:"hmac_sha256"`
	}
	if err := json.Unmarshal(payload, &env); err != nil || len(env.Event) == 0 {
		return []Record{{Err: state.Reject(CodeBadSignature, "payload is not a signed envelope {\"event\": ..., \"hmac_sha256\": ...}")}}
	}
	got, err := hex.DecodeString(env.HMAC)
	if err != nil || len(got) != sha256.Size {
		return []Record{{Err: state.Reject(CodeBadSignature, "field \"hmac_sha256\": want 64 hex digits, got %q", truncate(env.HMAC, 80))}}
	}
	mac := hmac.New(sha256.New, s.key)
	mac.Write(env.Event)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return []Record{{Err: state.Reject(CodeBadSignature, "field \"hmac_sha256\": %s... does not match the event signed with this source's key", truncate(env.HMAC, 12))}}
	}
	return s.inner.Decode(bytes.TrimSpace(env.Event))
}

// Sign returns the signed envelope of event, as a sender computes it.
func Sign(event, key []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(event)
	env, _ := json.Marshal(struct {
		Event json.RawMessage `json:"event"`
		HMAC  string          `json:"hmac_sha256"`
	}{json.RawMessage(event), hex.EncodeToString(mac.Sum(nil))})
	return env
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
