package pipeline_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
)

// timeLayouts are Salesforce's time form (HH:mm:ss.SSSZ) and its ISO 8601
// shortenings: the reference for time fields, which the simulator lacks.
var timeLayouts = []string{"15:04:05.000Z07:00", "15:04:05Z07:00", "15:04:05.000", "15:04:05", "15:04"}

// FuzzValueCheck holds the value check to its promise: it never refuses a
// value that Salesforce — here the simulator, over HTTP, and for time
// fields Go's ISO 8601 reader with Salesforce's documented layouts — would
// accept, and it never panics. Every value the check refuses is sent to the
// simulator, which must refuse it too.
//
//	go test -run '^$' -fuzz '^FuzzValueCheck$' -fuzztime 60s ./pkg/pipeline/
func FuzzValueCheck(f *testing.F) {
	b := checkSetup(f)
	ctx := ctxT(f)
	d, err := b.client.Describe(ctx, "Check__c")
	if err != nil {
		f.Fatal(err)
	}
	// The simulator has no time type: add one to the describe the check
	// uses (never sent to the simulator).
	withTime := *d
	withTime.Fields = append(append([]salesforce.FieldDescribe(nil), d.Fields...),
		salesforce.FieldDescribe{Name: "Time__c", Label: "Time", Type: salesforce.FieldTime, Createable: true, Updateable: true, Nillable: true})
	raw, err := json.Marshal(withTime)
	if err != nil {
		f.Fatal(err)
	}
	desc, err := salesforce.ParseSObjectDescribe(raw)
	if err != nil {
		f.Fatal(err)
	}
	p := b.pipe(f, pipeline.Options{SObject: "Check__c", Schema: &pipeline.Schema{Object: desc}})
	fields := []string{"Num__c", "Cur__c", "Int__c", "Flag__c", "Day__c", "When__c", "Text__c", "Mail__c", "Tier__c", "Time__c"}

	for i, s := range []string{
		"1e3", "1,000", " 42 ", "-.5", "0x1p3", "NaN", "not disclosed", "١٢", "1e400", "",
		"true", "FALSE", "yes", "1", " true",
		"2024-07-30", "2024-7-3", "30/07/2024", "2024-07-30 20:54:16 UTC", "2024-07-30T20:54:16.000+02:00",
		"2024-07-30T20:54:16,5Z", "2024-07-30T8:05:00Z", "2015-08-25T11:49:53.0113029-07:00",
		"ten chars!", "eleven chars", "éééééééééé", " padded   ", "line\r\nline",
		"a@b.example", "nobody", "@b.c", "a@", "john.doe@(comment)example.com",
		"Gold", "gold", "Bronze", " Silver ",
		"20:54:16.123Z", "8:05", "20:54:16 PST", "25:00",
	} {
		for j := range fields {
			f.Add(uint8(i*len(fields)+j), s)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, s string) {
		if !utf8.ValidString(s) {
			return // the client refuses text that is not UTF-8 before any check
		}
		field := fields[int(which&0x7f)%len(fields)]
		var v any = s
		if which&0x80 != 0 {
			v = []any{s} // an array where one value belongs
		}
		_, rerr := p.Prepare(0, map[string]any{field: v})
		if rerr == nil {
			return // the check lets through what it cannot be sure of
		}
		if !rerr.PreCheck || rerr.Fields[0] != field {
			t.Fatalf("%s=%#v: %+v", field, v, rerr)
		}
		if field == "Time__c" {
			if _, isStr := v.(string); isStr {
				for _, l := range timeLayouts {
					if _, err := time.Parse(l, s); err == nil {
						t.Fatalf("the check refused time %q (%s), which layout %q reads", s, rerr.Code, l)
					}
				}
			}
			return
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := b.client.CreateRecord(cctx, "Check__c", salesforce.Record{field: v})
		if err == nil {
			t.Fatalf("the check refused %s=%#v with %s, and the simulator accepted it", field, v, rerr.Code)
		}
		if cctx.Err() != nil {
			t.Fatalf("the simulator did not answer for %s=%#v: %v", field, v, err)
		}
	})
}
