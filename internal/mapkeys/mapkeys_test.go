package mapkeys

import (
	"slices"
	"testing"
)

func TestSorted(t *testing.T) {
	m := map[string]int{"b": 1, "c": 2, "a": 3}
	if got := Sorted(m); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("Sorted = %q", got)
	}
	if got := Sorted(map[string]int{}); got != nil {
		t.Fatalf("Sorted of an empty map = %q, want nil", got)
	}
	var buf [2]string
	if got := AppendSorted(buf[:], m); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("AppendSorted past its buffer = %q", got)
	}
}

func TestAppendSortedOnTheStack(t *testing.T) {
	m := map[string]int{"b": 1, "a": 2}
	allocs := testing.AllocsPerRun(100, func() {
		var buf [4]string
		for _, k := range AppendSorted(buf[:0], m) {
			if k == "" {
				t.Fatal("empty key")
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("AppendSorted into a stack buffer allocated %v times", allocs)
	}
}
