package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/kinetic-sync/kinetic/pkg/pipeline"
	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

// These examples are the original SyncPipeline documentation's, in Go, run
// against the Salesforce simulator. startOrg stands in for a real org: with
// one, build the client from salesforce.ConfigFromEnv() instead.
func startOrg() (*salesforce.Client, *sfsim.Server, func()) {
	schema, err := sfsim.ParseSchema([]byte(`
objects:
  - name: Account
    fields:
      - {name: External_Key__c, type: string, length: 40, external_id: true, unique: true}
      - {name: Customer_Tier__c, type: picklist, values: [Platinum, Gold, Silver], restricted: true}
`))
	if err != nil {
		panic(err)
	}
	// The simulator answers token requests with its InstanceURL, which is
	// the server's address: start the server first, then the simulator.
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	sim, err := sfsim.New(sfsim.Config{Schema: schema, InstanceURL: srv.URL})
	if err != nil {
		panic(err)
	}
	srv.Config.Handler = sim
	client, err := salesforce.New(salesforce.Config{
		LoginURL: srv.URL, Flow: salesforce.FlowPassword,
		ClientID: sfsim.DefaultConsumerKey, ClientSecret: sfsim.DefaultClientSecret,
		Username: sfsim.DefaultUsername, Password: sfsim.DefaultPassword,
		AllowHTTP: true, // the simulator, on loopback
	})
	if err != nil {
		panic(err)
	}
	return client, sim, func() { srv.Close(); sim.Close() }
}

// Example 1 of the original documentation: a CSV import with mapping.
func ExamplePipeline_Sync_csvImport() {
	client, sim, stop := startOrg()
	defer stop()

	csvData := `Company Name,Email Address,Phone Number,Industry Type,Annual Revenue
ACME Corp,INFO@ACME.COM,555-0100,Technology,1500000
Globex Inc,Contact@Globex.com,555-0101,Manufacturing,
Initech,admin@initech.com,555-0102,Technology,not disclosed
`
	records, err := pipeline.ReadCSV(strings.NewReader(csvData))
	if err != nil {
		panic(err)
	}
	mapper, err := pipeline.NewFieldMapper([]pipeline.FieldSpec{
		{Source: "Company Name", Target: "Name"},
		{Source: "Email Address", Target: "Description", Transform: "lower"},
		{Source: "Phone Number", Target: "Phone"},
		{Source: "Industry Type", Target: "Industry"},
		{Source: "Annual Revenue", Target: "AnnualRevenue", Transform: "float"},
	}, pipeline.MapperOptions{})
	if err != nil {
		panic(err)
	}
	p, err := pipeline.New(pipeline.Options{Client: client, SObject: "Account", Mapper: mapper, Mode: pipeline.Insert, BatchSize: 200})
	if err != nil {
		panic(err)
	}
	result, err := p.Sync(context.Background(), records)
	if err != nil {
		panic(err)
	}
	fmt.Println("Import complete:", result.Status)
	fmt.Println("  Success:", result.SuccessCount)
	fmt.Println("  Failed:", result.ErrorCount)
	for _, e := range result.Errors {
		fmt.Printf("  row %d: %s %s\n", e.Index+1, e.Code, e.Record["Company Name"])
	}
	n, _ := sim.Count("Account")
	fmt.Println("Accounts in the org:", n.Live)
	// Output:
	// Import complete: partial
	//   Success: 2
	//   Failed: 1
	//   row 3: KINETIC_MAPPING_FAILED Initech
	// Accounts in the org: 2
}

// The original's UPDATE mode with mapping: account_id → Id.
func ExamplePipeline_Sync_update() {
	client, _, stop := startOrg()
	defer stop()
	ctx := context.Background()
	created, _ := client.Insert(ctx, "Account", []salesforce.Record{{"Name": "ACME"}, {"Name": "Globex"}})

	mapper, _ := pipeline.NewFieldMapper([]pipeline.FieldSpec{
		{Source: "account_id", Target: "Id"},
		{Source: "new_phone", Target: "Phone"},
		{Source: "new_industry", Target: "Industry"},
	}, pipeline.MapperOptions{})
	p, _ := pipeline.New(pipeline.Options{Client: client, SObject: "Account", Mapper: mapper, Mode: pipeline.Update})
	result, _ := p.Sync(ctx, []map[string]any{
		{"account_id": created[0].ID, "new_phone": "555-1111", "new_industry": "Tech"},
		{"account_id": created[1].ID, "new_phone": "555-2222", "new_industry": "Retail"},
		{"new_phone": "555-3333"}, // no id: a record error, nothing sent
	})
	fmt.Printf("Updated %d accounts, %d failed (%s)\n", result.SuccessCount, result.ErrorCount, result.Errors[0].Code)
	acme, _ := client.GetRecord(ctx, "Account", created[0].ID, "Phone", "Industry")
	fmt.Println(acme["Phone"], acme["Industry"])
	// Output:
	// Updated 2 accounts, 1 failed (KINETIC_MISSING_ID)
	// 555-1111 Tech
}

// UPSERT run twice: the first run creates, the second updates the same
// records — no duplicates.
func ExamplePipeline_Sync_upsertTwice() {
	client, sim, stop := startOrg()
	defer stop()
	ctx := context.Background()
	p, _ := pipeline.New(pipeline.Options{Client: client, SObject: "Account", Mode: pipeline.Upsert, ExternalIDField: "External_Key__c"})
	data := []map[string]any{
		{"External_Key__c": "EXT001", "Name": "ACME Corp"},
		{"External_Key__c": "EXT002", "Name": "Globex Inc"},
	}
	created := func(r *pipeline.SyncResult) (n int) {
		for _, c := range r.Created {
			if c {
				n++
			}
		}
		return n
	}
	first, _ := p.Sync(ctx, data)
	fmt.Printf("first run: %d upserted, %d created\n", first.SuccessCount, created(first))
	data[0]["Name"] = "ACME Corporation"
	second, _ := p.Sync(ctx, data)
	fmt.Printf("second run: %d upserted, %d created, same ids: %v\n", second.SuccessCount, created(second), second.SalesforceIDs[0] == first.SalesforceIDs[0])
	n, _ := sim.Count("Account")
	fmt.Println("accounts in the org:", n.Live)
	// Output:
	// first run: 2 upserted, 2 created
	// second run: 2 upserted, 0 created, same ids: true
	// accounts in the org: 2
}

// DELETE mode: records need their Id.
func ExamplePipeline_Sync_delete() {
	client, sim, stop := startOrg()
	defer stop()
	ctx := context.Background()
	created, _ := client.Insert(ctx, "Account", []salesforce.Record{{"Name": "A"}, {"Name": "B"}, {"Name": "C"}})
	p, _ := pipeline.New(pipeline.Options{Client: client, SObject: "Account", Mode: pipeline.Delete})
	result, _ := p.Sync(ctx, []map[string]any{{"Id": created[0].ID}, {"Id": created[1].ID}})
	n, _ := sim.Count("Account")
	fmt.Printf("Deleted %d accounts; %d left, %d in the recycle bin\n", result.SuccessCount, n.Live, n.Deleted)
	// Output:
	// Deleted 2 accounts; 1 left, 2 in the recycle bin
}

// Callbacks printing progress. (OnRecordStart runs as records are prepared,
// which may be ahead of the batches completing, so it prints nothing here.)
func ExamplePipeline_Sync_callbacks() {
	client, _, stop := startOrg()
	defer stop()
	p, _ := pipeline.New(pipeline.Options{
		Client: client, SObject: "Account", Mode: pipeline.Insert, BatchSize: 2,
		Callbacks: pipeline.Callbacks{
			OnRecordSuccess: func(r map[string]any, id string) error {
				fmt.Printf("✓ Created %s for %s\n", id[:3]+"…", r["Name"])
				return nil
			},
			OnRecordError: func(r map[string]any, err error) error {
				fmt.Printf("✗ Failed: %v - %v\n", r["Name"], err)
				return nil
			},
			OnBatchComplete: func(n, total int, res pipeline.SyncResult) error {
				fmt.Printf("Batch %d/%d complete (success %d, errors %d)\n", n, total, res.SuccessCount, res.ErrorCount)
				return nil
			},
		},
	})
	_, _ = p.Sync(context.Background(), []map[string]any{{"Name": "New Company 1"}, {"Name": "New Company 2"}, {"Name": nil}})
	// Output:
	// ✓ Created 001… for New Company 1
	// ✓ Created 001… for New Company 2
	// Batch 1/2 complete (success 2, errors 0)
	// ✗ Failed: <nil> - record 2: REQUIRED_FIELD_MISSING: Required fields are missing: [Name] (fields: Name)
	// Batch 2/2 complete (success 2, errors 1)
}

// stop_on_error returns the partial result with the error (the original
// raised and lost it).
func ExamplePipeline_Sync_stopOnError() {
	client, _, stop := startOrg()
	defer stop()
	p, _ := pipeline.New(pipeline.Options{Client: client, SObject: "Account", Mode: pipeline.Insert, BatchSize: 1, StopOnError: true})
	result, err := p.Sync(context.Background(), []map[string]any{{"Name": "ok"}, {"Phone": "no name"}, {"Name": "never sent"}})
	fmt.Println("stopped:", errors.Is(err, pipeline.ErrStopped))
	fmt.Println(err)
	fmt.Println(result)
	// Output:
	// stopped: true
	// pipeline stopped on error: record 1: REQUIRED_FIELD_MISSING: Required fields are missing: [Name] (fields: Name)
	// SyncResult(status=partial, total=3, success=1, errors=1, skipped=1, rate=33.3%)
}

// The original's "Example 5": bulk update with progress tracking, from a
// SOQL query.
func ExamplePipeline_Sync_bulkUpdateFromQuery() {
	client, _, stop := startOrg()
	defer stop()
	ctx := context.Background()
	seed := []salesforce.Record{
		{"Name": "Big Tech", "Industry": "Technology", "AnnualRevenue": 25_000_000},
		{"Name": "Mid Tech", "Industry": "Technology", "AnnualRevenue": 2_500_000},
		{"Name": "Small Tech", "Industry": "Technology", "AnnualRevenue": 90_000},
		{"Name": "Farm", "Industry": "Agriculture", "AnnualRevenue": 50_000_000},
	}
	if _, err := client.Insert(ctx, "Account", seed); err != nil {
		panic(err)
	}

	// Query accounts to update.
	var updates []map[string]any
	it := client.Query(ctx, "SELECT Id, AnnualRevenue FROM Account WHERE Industry = 'Technology'")
	for it.Next() {
		acc := it.Record()
		revenue, _ := acc["AnnualRevenue"].(float64)
		tier := "Silver"
		if revenue > 10_000_000 {
			tier = "Platinum"
		} else if revenue > 1_000_000 {
			tier = "Gold"
		}
		updates = append(updates, map[string]any{"Id": acc["Id"], "Customer_Tier__c": tier})
	}
	if it.Err() != nil {
		panic(it.Err())
	}
	p, _ := pipeline.New(pipeline.Options{
		Client: client, SObject: "Account", Mode: pipeline.Update, BatchSize: 200,
		Callbacks: pipeline.Callbacks{OnBatchComplete: func(n, total int, r pipeline.SyncResult) error {
			fmt.Printf("Progress: %.1f%% (%d/%d batches)\n", float64(n)/float64(total)*100, n, total)
			fmt.Printf("  Processed: %d/%d\n", r.SuccessCount+r.ErrorCount, r.TotalRecords)
			return nil
		}},
	})
	result, _ := p.Sync(ctx, updates)
	fmt.Println("Update complete!")
	fmt.Println("  Total:", result.TotalRecords)
	fmt.Println("  Updated:", result.SuccessCount)
	tiers := client.Query(ctx, "SELECT Name, Customer_Tier__c FROM Account WHERE Industry = 'Technology' ORDER BY Name")
	for tiers.Next() {
		fmt.Println(" ", tiers.Record()["Name"], "→", tiers.Record()["Customer_Tier__c"])
	}
	// Output:
	// Progress: 100.0% (1/1 batches)
	//   Processed: 3/3
	// Update complete!
	//   Total: 3
	//   Updated: 3
	//   Big Tech → Platinum
	//   Mid Tech → Gold
	//   Small Tech → Silver
}
