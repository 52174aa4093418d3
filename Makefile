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

## lint: gofmt and go vet must be clean.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./integration/...

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
	$(GO) test ./pkg/pipeline -run '^$$' -fuzz '^FuzzMapper$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/pipeline -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/messages -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/messages -run '^$$' -fuzz '^FuzzDecodeBatchResult$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/messages -run '^$$' -fuzz '^FuzzDecodeDeadLetter$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/messages -run '^$$' -fuzz '^FuzzDecodeRecordMatchesEncodingJSON$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/messages -run '^$$' -fuzz '^FuzzBatchResultFastPath$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/jsontext -run '^$$' -fuzz '^FuzzAppendJSONString$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/salesforce -run '^$$' -fuzz '^FuzzParseBulkError$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/salesforce -run '^$$' -fuzz '^FuzzParseLimitInfo$$' -fuzztime $(FUZZTIME)
