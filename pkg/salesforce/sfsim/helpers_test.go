package sfsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testSchema adds the fields most tests use to the standard objects.
const testSchemaYAML = `
objects:
  - name: Account
    fields:
      - {name: External_Key__c, type: string, length: 40, external_id: true, unique: true}
      - {name: Score__c, type: double}
      - {name: Customer_Tier__c, type: picklist, values: [Platinum, Gold, Silver], restricted: true}
      - {name: Loose_Key__c, type: string, external_id: true}
      - {name: Signed__c, type: datetime}
      - {name: Active__c, type: boolean}
      - {name: Seats__c, type: int}
  - name: Invoice__c
    key_prefix: a01
    fields:
      - {name: Name, type: string, length: 80, required: true}
      - {name: Number__c, type: string, length: 20, external_id: true, unique: true}
      - {name: Account__c, type: reference, reference_to: Account, relationship_name: Account__r}
      - {name: Amount__c, type: currency}
`

func testSchema(t testing.TB) *Schema {
	t.Helper()
	s, err := ParseSchema([]byte(testSchemaYAML))
	if err != nil {
		t.Fatalf("ParseSchema: %v", err)
	}
	return s
}

// fixture is a simulator with a session.
type fixture struct {
	t     testing.TB
	env   *TestEnv
	token string
	hc    *http.Client
}

func setup(t testing.TB, cfg Config) *fixture {
	t.Helper()
	if cfg.Schema == nil {
		cfg.Schema = testSchema(t)
	}
	env := StartTest(t, cfg)
	return &fixture{t: t, env: env, token: env.Token(t), hc: env.HTTP.Client()}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorArray decodes a REST error array and returns its single element.
func (r *response) errorArray(t testing.TB) (code, message string, fields []string) {
	t.Helper()
	var arr []struct {
		Message   string   `json:"message"`
		ErrorCode string   `json:"errorCode"`
		Fields    []string `json:"fields"`
	}
	r.json(t, &arr)
	if len(arr) != 1 {
		t.Fatalf("error array has %d elements: %s", len(arr), r.body)
	}
	return arr[0].ErrorCode, arr[0].Message, arr[0].Fields
}

// do sends a request to a data path (relative to /services/data/v66.0/) or
// an absolute path, with the fixture's token.
func (f *fixture) do(method, path string, body any, hdr ...string) *response {
	f.t.Helper()
	return f.doToken(f.token, method, path, body, hdr...)
}

func (f *fixture) doToken(token, method, path string, body any, hdr ...string) *response {
	f.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		if strings.HasPrefix(path, "/") {
			u = f.env.URL + path
		} else {
			u = f.env.DataURL(path)
		}
	}
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
		ct = "application/json"
	case []byte:
		rd = bytes.NewReader(b)
		ct = "text/csv"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
		ct = "application/json"
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}
}

// expect fails unless the response has the given status.
func (r *response) expect(t testing.TB, status int) *response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	return r
}

// create makes a record through the single-record endpoint and returns its id.
func (f *fixture) create(object string, fields map[string]any) string {
	f.t.Helper()
	r := f.do("POST", "sobjects/"+object, fields).expect(f.t, http.StatusCreated)
	var out struct {
		ID      string `json:"id"`
		Success bool   `json:"success"`
	}
	r.json(f.t, &out)
	if !out.Success || out.ID == "" {
		f.t.Fatalf("create: %s", r.body)
	}
	return out.ID
}

// token posts a token request form.
func (f *fixture) tokenForm(form url.Values) *response {
	f.t.Helper()
	resp, err := f.hc.PostForm(f.env.URL+"/services/oauth2/token", form)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return &response{status: resp.StatusCode, header: resp.Header, body: data}
}

// signJWT signs claims with the test key (RS256).
func (f *fixture) signJWT(claims jwt.MapClaims) string {
	f.t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(f.env.PrivateKey)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// waitFor polls cond until it holds or the timeout passes.
