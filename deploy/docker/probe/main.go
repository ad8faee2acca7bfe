// Command probe is the container health check of the telemetryd image: the final image
// has no shell, curl or wget, so Docker's HEALTHCHECK runs this static binary instead.
//
//	probe [URL]   (default http://127.0.0.1:4318/ready)
//
// It exits 0 when URL answers 200 within 3 seconds, 1 otherwise.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	url := "http://127.0.0.1:4318/ready"
	if len(os.Args) > 1 {
		url = os.Args[1]
	}
	if err := check(url); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func check(url string) error {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}
