package sync

import (
	"fmt"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
)

// NewSourceInfo builds what the engine needs to know of a source: its
// binding and its decoder (checking signatures where the source has a key).
func NewSourceInfo(sc config.Source) (*SourceInfo, error) {
	dec, err := adapters.NewDecoder(sc)
	if err != nil {
		return nil, err
	}
	if sc.HMACKeyFile != "" {
		key, err := config.ReadSecret(sc.HMACKeyFile)
		if err != nil {
			return nil, fmt.Errorf("source %s: hmac_key_file: %w", sc.Name, err)
		}
		dec = adapters.Signed(dec, []byte(key))
	}
	return &SourceInfo{Name: sc.Name, Kind: sc.Kind, Agency: sc.Agency, Decoder: dec, Ack: ackTarget(sc)}, nil
}
