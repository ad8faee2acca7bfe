package persist

import (
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// referenceGroups numbers the resources and scopes the reference decoders read, as
// an arena does.
var referenceGroups atomic.Uint64

// What the pdata-based reference decoders (spans_reference_test.go,
// logs_pdata_test.go, metrics_pdata_test.go) share.

func newResourceInfo(r pcommon.Resource, schemaURL string) resourceInfo {
	keys, values := attributes(r.Attributes())
	service := ""
	if v, ok := r.Attributes().Get("service.name"); ok {
		service = v.AsString()
	}
	return resourceInfo{service: service, keys: keys, values: values, schemaURL: schemaURL, id: referenceGroups.Add(1)}
}

func newScopeInfo(s pcommon.InstrumentationScope, schemaURL string) scopeInfo {
	keys, values := attributes(s.Attributes())
	return scopeInfo{name: s.Name(), version: s.Version(), schemaURL: schemaURL, keys: keys, values: values, id: referenceGroups.Add(1)}
}

func enumName[K comparable](names map[K]string, k K, fallback string) string {
	if n, ok := names[k]; ok {
		return n
	}
	return fallback
}

// attributes flattens a map into parallel key and value arrays; non-string values take
// their JSON form.
func attributes(m pcommon.Map) ([]string, []string) {
	keys := make([]string, 0, m.Len())
	values := make([]string, 0, m.Len())
	for k, v := range m.All() {
		keys = append(keys, k)
		values = append(values, v.AsString())
	}
	return keys, values
}
