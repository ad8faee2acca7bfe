package persist

import (
	"fmt"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// TestIsDataError: the named rejections of the data are permanent; a server or
// network trouble, NETLINK_ERROR included, is retried.
func TestIsDataError(t *testing.T) {
	for _, tc := range []struct {
		code int32
		want bool
	}{
		{chCannotParseText, true}, {chCannotParseQuotedString, true}, {chCannotParseInputAssertionFailed, true},
		{chAttemptToReadAfterEOF, true}, {chCannotParseDate, true}, {chCannotParseDateTime, true},
		{chTypeMismatch, true}, {chArgumentOutOfBound, true}, {chCannotConvertType, true},
		{chCannotParseNumber, true}, {chIncorrectData, true}, {chTooLargeStringSize, true},
		{chSizesOfArraysDoesntMatch, true}, {chValueIsOutOfRangeOfDataType, true}, {chFunctionThrowIfValueIsNonZero, true},
		{chNetlinkError, false},
		{159, false}, // TIMEOUT_EXCEEDED
		{210, false}, // NETWORK_ERROR
		{241, false}, // MEMORY_LIMIT_EXCEEDED
		{252, false}, // TOO_MANY_PARTS
	} {
		err := fmt.Errorf("insert: %w", &clickhouse.Exception{Code: tc.code, Message: "x"})
		if got := isDataError(err); got != tc.want {
			t.Errorf("code %d: isDataError = %v, want %v", tc.code, got, tc.want)
		}
	}
	if !isDataError(fmt.Errorf("append: %w", errUnencodableRows)) {
		t.Error("rows the client cannot encode are a data error")
	}
}
