package persist

// ClickHouse server error codes that reject the data of an INSERT itself, named as
// in ClickHouse's src/Common/ErrorCodes.cpp. No retry fixes them: isDataError sends
// the events that caused one to the dead-letter subject.
const (
	chCannotParseText                 = 6
	chCannotParseQuotedString         = 26
	chCannotParseInputAssertionFailed = 27
	chAttemptToReadAfterEOF           = 32
	chCannotParseDate                 = 38
	chCannotParseDateTime             = 41
	chTypeMismatch                    = 53
	chArgumentOutOfBound              = 69
	chCannotConvertType               = 70
	chCannotParseNumber               = 72
	chIncorrectData                   = 117
	chTooLargeStringSize              = 131
	chSizesOfArraysDoesntMatch        = 190
	chValueIsOutOfRangeOfDataType     = 321
	chFunctionThrowIfValueIsNonZero   = 395 // throwIf() met while inserting
)

// chNetlinkError (412, NETLINK_ERROR) was in the data-error list while it had no
// name: it is the server failing to read its own per-thread statistics, so an
// INSERT that met it is retried like any other unavailability.
const chNetlinkError = 412
