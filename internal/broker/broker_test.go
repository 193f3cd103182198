package broker

import (
	"os"
	"testing"
	"time"
)

func TestStatCPU(t *testing.T) {
	tests := []struct {
		name string
		line string
		want time.Duration
		ok   bool
	}{
		{"plain", "4242 (mosquitto) S 1 4242 4242 0 -1 4194560 512 0 0 0 250 50 0 0 20 0 1 0 100 0 0", 3 * time.Second, true},
		{"a name with spaces and parentheses", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 7 3 0 0", 100 * time.Millisecond, true},
		{"cut short", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 7", 0, false},
		{"no name", "7 x R 1", 0, false},
		{"not numbers", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 a b 0 0", 0, false},
	}
	for _, tt := range tests {
		got, ok := statCPU([]byte(tt.line))
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: statCPU = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := processCPU(os.Getpid()); !ok {
		t.Error("processCPU cannot read this process's own /proc/PID/stat")
	}
}
