package persist

import (
	"bytes"
	"testing"

	"github.com/ClickHouse/ch-go/proto"
)

// TestSharedStrArrayEncodesAsAPlainArray: a sharedStrArray encodes any range of its
// rows to the bytes a strArray of the same rows does, after truncation and after
// copying ranges too, and stores a run of equal rows once.
func TestSharedStrArrayEncodesAsAPlainArray(t *testing.T) {
	res := []string{"service.name", "checkout", "host.name", "a-rather-long-host-name-of-more-than-127-bytes-" + string(bytes.Repeat([]byte("x"), 120))}
	rows := [][]string{res, res, res, {}, {}, {"k"}, res, res, {"k", ""}, {"k", ""}}
	// The rows' groups: res twice as group 1, then as group 2 (another resource with
	// the same attributes), {} twice with no group, ...
	groups := []uint64{1, 1, 2, 0, 0, 3, 4, 4, 5, 5}
	var plain strArray
	var shared sharedStrArray
	for i, r := range rows {
		appendStrings(&plain, r)
		shared.appendRow(r, groups[i])
	}
	if got, want := shared.arrays.Rows(), 7; got != want {
		t.Fatalf("%d arrays stored for %d rows, want %d", got, len(rows), want)
	}
	check := func(name string, got *sharedStrArray, want *strArray) {
		t.Helper()
		if got.Rows() != want.Rows() {
			t.Fatalf("%s: %d rows, want %d", name, got.Rows(), want.Rows())
		}
		for lo := 0; lo <= want.Rows(); lo++ {
			for hi := lo; hi <= want.Rows(); hi++ {
				var g, w proto.Buffer
				got.encodeRange(&g, lo, hi)
				want.encodeRange(&w, lo, hi)
				if !bytes.Equal(g.Buf, w.Buf) {
					t.Fatalf("%s: rows %d..%d encode to\n%x, want\n%x", name, lo, hi, g.Buf, w.Buf)
				}
			}
		}
	}
	check("appended", &shared, &plain)

	var plainCopy strArray
	var sharedCopy sharedStrArray
	plainCopy.appendRange(&plain, 1, 8)
	sharedCopy.appendRange(&shared, 1, 8)
	plainCopy.appendRange(&plain, 0, 3)
	sharedCopy.appendRange(&shared, 0, 3)
	check("copied", &sharedCopy, &plainCopy)

	for _, n := range []int{9, 6, 3, 1, 0} {
		plain.truncate(n)
		shared.truncate(n)
		check("truncated", &shared, &plain)
		// A row after a rollback is stored anew, even of the group last stored.
		appendStrings(&plain, []string{"after"})
		shared.appendRow([]string{"after"}, 5)
		check("appended after truncating", &shared, &plain)
		plain.truncate(n)
		shared.truncate(n)
	}
	if shared.arrays.Rows() != 0 {
		t.Fatalf("%d arrays left with no rows", shared.arrays.Rows())
	}
}
