package natsauth_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/kinetic-sync/kinetic/deploy/natsauth"
)

func generate(t *testing.T, o natsauth.Options) natsauth.Result {
	t.Helper()
	res, err := natsauth.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// snapshot reads every file under dir.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestGenerateLayoutAndModes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "secrets", "nats")
	res := generate(t, natsauth.Options{Dir: dir})
	if !res.Generated || res.Reason == "" {
		t.Fatalf("first run: %+v", res)
	}
	if d := time.Until(res.NotAfter); d < 3*364*24*time.Hour || d > 3*366*24*time.Hour {
		t.Errorf("certificates valid until %v, want about 3 years", res.NotAfter)
	}
	var want []string
	want = append(want, natsauth.CAFile)
	for _, s := range []string{"nats-1", "nats-2", "nats-3"} {
		for _, f := range []string{natsauth.CAFile, natsauth.ServerCertFile, natsauth.ServerKeyFile, natsauth.UsersFile} {
			want = append(want, filepath.Join(s, f))
		}
	}
	for _, r := range []string{natsauth.Worker, natsauth.Producer, natsauth.Operator} {
		want = append(want, filepath.Join(r, natsauth.CAFile), filepath.Join(r, natsauth.SeedFile))
	}
	files := snapshot(t, dir)
	if len(files) != len(want) {
		t.Errorf("%d files, want %d: %v", len(files), len(want), files)
	}
	for _, f := range want {
		if _, ok := files[f]; !ok {
			t.Errorf("%s is missing", f)
		}
		st, err := os.Stat(filepath.Join(dir, f))
		if err == nil && st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644 (containers run as other users)", f, st.Mode().Perm())
		}
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("%s: mode %v (%v), want 0700", dir, st.Mode().Perm(), err)
	}
	if st, err := os.Stat(filepath.Join(dir, "worker")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("worker/: mode %v (%v), want 0755", st.Mode().Perm(), err)
	}
	// Nothing left next to it.
	if ents, _ := os.ReadDir(filepath.Dir(dir)); len(ents) != 1 {
		t.Errorf("%s holds %d entries, want only nats/", filepath.Dir(dir), len(ents))
	}
}

func TestServerCertificatesVerify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	generate(t, natsauth.Options{Dir: dir, SANs: []string{"nats.example.com", "10.1.2.3"}})
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(filepath.Join(dir, natsauth.CAFile))
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("ca.pem holds no certificate")
	}
	for _, s := range []string{"nats-1", "nats-2", "nats-3"} {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, s, natsauth.ServerCertFile), filepath.Join(dir, s, natsauth.ServerKeyFile))
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		cert, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		if cert.Subject.CommonName != s {
			t.Errorf("%s: CN %q", s, cert.Subject.CommonName)
		}
		// Clients reach a server by its name or through a published port;
		// a route may check a server under another's name.
		for _, name := range []string{"nats-1", "nats-2", "nats-3", "localhost", "127.0.0.1", "::1", "nats.example.com", "10.1.2.3"} {
			for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
					t.Errorf("%s as %s (usage %v): %v", s, name, usage, err)
				}
			}
		}
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: "evil.example.com", Roots: pool}); err == nil {
			t.Errorf("%s verifies for a name it was not issued for", s)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, s, natsauth.CAFile)); !bytes.Equal(b, ca) {
			t.Errorf("%s/ca.pem differs from ca.pem", s)
		}
	}
}

func TestNkeysMatchUsersFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	generate(t, natsauth.Options{Dir: dir})
	users, err := os.ReadFile(filepath.Join(dir, "nats-2", natsauth.UsersFile))
	if err != nil {
		t.Fatal(err)
	}
	pubs := map[string]bool{}
	for _, r := range []string{natsauth.Worker, natsauth.Producer, natsauth.Operator} {
		seed, err := os.ReadFile(filepath.Join(dir, r, natsauth.SeedFile))
		if err != nil {
			t.Fatal(err)
		}
		kp, err := nkeys.ParseDecoratedNKey(seed)
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		pub, _ := kp.PublicKey()
		if !nkeys.IsValidPublicUserKey(pub) {
			t.Errorf("%s: %s is not a user key", r, pub)
		}
		if !strings.Contains(string(users), natsauth.UsersVar(r)+`: "`+pub+`"`) {
			t.Errorf("users.conf does not give %s = %s:\n%s", natsauth.UsersVar(r), pub, users)
		}
		if strings.Contains(string(users), string(bytes.TrimSpace(seed))) {
			t.Errorf("users.conf holds %s's seed", r)
		}
		pubs[pub] = true
	}
	if len(pubs) != 3 {
		t.Errorf("roles share nkeys: %v", pubs)
	}
}

func TestGenerateKeepsCompleteMaterial(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	generate(t, natsauth.Options{Dir: dir})
	before := snapshot(t, dir)

	if res := generate(t, natsauth.Options{Dir: dir}); res.Generated {
		t.Errorf("second run generated again: %s", res.Reason)
	}
	if after := snapshot(t, dir); !equalFiles(before, after) {
		t.Error("second run changed the files")
	}
	// A SAN that is already in (localhost is always) changes nothing.
	if res := generate(t, natsauth.Options{Dir: dir, SANs: []string{"localhost"}}); res.Generated {
		t.Errorf("run with a known SAN generated again: %s", res.Reason)
	}
}

func TestGenerateRenews(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		change func(t *testing.T, dir string) natsauth.Options
		reason string
	}{
		{"forced", func(t *testing.T, dir string) natsauth.Options {
			return natsauth.Options{Dir: dir, Force: true}
		}, "forced"},
		{"a new SAN", func(t *testing.T, dir string) natsauth.Options {
			return natsauth.Options{Dir: dir, SANs: []string{"nats.example.com"}}
		}, "no SAN nats.example.com"},
		{"a file missing", func(t *testing.T, dir string) natsauth.Options {
			if err := os.Remove(filepath.Join(dir, "producer", natsauth.SeedFile)); err != nil {
				t.Fatal(err)
			}
			return natsauth.Options{Dir: dir}
		}, "missing: producer/user.nk"},
		{"a damaged certificate", func(t *testing.T, dir string) natsauth.Options {
			if err := os.WriteFile(filepath.Join(dir, "nats-3", natsauth.ServerCertFile), []byte("garbage"), 0o644); err != nil {
				t.Fatal(err)
			}
			return natsauth.Options{Dir: dir}
		}, "nats-3"},
		{"expiry within 30 days", func(t *testing.T, dir string) natsauth.Options {
			return natsauth.Options{Dir: dir, Now: func() time.Time { return time.Now().Add(3*365*24*time.Hour - 20*24*time.Hour) }}
		}, "expired"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			generate(t, natsauth.Options{Dir: dir})
			before := snapshot(t, dir)
			res := generate(t, c.change(t, dir))
			if !res.Generated {
				t.Fatal("kept the material")
			}
			if !strings.Contains(res.Reason, c.reason) {
				t.Errorf("reason %q does not contain %q", res.Reason, c.reason)
			}
			after := snapshot(t, dir)
			if bytes.Equal(before[natsauth.CAFile], after[natsauth.CAFile]) {
				t.Error("the CA is the same: everything must be made again")
			}
			if res := generate(t, natsauth.Options{Dir: dir, SANs: []string{"nats.example.com"}}); c.name == "a new SAN" && res.Generated {
				t.Errorf("run after renewal generated again: %s", res.Reason)
			}
		})
	}
}

func TestGenerateRefusesBadOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []natsauth.Options{
		{},
		{Dir: t.TempDir(), Servers: []string{"../x"}},
		{Dir: t.TempDir(), Roles: []string{"a.b"}},
		{Dir: t.TempDir(), Servers: []string{"worker"}},
		{Dir: t.TempDir(), Validity: time.Hour},
	} {
		if _, err := natsauth.Generate(o); err == nil {
			t.Errorf("%+v: accepted", o)
		}
	}
}

// deploy/nats/nats-server.conf loads with generated material: its syntax,
// the include, the variables, the TLS files and the three users.
func TestServerConfigLoads(t *testing.T) {
	t.Setenv("NATS_SERVER_NAME", "nats-1")
	dir := t.TempDir()
	generate(t, natsauth.Options{Dir: filepath.Join(dir, "material")})
	conf, err := os.ReadFile(filepath.Join("..", "nats", "nats-server.conf"))
	if err != nil {
		t.Fatal(err)
	}
	// As the container sees it: the config next to secrets/ (nats-1's directory).
	if err := os.Symlink(filepath.Join(dir, "material", "nats-1"), filepath.Join(dir, "secrets")); err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(conf), "/etc/nats/secrets/", filepath.Join(dir, "secrets")+"/")
	text = strings.ReplaceAll(text, "store_dir: /data", "store_dir: "+filepath.Join(dir, "data"))
	path := filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if opts.ServerName != "nats-1" || opts.Cluster.Name != "kinetic" || !opts.JetStream {
		t.Errorf("server %q in cluster %q, JetStream %v", opts.ServerName, opts.Cluster.Name, opts.JetStream)
	}
	if opts.TLSConfig == nil || opts.Cluster.TLSConfig == nil {
		t.Fatal("no TLS on client or route connections")
	}
	if opts.Cluster.TLSConfig.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Errorf("routes: client auth %v, want RequireAndVerifyClientCert (mutual TLS)", opts.Cluster.TLSConfig.ClientAuth)
	}
	if !opts.Cluster.NoAdvertise {
		t.Error("cluster addresses are advertised to clients")
	}
	if opts.HTTPHost != "127.0.0.1" {
		t.Errorf("monitoring listens on %q, want 127.0.0.1 only", opts.HTTPHost)
	}
	if len(opts.Nkeys) != 3 || len(opts.Users) != 0 || opts.NoAuthUser != "" {
		t.Fatalf("%d nkey users, %d other users, no_auth_user %q; want the 3 nkeys only", len(opts.Nkeys), len(opts.Users), opts.NoAuthUser)
	}
	for _, nk := range opts.Nkeys {
		if nk.Account == nil || nk.Account.Name != "KINETIC" {
			t.Errorf("%s: not in account KINETIC", nk.Nkey)
		}
		p := nk.Permissions
		if p == nil || p.Publish == nil || len(p.Publish.Allow) == 0 || p.Subscribe == nil || len(p.Subscribe.Allow) != 1 {
			t.Errorf("%s: permissions %+v", nk.Nkey, p)
			continue
		}
		if in := p.Subscribe.Allow[0]; !strings.HasPrefix(in, "_INBOX_") || !strings.HasSuffix(in, ".>") {
			t.Errorf("%s subscribes to %q, want its own _INBOX_<role>.>", nk.Nkey, in)
		}
		for _, s := range p.Publish.Allow {
			if s == ">" || s == "$JS.API.>" || strings.HasPrefix(s, "$JS.API.STREAM.DELETE") {
				t.Errorf("%s may publish to %s", nk.Nkey, s)
			}
		}
	}
}

func equalFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
