package sfsim

import (
	"net/http"
	"strings"

	"github.com/kinetic-sync/kinetic/internal/jsontext"
)

// Routing, with http.ServeMux method+pattern routes. The top-level mux
// serves the version list, the token endpoint, the admin API and hands
// /services/data/vNN.N/… to the data mux, whose patterns start with the
// version ("/{ver}/sobjects/{o}"). Every data path also has a pattern
// without a method that answers Salesforce's 405 (JSON array, "Allowed
// are …") or 404, so ServeMux never answers with its own text bodies; a
// HEAD request on a GET resource is refused (405) as it was.
// Paths behave as they did under the hand-written router before it
// (TestRoutingContract); one trailing slash is ignored.

// knownMethods are the methods data patterns are registered for; a request
// with another method reaches only the catch-all (404).
// (GET patterns match HEAD too.)
var knownMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodTrace, http.MethodConnect}

// dataFunc handles one data call after the common checks (serveData).
type dataFunc func(c *call) *apiError

// dataRoute adapts a dataFunc to the data mux.
type dataRoute struct {
	s  *Server
	fn dataFunc
}

func (d dataRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.s.serveData(w, r, d.fn) }

func (s *Server) routes() (top, data *http.ServeMux) {
	top = http.NewServeMux()
	top.HandleFunc("/services/data", s.serveVersions)
	top.HandleFunc("/services/data/{$}", s.serveVersions)
	top.HandleFunc("/services/data/", s.dispatchData)
	top.HandleFunc("/services/oauth2/token", s.serveToken)
	top.HandleFunc("/services/oauth2/token/{$}", s.serveToken)
	top.HandleFunc("/__admin", s.serveAdmin)
	top.HandleFunc("/__admin/", s.serveAdmin)
	top.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeErrorArray(w, errNotFound(), nil) })

	data = http.NewServeMux()
	// handle registers fns by method on pattern, and fallback for every
	// other method (HEAD included when GET is served).
	// The fallback is registered per method: a method-less pattern would
	// conflict with a method pattern on a more general path
	// ("POST /{ver}/sobjects/{o}/{id}" against "/{ver}/sobjects/{o}/describe").
	handle := func(pattern string, fallback dataFunc, fns map[string]dataFunc) {
		for _, m := range knownMethods {
			fn := fns[m]
			if fn == nil {
				fn = fallback
			}
			if m == http.MethodGet {
				// A GET pattern also matches HEAD, which the simulator
				// refuses like any other method the path does not serve.
				get := fn
				fn = func(c *call) *apiError {
					if c.r.Method == http.MethodHead {
						return fallback(c)
					}
					return get(c)
				}
			}
			data.Handle(m+" "+pattern, dataRoute{s, fn})
		}
	}
	// every registers fn for every method.
	every := func(pattern string, fn dataFunc) { handle(pattern, fn, nil) }
	notFound := func(c *call) *apiError { return errNotFound() }
	method := func(kind string, allowed ...string) dataFunc {
		return func(c *call) *apiError {
			if kind != "" {
				c.st.kind = kind
			}
			return errMethod(c.r.Method, allowed...)
		}
	}
	// withStore resolves {o} (404 when the object is unknown) first.
	withStore := func(fn func(c *call, st *store, od *objectDef) *apiError) dataFunc {
		return func(c *call) *apiError {
			st := c.cat.store(c.r.PathValue("o"))
			if st == nil {
				return errNotFound()
			}
			return fn(c, st, st.def.Load())
		}
	}
	storeMethod := func(kind string, allowed ...string) dataFunc {
		return withStore(func(c *call, _ *store, _ *objectDef) *apiError { return method(kind, allowed...)(c) })
	}
	// withJob resolves {id} (404, kind bulk_get, when there is no such job).
	withJob := func(fn func(c *call, j *bulkJob) *apiError) dataFunc {
		return func(c *call) *apiError {
			j := c.s.bulk.get(c.r.PathValue("id"))
			if j == nil {
				c.st.kind = "bulk_get"
				return errNotFound()
			}
			return fn(c, j)
		}
	}
	jobMethod := func(kind string, allowed ...string) dataFunc {
		return withJob(func(c *call, _ *bulkJob) *apiError { return method(kind, allowed...)(c) })
	}
	kinded := func(kind string, fn dataFunc) dataFunc {
		return func(c *call) *apiError { c.st.kind = kind; return fn(c) }
	}

	data.Handle("/{ver}/{rest...}", dataRoute{s, notFound})
	handle("/{ver}", kinded("resources", notFound), map[string]dataFunc{
		http.MethodGet: kinded("resources", (*call).resources)})
	handle("/{ver}/limits", method("limits", "GET", "HEAD"), map[string]dataFunc{
		http.MethodGet: kinded("limits", (*call).limitsInfo)})
	every("/{ver}/limits/{rest...}", kinded("limits", notFound))

	handle("/{ver}/sobjects", method("describe", "GET", "HEAD"), map[string]dataFunc{
		http.MethodGet: kinded("describe", (*call).describeGlobal)})
	handle("/{ver}/sobjects/{o}", storeMethod("", "GET", "POST", "HEAD"), map[string]dataFunc{
		http.MethodPost: withStore(func(c *call, st *store, od *objectDef) *apiError {
			c.st.kind = "sobject_create"
			return c.createOne(st, od)
		}),
		http.MethodGet: withStore(func(c *call, _ *store, od *objectDef) *apiError {
			c.st.kind = "describe"
			return c.describe(od, true)
		}),
	})
	handle("/{ver}/sobjects/{o}/describe", storeMethod("describe", "GET", "HEAD"), map[string]dataFunc{
		http.MethodGet: withStore(func(c *call, _ *store, od *objectDef) *apiError {
			c.st.kind = "describe"
			return c.describe(od, false)
		}),
	})
	handle("/{ver}/sobjects/{o}/{id}", storeMethod("", "GET", "PATCH", "DELETE", "HEAD"), map[string]dataFunc{
		// POST /sobjects/{o}/Id inserts (Id as an external id with no value).
		http.MethodPost: withStore(func(c *call, st *store, od *objectDef) *apiError {
			if !strings.EqualFold(c.r.PathValue("id"), "Id") {
				return errMethod(c.r.Method, "GET", "PATCH", "DELETE", "HEAD")
			}
			c.st.kind = "sobject_create"
			return c.createOne(st, od)
		}),
		http.MethodGet: withStore(func(c *call, st *store, od *objectDef) *apiError {
			c.st.kind = "sobject_get"
			return c.getOne(st, od, c.r.PathValue("id"))
		}),
		http.MethodPatch: withStore(func(c *call, st *store, od *objectDef) *apiError {
			c.st.kind = "sobject_update"
			return c.updateOne(st, od, c.r.PathValue("id"))
		}),
		http.MethodDelete: withStore(func(c *call, st *store, od *objectDef) *apiError {
			c.st.kind = "sobject_delete"
			return c.deleteOne(st, od, c.r.PathValue("id"))
		}),
	})
	handle("/{ver}/sobjects/{o}/{field}/{value}", storeMethod("", "GET", "PATCH", "HEAD"), map[string]dataFunc{
		http.MethodPatch: withStore(func(c *call, st *store, od *objectDef) *apiError {
			c.st.kind = "sobject_upsert"
			return c.upsertOne(st, od, c.r.PathValue("field"), c.r.PathValue("value"))
		}),
		http.MethodGet: withStore(func(c *call, st *store, od *objectDef) *apiError {
			c.st.kind = "sobject_get"
			return c.getByExternal(st, od, c.r.PathValue("field"), c.r.PathValue("value"))
		}),
	})
	every("/{ver}/sobjects/{o}/{field}/{value}/{rest...}", withStore(
		func(*call, *store, *objectDef) *apiError { return errNotFound() }))

	handle("/{ver}/composite/sobjects", method("", "POST", "PATCH", "DELETE"), map[string]dataFunc{
		http.MethodPost:   kinded("collections_create", func(c *call) *apiError { return c.collectionsWrite(opInsert) }),
		http.MethodPatch:  kinded("collections_update", func(c *call) *apiError { return c.collectionsWrite(opUpdate) }),
		http.MethodDelete: kinded("collections_delete", (*call).collectionsDelete),
	})
	retrieve := withStore(func(c *call, st *store, _ *objectDef) *apiError {
		c.st.kind = "collections_retrieve"
		return c.collectionsRetrieve(st)
	})
	handle("/{ver}/composite/sobjects/{o}", storeMethod("", "GET", "POST"), map[string]dataFunc{
		http.MethodGet: retrieve, http.MethodPost: retrieve})
	handle("/{ver}/composite/sobjects/{o}/{field}", storeMethod("", "PATCH"), map[string]dataFunc{
		http.MethodPatch: withStore(func(c *call, st *store, _ *objectDef) *apiError {
			c.st.kind = "collections_upsert"
			return c.collectionsUpsert(st, c.r.PathValue("field"))
		}),
	})
	every("/{ver}/composite/sobjects/{o}/{field}/{rest...}", withStore(
		func(*call, *store, *objectDef) *apiError { return errNotFound() }))

	for _, q := range []struct {
		name string
		all  bool
	}{{"query", false}, {"queryAll", true}} {
		all := q.all
		handle("/{ver}/"+q.name, method("query", "GET", "HEAD"), map[string]dataFunc{
			http.MethodGet: kinded("query", func(c *call) *apiError { return c.query(all) })})
		handle("/{ver}/"+q.name+"/{locator}", method("query_more", "GET", "HEAD", "DELETE"), map[string]dataFunc{
			http.MethodGet: kinded("query_more", func(c *call) *apiError { return c.queryMore(c.r.PathValue("locator")) })})
	}

	handle("/{ver}/jobs/ingest", method("", "GET", "POST"), map[string]dataFunc{
		http.MethodPost: kinded("bulk_create", (*call).bulkCreate),
		http.MethodGet:  kinded("bulk_list", (*call).bulkList),
	})
	handle("/{ver}/jobs/ingest/{id}", jobMethod("", "GET", "PATCH", "DELETE"), map[string]dataFunc{
		http.MethodGet: withJob(func(c *call, j *bulkJob) *apiError {
			c.st.kind = "bulk_get"
			c.body.b = c.appendJobInfo(c.body.b, j, true)
			return nil
		}),
		http.MethodPatch: withJob(func(c *call, j *bulkJob) *apiError {
			c.st.kind = "bulk_close"
			return c.bulkSetState(j)
		}),
		http.MethodDelete: withJob(func(c *call, j *bulkJob) *apiError {
			c.st.kind = "bulk_delete"
			return c.bulkDelete(j)
		}),
	})
	handle("/{ver}/jobs/ingest/{id}/batches", jobMethod("bulk_upload", "PUT"), map[string]dataFunc{
		http.MethodPut: withJob(func(c *call, j *bulkJob) *apiError {
			c.st.kind = "bulk_upload"
			return c.bulkUpload(j)
		}),
	})
	// Result names match in any case (successfulresults, failedResults, …).
	every("/{ver}/jobs/ingest/{id}/{which}", withJob(func(c *call, j *bulkJob) *apiError {
		which := strings.ToLower(c.r.PathValue("which"))
		switch which {
		case "successfulresults", "failedresults", "unprocessedrecords":
		default:
			return errNotFound()
		}
		c.st.kind = "bulk_results"
		if c.r.Method != http.MethodGet {
			return errMethod(c.r.Method, "GET")
		}
		return c.bulkResults(j, which)
	}))
	every("/{ver}/jobs/ingest/{id}/{which}/{rest...}", withJob(
		func(*call, *bulkJob) *apiError { return errNotFound() }))
	return top, data
}

// dispatchData hands /services/data/{ver}/… to the data mux. Exactly one
// trailing slash is ignored, as Salesforce ignores it; a path with an empty,
// "." or ".." segment is answered 404 after the common checks (ServeMux
// would redirect it).
func (s *Server) dispatchData(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimSuffix(r.URL.Path[len(dataPrefix):], "/")
	ver, tail, _ := strings.Cut(rest, "/")
	if ver == "" || ver == "." || ver == ".." {
		ver = "-" // not a version: 404
	}
	for _, seg := range strings.Split(tail, "/") {
		if tail != "" && (seg == "" || seg == "." || seg == "..") {
			tail = "\x00" // no pattern but the catch-all matches it
			break
		}
	}
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path = "/" + ver
	if tail != "" {
		u.Path += "/" + tail
	}
	u.RawPath = ""
	r2.URL = &u
	s.dataMux.ServeHTTP(w, r2)
}

// resources answers GET /services/data/vNN.N/: the version's resources.
func (c *call) resources() *apiError {
	b := c.body.b
	b = append(b, '{')
	for i, r := range [...]string{"composite", "jobs", "limits", "query", "queryAll", "sobjects"} {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsontext.AppendStringHTML(b, r)
		b = append(b, `:"/services/data/`...)
		b = append(b, c.ver...)
		b = append(b, '/')
		b = append(b, r...)
		b = append(b, '"')
	}
	b = append(b, '}')
	c.body.b = b
	return nil
}
