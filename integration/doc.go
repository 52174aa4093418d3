// Package integration runs Kinetic's real binaries in containers and breaks
// things on purpose. Each test gets a Docker network of its own with a
// 3-node NATS JetStream cluster (R3 streams), the Salesforce simulator and
// (mostly) three worker replicas, and talks to them through published
// ports: it publishes with messages.Publisher, follows jobs with jobs.Watch,
// reads the simulator through sfsim.AdminClient and the dead letters with
// deadletter.Inspector.
//
//	TestBaseline            50,000 UPSERT records, 3 workers: each loaded exactly once
//	TestWorkerCrash         kill -9 a worker every 2s and start it again, 30,000 UPSERT +
//	                        30,000 INSERT: nothing lost, no UPSERT duplicate, INSERT
//	                        duplicates measured (at-least-once)
//	TestNATSNodeLoss        the node leading the records and results streams is killed
//	                        mid-run and restarted, 30,000 UPSERT published across it
//	TestResultsStreamOutage the results stream refuses writes for 8s mid-run (as while it
//	                        elects a leader), 10,000 UPSERT: every outcome still reported
//	TestSalesforceFaults    10% 503, 5% UNABLE_TO_LOCK_ROW, session expiry every 500
//	                        calls, daily API limit reached and raised, 20,000 UPSERT in
//	                        batches of 20
//	TestNetworkPartition    a worker with batches in flight is cut off the network,
//	                        10,000 UPSERT: the others take its records over after AckWait
//	TestRollingRestart      SIGTERM, start, /readyz, worker after worker, 30,000 UPSERT
//	TestPoisonAndBadInput   12 bad payloads/records and 2 bad headers among 5,000
//	TestDeadLetterInspectorInCluster  pkg/deadletter (producer dlq …) lists and replays
//	                        reliably against the cluster: 50 Lists of 20 dead letters
//	TestWorkerHealthEndpoints  /healthz, /readyz and /metrics through a published port
//
// Every scenario ends with an accounting table (published, loaded as counted
// in the simulator and as reported, dead-lettered in the dead-letter stream
// and as reported, skipped, records with no outcome, duplicates in
// Salesforce, redeliveries, duplicate outcomes, elapsed time) and checks
// that every record is accounted for exactly once.
//
// The tests carry the build tag "integration" and need Docker and the local
// images (deploy/build-images.sh, or `make images`):
//
//	make images
//	make integration   # TESTCONTAINERS_RYUK_DISABLED=true go test -tags integration -timeout 40m -count 1 -v ./integration/...
//
// Nothing is pulled: the images are built locally FROM scratch, and the
// Ryuk reaper is disabled, so every test removes its own containers and
// network, also when it fails (after logging the last lines of each
// container); TestMain removes what a killed run of this package left
// behind, and fails loudly when Docker or an image is missing.
package integration
