package salesforce_test

import (
	"testing"

	"github.com/kinetic-sync/kinetic/pkg/salesforce"
	"github.com/kinetic-sync/kinetic/pkg/salesforce/sfsim"
)

func TestQueryPagesLazily(t *testing.T) {
	t.Parallel()
	c, env := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	if _, err := c.Insert(ctx, "Account", accounts(1000, "q")); err != nil {
		t.Fatal(err)
	}
	before := env.Server.Stats()
	it := c.Query(ctx, "SELECT Id, Name, External_Key__c FROM Account ORDER BY External_Key__c", salesforce.BatchSize(200))
	seen := 0
	for seen < 250 && it.Next() {
		if !salesforce.ValidID(it.Record()["Id"].(string)) {
			t.Fatalf("record %d: %v", seen, it.Record())
		}
		seen++
	}
	// 250 records need two pages of 200; nothing more was fetched.
	if it.Pages() != 2 {
		t.Errorf("after 250 records, %d pages fetched; want 2", it.Pages())
	}
	for it.Next() {
		seen++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != 1000 || it.TotalSize() != 1000 || it.Pages() != 5 {
		t.Errorf("seen %d of totalSize %d in %d pages; want 1000 in 5", seen, it.TotalSize(), it.Pages())
	}
	after := env.Server.Stats()
	if got := after.CallsByKind["query_more"] - before.CallsByKind["query_more"]; got != 4 {
		t.Errorf("nextRecordsUrl calls = %d, want 4", got)
	}
}

func TestQueryDefaultPageIs2000AndAllIterates(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	if _, err := c.Insert(ctx, "Account", accounts(2100, "p")); err != nil {
		t.Fatal(err)
	}
	it := c.Query(ctx, "SELECT Id FROM Account")
	n := 0
	for rec, err := range it.All() {
		if err != nil {
			t.Fatal(err)
		}
		if rec["Id"] == nil {
			t.Fatal("record without Id")
		}
		n++
	}
	if n != 2100 || it.Pages() != 2 {
		t.Errorf("%d records in %d pages; want 2100 in 2", n, it.Pages())
	}
}

func TestQueryAllIncludesDeletedAndCount(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	res, err := c.Insert(ctx, "Account", accounts(10, "d"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, []string{res[0].ID, res[1].ID}); err != nil {
		t.Fatal(err)
	}
	live, err := c.Count(ctx, "SELECT COUNT() FROM Account")
	if err != nil || live != 8 {
		t.Errorf("COUNT() = %d, %v; want 8", live, err)
	}
	it := c.QueryAll(ctx, "SELECT Id, IsDeleted FROM Account WHERE IsDeleted = true")
	deleted := 0
	for it.Next() {
		if it.Record()["IsDeleted"] != true {
			t.Errorf("record %v", it.Record())
		}
		deleted++
	}
	if it.Err() != nil || deleted != 2 {
		t.Errorf("queryAll deleted = %d, %v; want 2", deleted, it.Err())
	}
}

func TestQueryRelationshipFields(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, sfsim.Config{})
	ctx := ctxT(t)
	if _, err := c.CreateRecord(ctx, "Account", salesforce.Record{"Name": "Parent Co", "External_Key__c": "P-1"}); err != nil {
		t.Fatal(err)
	}
	child, err := c.CreateRecord(ctx, "Account", salesforce.Record{"Name": "Child Co", "Parent": salesforce.Record{"External_Key__c": "P-1"}})
	if err != nil {
		t.Fatal(err)
	}
	it := c.Query(ctx, "SELECT Id, Parent.Name FROM Account WHERE Name LIKE 'child%'")
	if !it.Next() {
		t.Fatalf("no record: %v", it.Err())
	}
	rec := it.Record()
	parent, ok := rec["Parent"].(map[string]any)
	if rec["Id"] != child.ID || !ok || parent["Name"] != "Parent Co" {
		t.Errorf("record = %v", rec)
	}
	if _, ok := parent["attributes"]; ok {
		t.Error("nested attributes were not stripped")
	}
}
