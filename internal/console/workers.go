package console

import (
	"context"
	"net/http"
	"time"

	"github.com/kinetic-sync/kinetic/pkg/messages"
)

// workersPage is the data of the workers page.
type workersPage struct {
	Bucket  string
	Workers []messages.WorkerStatus
	Ready   int
	TTL     time.Duration
	Read    bool // the bucket could be read
}

func (s *Server) handleWorkers(w http.ResponseWriter, r *http.Request) {
	wp := &workersPage{Bucket: s.opts.Topology.WorkersBucket(), TTL: messages.WorkersTTL}
	var errs []string
	if js, err := s.js(); err != nil {
		errs = append(errs, err.Error())
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		ws, err := messages.ListWorkers(ctx, js, s.opts.Topology)
		if err != nil {
			errs = append(errs, err.Error())
		} else {
			wp.Read = true
			wp.Workers = ws
			for _, x := range ws {
				if x.Ready {
					wp.Ready++
				}
			}
		}
	}
	v := view{Title: "Workers", Nav: "workers", Data: wp, Errors: errs}
	if s.opts.Refresh > 0 && r.URL.Query().Get("refresh") != "0" {
		v.Refresh = int(s.opts.Refresh / time.Second)
	}
	s.render(w, r, http.StatusOK, "workers", v)
}
