// Package integration runs Kinetic's real binaries in containers and breaks
// things on purpose: a 3-node NATS JetStream cluster (R3 streams), the
// Salesforce simulator and several worker replicas, each on a Docker network
// of its own per test. The scenarios kill workers with SIGKILL, stop a NATS
// node, inject Salesforce faults, partition a worker from the network,
// restart the workers one by one and feed bad input, and then account for
// every record published: loaded (counted in the simulator), dead-lettered
// (read from the dead-letter stream) or skipped, with duplicates measured.
//
// The tests carry the build tag "integration" and need Docker and the local
// images (deploy/build-images.sh, or `make images`):
//
//	make images
//	make integration   # TESTCONTAINERS_RYUK_DISABLED=true go test -tags integration -timeout 40m -count 1 -v ./integration/...
//
// Nothing is pulled: the images are built locally FROM scratch, and the
// Ryuk reaper is disabled, so every test removes its own containers and
// network (also when it fails); TestMain removes what a killed run of this
// package left behind.
package integration
