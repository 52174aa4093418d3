// Command certgen generates the throwaway TLS certificates and nkeys of
// Kinetic's compose deployment (deploy/natsauth has the layout), once:
// when the directory already holds complete material, valid for 30 days
// more and for every SAN asked for, it keeps it. deploy/build-images.sh
// runs it; nothing is fetched from the network.
//
//	go run ./deploy/certgen                          # deploy/secrets/nats
//	go run ./deploy/certgen -san nats.example.com    # another name clients use
//	go run ./deploy/certgen -force                   # new CA, certificates and nkeys
//
// After -force (or a new SAN), restart the NATS servers and every client
// (`docker-compose up -d --force-recreate`): they read the files at start.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kinetic-sync/kinetic/deploy/natsauth"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("certgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `certgen generates the NATS TLS certificates and nkeys of deploy/docker-compose.yaml.

Usage: certgen [flags]

Flags:
`)
		fs.PrintDefaults()
	}
	var (
		o    natsauth.Options
		sans string
	)
	fs.StringVar(&o.Dir, "dir", "deploy/secrets/nats", "output directory (git-ignored; made mode 0700)")
	fs.StringVar(&sans, "san", os.Getenv("KINETIC_NATS_SANS"), "extra host names or IP addresses of the NATS servers, comma-separated (env KINETIC_NATS_SANS)")
	fs.DurationVar(&o.Validity, "validity", 3*365*24*time.Hour, "how long the CA and certificates are valid")
	fs.BoolVar(&o.Force, "force", false, "make everything again, even when what is there is complete")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "certgen: unexpected arguments %q\n", fs.Args())
		return 2
	}
	for _, s := range strings.Split(sans, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.SANs = append(o.SANs, s)
		}
	}
	res, err := natsauth.Generate(o)
	if err != nil {
		fmt.Fprintf(stderr, "certgen: %v\n", err)
		return 1
	}
	until := res.NotAfter.UTC().Format("2006-01-02")
	if !res.Generated {
		fmt.Fprintf(stdout, "certgen: %s is complete (certificates valid until %s); kept\n", o.Dir, until)
		return 0
	}
	fmt.Fprintf(stdout, "certgen: %s: generated a CA, the certificates of nats-1..3 (valid until %s) and the nkeys of %s, %s and %s (%s)\n",
		o.Dir, until, natsauth.Worker, natsauth.Producer, natsauth.Operator, res.Reason)
	return 0
}
