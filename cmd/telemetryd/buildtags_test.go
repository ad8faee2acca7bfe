//go:build !faultinject

package main

// binaryBuildTags are the tags the process tests build telemetryd with: none, as
// released, unless the test binary itself runs with -tags faultinject.
const binaryBuildTags = ""
