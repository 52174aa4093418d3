package pipeline_test

import (
	"errors"
	"math"
	"testing"

	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// FuzzValueCheck holds the value check to its promise: it never refuses a
// value that Salesforce (here the simulator, which follows the same
// documented rules independently) accepts. A value the check refuses is
// sent unchecked; the simulator must refuse it too, with the same code.
//
//	go test ./pkg/pipeline -run '^$' -fuzz FuzzValueCheck -fuzztime 60s
func FuzzValueCheck(f *testing.F) {
	fields := []string{"Num__c", "Cur__c", "Int__c", "Flag__c", "Day__c", "When__c", "Text__c", "Mail__c", "Tier__c"}
	for i, s := range []string{"1e3", " -1.5E3 ", "0x1p3", "forty-two", "TRUE", "2024-07-30", "2024-07-30T20:54:16.000+02:00",
		"ten chars!!", "a@b", "Bronze", "", "1", "2024-02-30", "gold", "24:00:00"} {
		f.Add(uint8(i), uint8(0), s, 0.0)
	}
	f.Add(uint8(2), uint8(1), "", 12.5)
	f.Add(uint8(3), uint8(1), "", 1.0)
	f.Add(uint8(6), uint8(2), "", 0.0)
	f.Add(uint8(0), uint8(2), "", 1.0)
	b := checkSetup(f)
	checked := b.pipe(f, pipeline.Options{SObject: "Check__c", Mode: pipeline.Upsert, ExternalIDField: "Ext__c"})
	f.Fuzz(func(t *testing.T, field, kind uint8, s string, x float64) {
		var v any
		switch kind % 3 {
		case 0:
			v = s
		case 1:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return // JSON has no such number
			}
			v = x
		case 2:
			v = x > 0
		}
		name := fields[int(field)%len(fields)]
		rec := map[string]any{"Ext__c": "K-1", name: v}
		_, rerr := checked.Prepare(0, rec)
		if rerr == nil {
			return // let through: Salesforce decides
		}
		if !rerr.PreCheck {
			t.Fatalf("%s=%#v: an error not from the value check: %+v", name, v, rerr)
		}
		res, err := b.client.Upsert(ctxT(t), "Check__c", "Ext__c", []salesforce.Record{{"Ext__c": "K-1", name: v}})
		if err != nil {
			var ae *salesforce.APIError
			if !errors.As(err, &ae) || ae.Code != rerr.Code {
				t.Fatalf("%s=%#v: checked %s, the simulator says %v", name, v, rerr.Code, err)
			}
			return
		}
		if res[0].Success {
			t.Fatalf("%s=%#v: the check refuses it (%s: %s), the simulator accepts it", name, v, rerr.Code, rerr.Message)
		}
		if got := res[0].Errors[0].StatusCode; got != rerr.Code {
			t.Fatalf("%s=%#v: checked %s, the simulator says %s", name, v, rerr.Code, got)
		}
	})
}
