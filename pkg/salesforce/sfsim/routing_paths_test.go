package sfsim

// routingPaths are the paths the routing contract test sends every method
// to: every resource, trailing slashes, unknown objects, jobs and paths.
func routingPaths(acc, job string) []string {
	return []string{
		"/services/data", "/services/data/", "/services/data/v66.0", "/services/data/v66.0/", "/services/data/v45.0/limits",
		"/services/data/v66.5/limits", "/services/data/66.0/limits", "/services/data/vx.0/limits", "/services/data/latest/limits",
		"limits", "limits/", "limits/x",
		"sobjects", "sobjects/", "sobjects/Account", "sobjects/account/", "sobjects/Nope__c", "sobjects/Nope__c/describe",
		"sobjects/Account/describe", "sobjects/Account/describe/", "sobjects/Account/Describe",
		"sobjects/Account/" + acc, "sobjects/Account/" + acc + "/", "sobjects/Account/Id", "sobjects/Account/id",
		"sobjects/Account/bogus", "sobjects/Account/External_Key__c/K", "sobjects/Account/External_Key__c/K/",
		"sobjects/Account/a/b/c",
		"composite", "composite/x", "composite/sobjects", "composite/sobjects/", "composite/sobjects/Account",
		"composite/sobjects/Nope__c", "composite/sobjects/Account/External_Key__c", "composite/sobjects/Account/External_Key__c/",
		"composite/sobjects/Account/External_Key__c/x",
		"query", "query/", "query?q=SELECT+Id+FROM+Account", "query/01gXX-2000", "query/a/b", "queryAll", "queryAll/01gXX-2000",
		"jobs", "jobs/x", "jobs/ingest", "jobs/ingest/", "jobs/ingest/" + job, "jobs/ingest/" + job + "/",
		"jobs/ingest/750Kn0000000000AAA", "jobs/ingest/750Kn0000000000AAA/batches",
		"jobs/ingest/" + job + "/batches", "jobs/ingest/" + job + "/successfulResults", "jobs/ingest/" + job + "/successfulresults/",
		"jobs/ingest/" + job + "/failedResults/", "jobs/ingest/" + job + "/unprocessedrecords/", "jobs/ingest/" + job + "/other",
		"jobs/ingest/" + job + "/batches/x",
		"nope", "/nope", "/services", "/services/oauth2", "/services/oauth2/token/x",
	}
}
