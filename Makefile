# flowsim: every Go command here builds with -tags nozstd (the protocol module pulls a
# cgo zstd codec otherwise) and binaries are static (CGO_ENABLED=0) so they run in any
# container.
GO        ?= go
TAGS      ?= nozstd
BIN       ?= bin
GOTEST    ?= $(GO) test -tags $(TAGS)
export CGO_ENABLED ?= 0

.PHONY: all build test unit race lint bench fuzz-short envtest manifests docker-build e2e clean generate wire-proof

all: build

## build: static binaries into ./bin (flowsim, manager, reference-connector, materialize-postgres)
build:
	$(GO) build -tags $(TAGS) -trimpath -ldflags "-s -w" -o $(BIN)/ ./cmd/... ./examples/...

## test: every test (unit, Docker, PostgreSQL, envtest), the race detector, a short fuzz
## run, then the end-to-end suite on a real local cluster (skipped with its reason on a
## machine that cannot run one, unless CI=true), after make lint. CI runs this.
test: lint envtest
	KUBEBUILDER_ASSETS="$$(bash hack/envtest.sh path)" $(GOTEST) -count=1 -timeout 45m ./...
	$(MAKE) wire-proof
	$(MAKE) race
	$(MAKE) fuzz-short
	$(MAKE) e2e

## race: the short tests under the race detector (it needs cgo, whatever CGO_ENABLED says)
race: envtest
	KUBEBUILDER_ASSETS="$$(bash hack/envtest.sh path)" CGO_ENABLED=1 $(GOTEST) -race -short -count=1 -timeout 40m ./...

## unit: tests that need no external service (Docker, PostgreSQL, envtest tests skip unless CI=true)
unit:
	$(GOTEST) -count=1 -short ./...

## lint: go vet, gofmt, and no build outputs in git (tracked binaries or files over 1 MB)
lint:
	bash hack/check-tracked.sh
	$(GO) vet -tags $(TAGS) ./...
	$(GO) vet -tags $(TAGS),e2e ./test/e2e/
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: throughput and memory benchmarks (docs/s, bytes/key, transport ratios)
bench:
	$(GOTEST) -run '^$$' -bench . -benchmem -benchtime 1x ./matsim/... ./internal/cli/ ./connector/... ./examples/materialize-postgres/

## fuzz-short: a short run of every fuzz target (seed corpora live in testdata/fuzz).
## The budget is a count of executions, not a duration: a duration races Go 1.26's
## fuzz coordinator at the deadline (golang/go#75804) and fails with no finding.
FUZZ_EXECS ?= 30000x
fuzz-short:
	@for t in $$(bash hack/fuzz-targets.sh); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "fuzz $$pkg $$name"; \
	  $(GOTEST) -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZ_EXECS) $$pkg || exit 1; \
	done

## envtest: build kube-apiserver and etcd from the Go module proxy into the user's cache (once)
envtest:
	bash hack/envtest.sh ensure

## generate: regenerate the protobuf code of flowsim's own protocol messages
## (protocol/wire*/): needs protoc (apt-get install -y protobuf-compiler); installs
## protoc-gen-go at the google.golang.org/protobuf version of go.mod
PROTOC_GEN_GO_VERSION = $(shell $(GO) list -m -f '{{.Version}}' google.golang.org/protobuf)
generate:
	GOBIN=$(CURDIR)/$(BIN)/tools $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	PATH="$(CURDIR)/$(BIN)/tools:$$PATH" $(GO) generate ./protocol/...

## wire-proof: prove flowsim's 2022-era messages against the real module of that era
## (a nested module: one go.mod holds one version of github.com/estuary/flow)
wire-proof:
	cd protocol/wire2022/proof2022 && $(GOTEST) -count=1 ./...
	cd protocol/wire2022/proof2022 && $(GO) vet -tags $(TAGS) ./...

## manifests: regenerate CRDs and RBAC with controller-gen
manifests:
	bash hack/manifests.sh

## docker-build: the flowsim and manager images, FROM scratch
docker-build: build
	bash hack/docker-build.sh

## e2e: the end-to-end suite on a local single-node cluster (root, Docker; hack/cluster/,
## hack/e2e.sh): cluster up, images, operator install, tests and benchmarks, cluster down.
e2e: build
	bash hack/e2e.sh

clean:
	rm -rf $(BIN)
