// Package mapkeys lists a map's keys in order without the garbage of
// slices.Sorted(maps.Keys(m)), which grows its slice from nothing: the
// writer does it for a handful of small maps at every event, and those
// growing slices were a fifth of its allocations (docs/performance.md).
package mapkeys

import "slices"

// Sorted is the keys of m in order, in one allocation of the map's size
// (none for an empty map).
func Sorted[V any](m map[string]V) []string {
	if len(m) == 0 {
		return nil
	}
	return AppendSorted(make([]string, 0, len(m)), m)
}

// AppendSorted appends the keys of m, in order, to buf[:0]. With buf an
// array on the caller's stack, a map that fits costs no allocation.
func AppendSorted[V any](buf []string, m map[string]V) []string {
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
