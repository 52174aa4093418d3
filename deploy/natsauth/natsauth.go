// Package natsauth generates the throwaway credentials of Kinetic's NATS
// deployment (deploy/docker-compose.yaml, deploy/nats/nats-server.conf): a
// certificate authority, a TLS certificate per NATS server, and an nkey per
// NATS user role. deploy/certgen is its command; the integration tests call
// it for their own clusters.
//
// Everything goes into one directory (deploy/secrets/nats for compose):
//
//	ca.pem                      the CA certificate: clients verify the servers with it
//	nats-1/ca.pem               one directory per server, mounted at /etc/nats/secrets:
//	nats-1/server-cert.pem        its certificate (client and route connections),
//	nats-1/server-key.pem         its private key,
//	nats-1/users.conf             the users' public nkeys, included by nats-server.conf
//	worker/ca.pem               one directory per role, mounted into its containers:
//	worker/user.nk                the role's nkey seed (NATS_NKEY)
//	producer/…, operator/…
//
// The CA's private key is not kept: to issue anything new, Generate makes
// everything again. The directory is mode 0700, so that no other user of
// the host can read it; the files in it are world-readable (0644, their
// directories 0755), because the containers that mount them run as other
// users (the workers and tools as 65532, maybe remapped by Docker) and a
// bind mount keeps the host's owner and mode.
package natsauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nkeys"
)

// File names inside the directory.
const (
	CAFile         = "ca.pem"
	ServerCertFile = "server-cert.pem"
	ServerKeyFile  = "server-key.pem"
	UsersFile      = "users.conf"
	SeedFile       = "user.nk"
)

// The user roles of deploy/nats/nats-server.conf. Each has its own nkey,
// its own permissions and its own reply-subject prefix (InboxPrefix).
const (
	Worker   = "worker"
	Producer = "producer"
	Operator = "operator"
)

// InboxPrefix is the reply-subject prefix a role's clients must use
// (NATS_INBOX_PREFIX): nats-server.conf lets each role subscribe to its own
// prefix only, so that no role can read another's replies.
func InboxPrefix(role string) string { return "_INBOX_" + role }

// UsersVar is the variable users.conf defines for a role's public nkey
// (WORKER_NKEY for worker), which nats-server.conf refers to.
func UsersVar(role string) string { return strings.ToUpper(role) + "_NKEY" }

// Options say what to generate.
type Options struct {
	// Dir receives everything (required). It is created if missing.
	Dir string
	// Servers are the NATS servers' host names. Default nats-1, nats-2, nats-3.
	Servers []string
	// SANs are extra host names or IP addresses in every server certificate,
	// for clients that reach the servers by another name (a published port
	// on a LAN address). localhost, 127.0.0.1, ::1 and every server's name
	// are always in (routes may verify one server under another's name).
	SANs []string
	// Roles get an nkey each. Default worker, producer, operator.
	Roles []string
	// Validity of the CA and the certificates. Default 3 years.
	Validity time.Duration
	// Force makes everything again even when what is there is complete.
	Force bool
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if len(o.Servers) == 0 {
		o.Servers = []string{"nats-1", "nats-2", "nats-3"}
	}
	if len(o.Roles) == 0 {
		o.Roles = []string{Worker, Producer, Operator}
	}
	if o.Validity == 0 {
		o.Validity = 3 * 365 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("natsauth: Dir is required"))
	}
	seen := map[string]bool{}
	for _, n := range append(slices.Clone(o.Servers), o.Roles...) {
		if n == "" || n != filepath.Base(n) || strings.HasPrefix(n, ".") || n == CAFile {
			errs = append(errs, fmt.Errorf("natsauth: %q cannot name a directory", n))
		}
		if seen[n] {
			errs = append(errs, fmt.Errorf("natsauth: %q is named twice among servers and roles", n))
		}
		seen[n] = true
	}
	for _, r := range o.Roles {
		if strings.ContainsAny(r, ".*> \t") {
			errs = append(errs, fmt.Errorf("natsauth: role %q: letters, digits, - and _ only (it names an inbox prefix)", r))
		}
	}
	if o.Validity < 24*time.Hour {
		errs = append(errs, fmt.Errorf("natsauth: Validity %v is under a day", o.Validity))
	}
	return errors.Join(errs...)
}

// sans returns every host name and IP address a server certificate carries.
func (o Options) sans() (dns []string, ips []net.IP) {
	names := append(append([]string{}, o.Servers...), "localhost", "127.0.0.1", "::1")
	for _, n := range append(names, o.SANs...) {
		if ip := net.ParseIP(n); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
		} else if !slices.Contains(dns, n) {
			dns = append(dns, n)
		}
	}
	return dns, ips
}

// Result says what Generate did.
type Result struct {
	// Generated is false when the directory already held complete,
	// valid material, which was kept.
	Generated bool
	// Why it generated (or, when kept, empty).
	Reason string
	// NotAfter is when the server certificates expire.
	NotAfter time.Time
}

// renewBefore is how long before expiry material is made again.
const renewBefore = 30 * 24 * time.Hour

// Generate makes the material in o.Dir unless it is there already,
// complete, valid for 30 days more and for every SAN asked for. It never
// leaves a half-written directory: it writes a new one next to it and
// swaps it in.
func Generate(o Options) (Result, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return Result{}, err
	}
	if !o.Force {
		notAfter, err := check(o)
		if err == nil {
			return Result{NotAfter: notAfter}, nil
		}
		if !errors.Is(err, errMissing) && !errors.Is(err, errStale) {
			return Result{}, err
		}
		return generate(o, err.Error())
	}
	return generate(o, "forced")
}

var (
	errMissing = errors.New("missing")
	errStale   = errors.New("stale")
)

// check verifies what o.Dir holds: every file there, every server
// certificate signed by the CA, carrying every SAN, valid for a while, and
// users.conf naming each role's public key.
func check(o Options) (time.Time, error) {
	if _, err := os.Stat(o.Dir); errors.Is(err, os.ErrNotExist) {
		return time.Time{}, fmt.Errorf("%w: %s does not exist", errMissing, o.Dir)
	}
	read := func(parts ...string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(append([]string{o.Dir}, parts...)...))
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", errMissing, filepath.Join(parts...))
		}
		return b, err
	}
	caPEM, err := read(CAFile)
	if err != nil {
		return time.Time{}, err
	}
	ca, err := parseCert(caPEM)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s: %w", errStale, CAFile, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	now := o.Now()
	dns, ips := o.sans()
	var notAfter time.Time
	var users []byte
	for _, s := range o.Servers {
		b, err := read(s, CAFile)
		if err != nil {
			return time.Time{}, err
		}
		if string(b) != string(caPEM) {
			return time.Time{}, fmt.Errorf("%w: %s/%s is not %s", errStale, s, CAFile, CAFile)
		}
		certPEM, err := read(s, ServerCertFile)
		if err != nil {
			return time.Time{}, err
		}
		keyPEM, err := read(s, ServerKeyFile)
		if err != nil {
			return time.Time{}, err
		}
		cert, err := checkKeyPair(certPEM, keyPEM)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: %s: %w", errStale, s, err)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now.Add(renewBefore),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
			return time.Time{}, fmt.Errorf("%w: %s/%s: %w", errStale, s, ServerCertFile, err)
		}
		for _, n := range dns {
			if !slices.Contains(cert.DNSNames, n) {
				return time.Time{}, fmt.Errorf("%w: %s/%s has no SAN %s", errStale, s, ServerCertFile, n)
			}
		}
		for _, ip := range ips {
			if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
				return time.Time{}, fmt.Errorf("%w: %s/%s has no SAN %s", errStale, s, ServerCertFile, ip)
			}
		}
		u, err := read(s, UsersFile)
		if err != nil {
			return time.Time{}, err
		}
		if users != nil && string(u) != string(users) {
			return time.Time{}, fmt.Errorf("%w: the servers' %s differ", errStale, UsersFile)
		}
		users, notAfter = u, cert.NotAfter
	}
	for _, r := range o.Roles {
		b, err := read(r, CAFile)
		if err != nil {
			return time.Time{}, err
		}
		if string(b) != string(caPEM) {
			return time.Time{}, fmt.Errorf("%w: %s/%s is not %s", errStale, r, CAFile, CAFile)
		}
		seed, err := read(r, SeedFile)
		if err != nil {
			return time.Time{}, err
		}
		kp, err := nkeys.ParseDecoratedNKey(seed)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: %s/%s: %w", errStale, r, SeedFile, err)
		}
		pub, err := kp.PublicKey()
		kp.Wipe()
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: %s/%s: %w", errStale, r, SeedFile, err)
		}
		if !strings.Contains(string(users), usersLine(r, pub)) {
			return time.Time{}, fmt.Errorf("%w: %s does not hold %s's public key", errStale, UsersFile, r)
		}
	}
	return notAfter, nil
}

func parseCert(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// checkKeyPair parses a server's certificate and checks that its key
// matches.
func checkKeyPair(certPEM, keyPEM []byte) (*x509.Certificate, error) {
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ServerCertFile, err)
	}
	blk, _ := pem.Decode(keyPEM)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM key", ServerKeyFile)
	}
	k, err := x509.ParseECPrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ServerKeyFile, err)
	}
	if !k.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s does not match %s", ServerKeyFile, ServerCertFile)
	}
	return cert, nil
}

func usersLine(role, pub string) string {
	return fmt.Sprintf("%s: %q", UsersVar(role), pub)
}

// generate writes everything into a new directory next to o.Dir, then
// swaps it in.
func generate(o Options, reason string) (Result, error) {
	parent := filepath.Dir(filepath.Clean(o.Dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Result{}, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(o.Dir)+"-new-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(tmp)
	notAfter, err := write(o, tmp)
	if err != nil {
		return Result{}, err
	}
	if err := os.Chmod(tmp, 0o700); err != nil {
		return Result{}, err
	}
	old := tmp + "-old"
	if err := os.Rename(o.Dir, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return Result{}, fmt.Errorf("natsauth: moving the old %s aside: %w", o.Dir, err)
	}
	if err := os.Rename(tmp, o.Dir); err != nil {
		return Result{}, fmt.Errorf("natsauth: %w", err)
	}
	if err := os.RemoveAll(old); err != nil {
		return Result{}, fmt.Errorf("natsauth: removing the old material: %w", err)
	}
	return Result{Generated: true, Reason: reason, NotAfter: notAfter}, nil
}

func write(o Options, dir string) (time.Time, error) {
	now := o.Now().Add(-5 * time.Minute).Truncate(time.Minute) // some slack for clocks
	notAfter := now.Add(o.Validity)
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return time.Time{}, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"Kinetic"}, CommonName: "Kinetic NATS throwaway CA " + now.UTC().Format("2006-01-02T15:04Z")},
		NotBefore:             now,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return time.Time{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return time.Time{}, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	files := map[string][]byte{CAFile: caPEM}

	var users strings.Builder
	users.WriteString("# The public nkeys of Kinetic's NATS users, generated by deploy/certgen and\n" +
		"# included by deploy/nats/nats-server.conf. Public keys: not secret.\n")
	for _, r := range o.Roles {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return time.Time{}, err
		}
		seed, err := kp.Seed()
		if err != nil {
			return time.Time{}, err
		}
		seedFile := append(slices.Clone(seed), '\n') // Wipe overwrites seed
		pub, err := kp.PublicKey()
		if err != nil {
			return time.Time{}, err
		}
		kp.Wipe()
		files[filepath.Join(r, CAFile)] = caPEM
		files[filepath.Join(r, SeedFile)] = seedFile
		users.WriteString(usersLine(r, pub) + "\n")
	}

	dns, ips := o.sans()
	for _, s := range o.Servers {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return time.Time{}, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{Organization: []string{"Kinetic"}, CommonName: s},
			NotBefore:    now,
			NotAfter:     notAfter,
			KeyUsage:     x509.KeyUsageDigitalSignature,
			// Server for clients and routes; client for the routes it dials.
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			DNSNames:    dns,
			IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return time.Time{}, err
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return time.Time{}, err
		}
		files[filepath.Join(s, CAFile)] = caPEM
		files[filepath.Join(s, ServerCertFile)] = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		files[filepath.Join(s, ServerKeyFile)] = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
		files[filepath.Join(s, UsersFile)] = []byte(users.String())
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return time.Time{}, err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return time.Time{}, err
		}
		// WriteFile's mode is filtered by the umask; the containers need 0644.
		if err := os.Chmod(p, 0o644); err != nil {
			return time.Time{}, err
		}
		if err := os.Chmod(filepath.Dir(p), 0o755); err != nil {
			return time.Time{}, err
		}
	}
	return notAfter, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}
