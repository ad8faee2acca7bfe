package schema

import (
	"testing"
	"time"
)

func TestMaxTimeMatchesItsNanoseconds(t *testing.T) {
	if want := time.Date(2106, time.January, 1, 0, 0, 0, 0, time.UTC); !MaxTime().Equal(want) {
		t.Fatalf("MaxTime() = %s, want %s", MaxTime(), want)
	}
	if !TimeFits(0) || !TimeFits(MaxTimeUnixNano-1) || TimeFits(MaxTimeUnixNano) || TimeFits(^uint64(0)) {
		t.Error("TimeFits disagrees with [0, MaxTimeUnixNano)")
	}
}
