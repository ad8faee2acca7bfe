//go:build faultinject

package main

// binaryBuildTags: under -tags faultinject the spawned binaries carry the crash hook
// the fault tests drive (faultinject.go).
const binaryBuildTags = "faultinject"
