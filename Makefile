# Kinetic's build and test entry points. `make test` is what CI runs.
SHELL := /usr/bin/env bash
GO ?= go
FUZZTIME ?= 60s
export TESTCONTAINERS_RYUK_DISABLED ?= true

.PHONY: test lint unit images integration smoke bench bench-short demo fuzz

## test: everything CI runs — lint, unit and JetStream tests with -race,
## images, the container scenarios, the compose smoke test, the benchmark
## harness in short mode.
test: lint unit images integration smoke bench-short

# golangci-lint is pinned in tools/go.mod, a module of its own so that its
# dependencies never change the versions Kinetic builds with. It is built
# into bin/ (the Go build cache makes rebuilding it cheap).
GOLANGCI_LINT := $(CURDIR)/bin/golangci-lint

## lint: gofmt, go vet and golangci-lint (.golangci.yml) must be clean,
## with and without the integration build tag.
lint: $(GOLANGCI_LINT)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./integration/...
	$(GOLANGCI_LINT) run ./...
	$(GOLANGCI_LINT) run --build-tags integration ./integration/...

.PHONY: $(GOLANGCI_LINT)
$(GOLANGCI_LINT):
	$(GO) build -C tools -o $(GOLANGCI_LINT) github.com/golangci/golangci-lint/v2/cmd/golangci-lint

## unit: unit tests (simulator over HTTP, embedded nats-server) with the race detector.
unit:
	$(GO) test -race -timeout 30m ./...

## images: build kinetic/{worker,producer,sfsim,nats}:dev without pulling anything.
images:
	deploy/build-images.sh

## integration: the testcontainers scenarios (needs Docker and `make images`).
integration:
	$(GO) test -tags integration -timeout 40m -count 1 -v ./integration/...

## smoke: docker-compose up, the example job completes, counts check out, down.
smoke:
	deploy/smoke-test.sh

## bench: the full benchmark harness (minutes); writes bench/out/.
bench:
	$(GO) run ./bench

## bench-short: the harness in short mode: checks it works, asserts no timing.
bench-short:
	$(GO) run ./bench -short

## demo: the whole flow in one process.
demo:
	$(GO) run ./cmd/demo

## fuzz: every fuzz target for FUZZTIME (default 60s) each.
fuzz:
	$(GO) test ./pkg/salesforce/sfsim/internal/soql -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/salesforce/sfsim -run '^$$' -fuzz '^FuzzTokenRequest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/salesforce/sfsim -run '^$$' -fuzz '^FuzzBodyReaderMatchesEncodingJSON$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/pipeline -run '^$$' -fuzz '^FuzzMapper$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/pipeline -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/pipeline -run '^$$' -fuzz '^FuzzValueCheck$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/messages -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/messages -run '^$$' -fuzz '^FuzzDecodeBatchResult$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/messages -run '^$$' -fuzz '^FuzzDecodeDeadLetter$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/messages -run '^$$' -fuzz '^FuzzEncodeBatchResult$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/jsontext -run '^$$' -fuzz '^FuzzAppendJSONString$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/jsontext -run '^$$' -fuzz '^FuzzParseObject$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/jspull -run '^$$' -fuzz '^FuzzMetadata$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/jsontext -run '^$$' -fuzz '^FuzzAppendValue$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/salesforce -run '^$$' -fuzz '^FuzzParseBulkError$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/salesforce -run '^$$' -fuzz '^FuzzParseLimitInfo$$' -fuzztime $(FUZZTIME)
