package producer

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/kinetic-sync/kinetic/pkg/jobs"
	"github.com/kinetic-sync/kinetic/pkg/messages"
	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// writeOutputs writes Data Loader-style result files by reading the inputs
// again and joining each record with its outcome by sequence:
//
//	success-<job>.csv     ID, the original columns, STATUS (Item Created, Item Updated, Item Deleted)
//	error-<job>.csv       the original columns, ERROR ("CODE: message"; SKIPPED, NOT_PUBLISHED, NO_OUTCOME)
//	duplicates-<job>.csv  ID, DUPLICATE_OF, the original columns: one row per extra record
//	                      Salesforce created for a record inserted more than once (only then)
func writeOutputs(o Options, pl *plan, rep *Report, inputs []*input, columns []string) error {
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return err
	}
	rep.SuccessFile = filepath.Join(o.OutDir, "success-"+rep.Job+".csv")
	rep.ErrorFile = filepath.Join(o.OutDir, "error-"+rep.Job+".csv")
	sf, err := os.Create(rep.SuccessFile)
	if err != nil {
		return err
	}
	defer sf.Close()
	ef, err := os.Create(rep.ErrorFile)
	if err != nil {
		return err
	}
	defer ef.Close()
	sw, ew := csv.NewWriter(sf), csv.NewWriter(ef)
	if err := sw.Write(slices.Concat([]string{"ID"}, columns, []string{"STATUS"})); err != nil {
		return err
	}
	if err := ew.Write(slices.Concat(columns, []string{"ERROR"})); err != nil {
		return err
	}
	var dw *csv.Writer
	extra := map[int64]jobs.DuplicateInsert{}
	for _, d := range rep.Result.DuplicateInserts {
		extra[d.Seq] = d
	}
	if len(extra) > 0 {
		rep.DuplicatesFile = filepath.Join(o.OutDir, "duplicates-"+rep.Job+".csv")
		df, err := os.Create(rep.DuplicatesFile)
		if err != nil {
			return err
		}
		defer df.Close()
		dw = csv.NewWriter(df)
		if err := dw.Write(slices.Concat([]string{"ID", "DUPLICATE_OF"}, columns)); err != nil {
			return err
		}
	}
	outcomes := rep.Result.Outcomes
	err = pl.eachRecord(inputs, func(rec *record) error {
		row := make([]string, len(columns))
		for i, c := range columns {
			row[i] = cell(rec.rec[c])
		}
		if d, ok := extra[rec.seq]; ok {
			for _, id := range d.IDs[1:] {
				if err := dw.Write(slices.Concat([]string{id, d.IDs[0]}, row)); err != nil {
					return err
				}
			}
		}
		if why, ok := rep.NotPublished[rec.seq]; ok {
			return ew.Write(append(row, why))
		}
		var oc messages.RecordOutcome
		if i := rec.seq - 1; i < int64(len(outcomes)) {
			oc = outcomes[i]
		}
		switch oc.Status {
		case messages.StatusLoaded:
			return sw.Write(slices.Concat([]string{oc.ID}, row, []string{itemStatus(o.Pipeline.Mode, oc.Created)}))
		case messages.StatusDeadLettered:
			return ew.Write(append(row, oc.Code+": "+oc.Message))
		case messages.StatusSkipped:
			return ew.Write(append(row, "SKIPPED: the job stopped on an earlier error"))
		default:
			return ew.Write(append(row, "NO_OUTCOME: no result arrived before the wait ended"))
		}
	})
	if err != nil {
		return fmt.Errorf("writing result files: %w", err)
	}
	for _, w := range []*csv.Writer{sw, ew, dw} {
		if w == nil {
			continue
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return err
		}
	}
	return nil
}

func itemStatus(mode pipeline.SyncMode, created bool) string {
	switch {
	case mode == pipeline.Delete:
		return "Item Deleted"
	case mode == pipeline.Insert || created:
		return "Item Created"
	default:
		return "Item Updated"
	}
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
