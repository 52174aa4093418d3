package pipeline_test

import (
	"context"
	"fmt"

	"github.com/kinetic-sync/kinetic/pkg/pipeline"
)

// A pipelines file checked against the org before anything is loaded (what
// `worker --check` prints): every pipeline, every problem.
func ExampleCheckConfig() {
	client, _, stop := startOrg()
	defer stop()
	cfg, err := pipeline.ParseConfig("pipelines.yaml", []byte(`
pipelines:
  - name: accounts
    sobject: Account
    mode: upsert
    external_id_field: External_Key__c
    mapping: {key: External_Key__c, company: Name, tier: Customer_Tier__c}
  - name: contacts
    sobject: Contact
    mapping: {last: LastName, mail: E_mail, account: Account.External_Key__c, created: CreatedDate}
`))
	if err != nil {
		panic(err)
	}
	report, err := pipeline.CheckConfig(context.Background(), cfg, client)
	fmt.Print(report)
	fmt.Println("all fit:", err == nil)
	// Output:
	// accounts (Account upsert): ok
	// contacts (Contact insert): 2 problem(s)
	//   mapping.mail → E_mail: Contact has no field E_mail (did you mean Email?)
	//   mapping.created → CreatedDate: Contact.CreatedDate is not createable, and mode insert creates records (Salesforce refuses it: INVALID_FIELD_FOR_INSERT_UPDATE)
	// all fit: false
}

// Values Salesforce would refuse fail their own record before anything is
// sent; the good records load.
func ExamplePipeline_Sync_valueCheck() {
	client, _, stop := startOrg()
	defer stop()
	mapper, err := pipeline.NewFieldMapper([]pipeline.FieldSpec{
		{Source: "company", Target: "Name"},
		{Source: "tier", Target: "Customer_Tier__c"},
		{Source: "revenue", Target: "AnnualRevenue"},
	}, pipeline.MapperOptions{})
	if err != nil {
		panic(err)
	}
	p, err := pipeline.New(pipeline.Options{Client: client, SObject: "Account", Mapper: mapper})
	if err != nil {
		panic(err)
	}
	res, err := p.Sync(context.Background(), []map[string]any{
		{"company": "ACME Corp", "tier": "Gold", "revenue": "1500000"},
		{"company": "Globex", "tier": "Diamond"},
		{"company": "Initech", "revenue": "not disclosed"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res)
	for _, e := range res.Errors {
		fmt.Printf("record %d: %s (before sending: %v)\n  %s\n", e.Index, e.Code, e.PreCheck, e.Message)
	}
	fmt.Println("API calls:", res.Metadata.APICalls)
	// Output:
	// SyncResult(status=partial, total=3, success=1, errors=2, skipped=0, rate=33.3%)
	// record 1: INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST (before sending: true)
	//   Customer Tier: bad value for restricted picklist field: Diamond (found by Kinetic before sending: the record was not sent)
	// record 2: JSON_PARSER_ERROR (before sending: true)
	//   Cannot deserialize instance of currency from VALUE_STRING value not disclosed or request may be missing a required field (field AnnualRevenue) (found by Kinetic before sending: the record was not sent)
	// API calls: 1
}
