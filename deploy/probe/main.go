// Command probe is the health check of Kinetic's scratch images, which have
// no shell: it GETs a URL and exits 0 on a 2xx answer, 1 otherwise.
//
//	probe http://127.0.0.1:9464/readyz
//	probe http://127.0.0.1:8222/healthz?js-enabled-only=true
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: probe URL")
		os.Exit(2)
	}
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintln(os.Stderr, "probe:", resp.Status)
		os.Exit(1)
	}
}
