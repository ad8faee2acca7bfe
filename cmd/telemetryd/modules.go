package main

import "slices"

// The modules a process is built from, as Tempo and Loki build theirs: each role is a
// module, and so is each thing roles share; a module names the modules it needs, and
// modulesFor starts them in dependency order (server.stop undoes them in reverse).
const (
	modNATS        = "nats"        // embedded server or a connection to a cluster
	modStream      = "stream"      // the TELEMETRY stream
	modCredentials = "credentials" // the credential store and its watch
	modClickHouse  = "clickhouse"  // migrations and the connection
	modAPI         = "api"         // the HTTP mux: /health, /ready, /metrics, /openapi.json
	modIngest      = roleIngest
	modPersist     = rolePersist
	modFetch       = roleFetch
)

// moduleDeps lists each module's dependencies, in the order they start.
func moduleDeps() map[string][]string {
	return map[string][]string{
		modNATS:        nil,
		modStream:      {modNATS},
		modCredentials: {modNATS},
		modClickHouse:  nil,
		modAPI:         {modNATS},
		modIngest:      {modStream, modCredentials, modAPI},
		modPersist:     {modStream, modClickHouse, modAPI},
		modFetch:       {modStream, modCredentials, modClickHouse, modAPI},
	}
}

// modulesFor returns every module the roles need, dependencies before dependents.
func modulesFor(roles []string) []string {
	deps := moduleDeps()
	var order []string
	var visit func(string)
	visit = func(m string) {
		if slices.Contains(order, m) {
			return
		}
		for _, d := range deps[m] {
			visit(d)
		}
		order = append(order, m)
	}
	for _, r := range roles {
		visit(r)
	}
	return order
}
