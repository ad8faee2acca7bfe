package fetch

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Resource is one service (per version) seen in any signal.
type Resource struct {
	ServiceName    string            `json:"service_name"`
	ServiceVersion string            `json:"service_version"`
	Attributes     map[string]string `json:"attributes"` // resource attributes of its latest row
	FirstSeen      time.Time         `json:"first_seen"`
	LastSeen       time.Time         `json:"last_seen"`
}

// ResourcesPage is the response of fetch_resources.
type ResourcesPage struct {
	Resources []Resource `json:"resources"`
	Paging
}

// resourcesSQL merges the services table's partial states (rows of different inserts
// merge only eventually, so every read aggregates) and keeps the services whose
// [first_seen, last_seen] overlaps the window. Aliases differ from the state columns'
// names: in 18.16 an alias equal to a column's name makes the expression refer to itself.
const resourcesSQL = "SELECT service_name, service_version, minMerge(first_seen) AS first_at," +
	" maxMerge(last_seen) AS last_at, argMaxMerge(latest_resource_attributes) AS latest" +
	" FROM services WHERE %s GROUP BY tenant_id, service_name, service_version" + resourcesWindow

const resourcesWindow = " HAVING first_at <= toDateTime(?) AND last_at >= toDateTime(?)"

// fetchResources lists the services seen in the window (service_name filters).
// Times are whole seconds, as the services table keeps them. Without start_time and
// end_time it lists every service the table still holds (its retention window).
func (a *API) fetchResources(ctx context.Context, tenant string, r *http.Request) (any, error) {
	v := r.URL.Query()
	anyTime := !v.Has("start_time") && !v.Has("end_time")
	if anyTime {
		// Satisfy the common parser with a placeholder window; it is not used.
		v.Set("start_time", "1000")
		v.Set("end_time", "2000")
	}
	q, err := parseSignalQuery(v, "fetch_resources")
	if err != nil {
		return nil, err
	}
	where, args := whereEq("tenant_id = ?", []any{tenant}, "service_name", q.serviceName)
	// The window is closed on both ends at second precision: a service last seen in
	// the second start_time falls in counts.
	inner := fmt.Sprintf(resourcesSQL, where)
	if anyTime {
		inner = strings.TrimSuffix(inner, resourcesWindow)
	} else {
		args = append(args, q.end.Unix(), q.start.Unix())
	}
	p, err := runList(ctx, a.ch, q, listQuery[Resource]{
		noun:  "resources",
		count: "SELECT count() FROM (" + inner + ")",
		rows: func(string) string {
			return "SELECT service_name, service_version, first_at, last_at," +
				" tupleElement(latest, 1), tupleElement(latest, 2) FROM (" + inner + ")" +
				" ORDER BY last_at DESC, service_name, service_version LIMIT ?, ?"
		},
		args: args,
		scan: scanResource,
	})
	if err != nil {
		return nil, err
	}
	return ResourcesPage{Resources: p.Items, Paging: p.Paging}, nil
}

func scanResource(row scanner, _ ...any) (Resource, error) {
	var res Resource
	var keys, values []string
	if err := row.Scan(&res.ServiceName, &res.ServiceVersion, &res.FirstSeen, &res.LastSeen, &keys, &values); err != nil {
		return res, err
	}
	res.FirstSeen, res.LastSeen = res.FirstSeen.UTC(), res.LastSeen.UTC()
	res.Attributes = zipAttributes(keys, values)
	return res, nil
}
