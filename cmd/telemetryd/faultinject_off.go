//go:build !faultinject

package main

// crashAfterInserts is nil in a release binary: fault injection exists only in
// binaries built with -tags faultinject (see faultinject.go).
func crashAfterInserts(func(string) (string, bool)) func() { return nil }
