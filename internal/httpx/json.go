// Package httpx is the HTTP plumbing every role shares: JSON answers and errors,
// CORS, request ids and per-route instrumentation. Domain packages (authn, ingest,
// fetch) keep only their handlers.
package httpx

import (
	"encoding/json"
	"net/http"
)

// WriteError writes {"error": "..."} with status.
func WriteError(w http.ResponseWriter, status int, err error) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="telemetryd"`)
	}
	WriteJSON(w, status, map[string]string{"error": err.Error()})
}

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
