package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// baselineLoad is the loader a user would write instead of Kinetic: read
// the records (JSON lines), chunk them by 200, and run `workers` goroutines
// calling Collections upsert with one shared client. No queue, no
// durability, no retries. It returns the records Salesforce reported saved.
func baselineLoad(ctx context.Context, c *salesforce.Client, in io.Reader, workers int) (int, error) {
	chunks := make(chan []salesforce.Record, workers)
	var loaded atomic.Int64
	var errOnce sync.Once
	var firstErr error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chunk := range chunks {
				res, err := c.Upsert(ctx, "Account", "External_Key__c", chunk)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					continue
				}
				for _, r := range res {
					if r.Success {
						loaded.Add(1)
					}
				}
			}
		}()
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	chunk := make([]salesforce.Record, 0, 200)
	for sc.Scan() {
		var src map[string]string
		if err := json.Unmarshal(sc.Bytes(), &src); err != nil {
			return 0, err
		}
		revenue, _ := strconv.ParseFloat(src["revenue"], 64)
		employees, _ := strconv.Atoi(src["employees"])
		chunk = append(chunk, salesforce.Record{"External_Key__c": src["ext_id"], "Name": src["company"],
			"Email__c": strings.ToLower(src["email"]), "AnnualRevenue": revenue,
			"NumberOfEmployees": employees, "Industry": src["industry"]})
		if len(chunk) == 200 {
			chunks <- chunk
			chunk = make([]salesforce.Record, 0, 200)
		}
	}
	if len(chunk) > 0 {
		chunks <- chunk
	}
	close(chunks)
	wg.Wait()
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return int(loaded.Load()), firstErr
}

// baselineResult is what the baseline child process prints.
type baselineResult struct {
	Loaded  int     `json:"loaded"`
	Seconds float64 `json:"seconds"`
	CPU     float64 `json:"cpu_seconds"` // user+sys of the child while loading (getrusage)
	Err     string  `json:"error,omitempty"`
}

// runBaselineChild is the child process: records as JSON lines on stdin
// (read into memory before the clock starts), the client from SF_* and
// BASELINE_WORKERS; one JSON result on stdout.
func runBaselineChild(ctx context.Context, stdout io.Writer) error {
	workers, err := strconv.Atoi(os.Getenv("BASELINE_WORKERS"))
	if err != nil || workers < 1 {
		return fmt.Errorf("BASELINE_WORKERS: %q", os.Getenv("BASELINE_WORKERS"))
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	c, err := salesforce.New(salesforce.Config{LoginURL: os.Getenv("SF_LOGIN_URL"), ClientID: os.Getenv("SF_CLIENT_ID"),
		Username: os.Getenv("SF_USERNAME"), PrivateKey: os.Getenv("SF_PRIVATE_KEY"), AllowHTTP: true})
	if err != nil {
		return err
	}
	if _, err := c.InstanceURL(ctx); err != nil { // log in before the clock starts
		return err
	}
	cpu0, start := selfCPU(), time.Now()
	n, lerr := baselineLoad(ctx, c, bytes.NewReader(input), workers)
	res := baselineResult{Loaded: n, Seconds: time.Since(start).Seconds(), CPU: (selfCPU() - cpu0).Seconds()}
	if lerr != nil {
		res.Err = lerr.Error()
	}
	return json.NewEncoder(stdout).Encode(res)
}

// runBaseline runs the baseline loader as a child process (this binary with
// -baseline-loader) over data, with workers goroutines.
func (h *harness) runBaseline(ctx context.Context, sf salesforce.Config, data *payloadSet, workers int) (baselineResult, error) {
	var res baselineResult
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	var in bytes.Buffer
	for i := range data.len() {
		in.Write(data.at(i))
		in.WriteByte('\n')
	}
	cmd := exec.CommandContext(ctx, self, "-baseline-loader")
	cmd.Env = append(os.Environ(), "BASELINE_WORKERS="+strconv.Itoa(workers))
	cmd.Env = append(cmd.Env, sfEnv(sf)...)
	cmd.Stdin, cmd.Stderr = &in, os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return res, fmt.Errorf("baseline loader: %w", err)
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("baseline loader output %q: %w", out, err)
	}
	if res.Err != "" || res.Loaded != data.len() {
		return res, fmt.Errorf("baseline loader: %d of %d loaded (%s)", res.Loaded, data.len(), res.Err)
	}
	return res, nil
}
