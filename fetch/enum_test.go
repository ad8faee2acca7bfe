package fetch

import "testing"

func TestEnumShown(t *testing.T) {
	tests := []struct {
		name         string
		number, last int32
		want         string
	}{
		{"server", 2, lastSpanKind, "server"},
		{"unspecified", 0, lastSpanKind, "unspecified"},
		{"consumer", 5, lastSpanKind, "consumer"},
		{"unspecified", 99, lastSpanKind, "99"},
		{"unspecified", -1, lastSpanKind, "-1"},
		{"error", 2, lastStatusCode, "error"},
		{"unset", 7, lastStatusCode, "7"},
	}
	for _, tt := range tests {
		if got := enumShown(tt.name, tt.number, tt.last); got != tt.want {
			t.Errorf("enumShown(%q, %d) = %q, want %q", tt.name, tt.number, got, tt.want)
		}
	}
}

func TestTemporalityShown(t *testing.T) {
	for in, want := range map[uint8]string{0: "", 1: "delta", 2: "cumulative", 7: "7", 255: "255"} {
		if got := temporalityShown(in); got != want {
			t.Errorf("temporalityShown(%d) = %q, want %q", in, got, want)
		}
	}
}
