# talentreg — one entry point for humans and CI.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO       ?= go
TOOLS    := $(CURDIR)/.tools/bin
# Every module shares the talentreg/ path prefix, so this covers the workspace.
PKGS     := talentreg/...

BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GRPC_GATEWAY_VERSION       := v2.33.0
GRPCURL_VERSION            := v1.9.4

BUF := $(TOOLS)/buf

.PHONY: tools grpcurl generate check-generated lint breaking release-image build test test-short run bench ops-tools images clean

## tools: install the pinned proto toolchain into .tools/bin
tools: $(BUF) $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc $(TOOLS)/protoc-gen-grpc-gateway $(TOOLS)/protoc-gen-openapiv2

$(BUF):
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
$(TOOLS)/protoc-gen-grpc-gateway:
	GOBIN=$(TOOLS) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION)
$(TOOLS)/protoc-gen-openapiv2:
	GOBIN=$(TOOLS) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$(GRPC_GATEWAY_VERSION)

## grpcurl: install the pinned grpcurl into .tools/bin (for the README's gRPC examples)
grpcurl: $(TOOLS)/grpcurl
$(TOOLS)/grpcurl:
	GOBIN=$(TOOLS) $(GO) install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

third_party/googleapis/google/api/annotations.proto:
	./scripts/googleapis.sh

## generate: rebuild gen/ and the OpenAPI document from proto/
generate: tools third_party/googleapis/google/api/annotations.proto
	rm -rf gen/talentreg gateway/openapi/*.swagger.json
	$(BUF) lint
	$(BUF) generate
	# protoc-gen-openapiv2 names an expanded path parameter by trimming the
	# collection's final "s": entities → "entitie", policies → "policie".
	# Name them as API.md does.
	sed -i 's/{entitie}/{entity}/g; s/"name": "entitie"/"name": "entity"/g; s/{policie}/{policy}/g; s/"name": "policie"/"name": "policy"/g' gateway/openapi/talentreg.swagger.json

## check-generated: fail when gen/ or the OpenAPI document is stale
check-generated: generate
	@git diff --exit-code -- gen gateway/openapi || { echo "generated code is stale: run 'make generate' and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- gen gateway/openapi)" || { git status --porcelain -- gen gateway/openapi; echo "untracked generated files: run 'make generate' and commit" >&2; exit 1; }

## lint: buf lint, gofmt and go vet
lint: tools third_party/googleapis/google/api/annotations.proto
	$(BUF) lint
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'))" || { gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'); echo "gofmt needed" >&2; exit 1; }
	$(GO) vet $(PKGS)

## breaking: buf breaking (FILE rules) against the last release's committed image, offline
breaking: tools third_party/googleapis/google/api/annotations.proto
	./scripts/buf-breaking.sh

## release-image: REF=vX.Y.Z writes api/releases/REF.binpb, the image `make breaking` checks against
release-image: tools third_party/googleapis/google/api/annotations.proto
	./scripts/buf-breaking.sh $(REF) --image

## ops-tools: kustomize, kubeconform, promtool/prometheus, skopeo, umoci for the deployment tests
ops-tools:
	./scripts/ops-tools.sh

## images: the three container images as OCI layouts in bin/images, without a Docker daemon
images:
	rm -rf bin/images
	$(GO) run ./deploy/cmd/ocibuild -out bin/images

## build: bin/registry, bin/metrics, bin/gateway, bin/talentctl
build:
	$(GO) build -o bin/registry ./services/registry/cmd/registry
	$(GO) build -o bin/metrics ./services/metrics/cmd/metrics
	$(GO) build -o bin/gateway ./gateway/cmd/gateway
	$(GO) build -o bin/talentctl ./talentctl/cmd/talentctl

## test: every test in the workspace, with the race detector
test:
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

## run: start the whole stack on the defaults with the demo data loaded
## (addresses and folders from HTTP_ADDR, REGISTRY_ADDR, … DATA_DIR: see scripts/run.sh)
run: build
	./scripts/run.sh

## bench: talentreg against its floors and etcd, on bbolt and on etcd (issues 6, 13), search and as-of reads (issue 14), ~35 min; writes BENCHMARKS.md
bench: build
	$(GO) build -o bin/bench-harness ./bench/cmd/harness
	$(GO) build -o bin/bench-floor ./bench/cmd/floor
	$(GO) build -o bin/etcdmember ./etcdmember
	bin/bench-harness -floor bin/bench-floor -etcd-bin bin/etcdmember -out BENCHMARKS.md -command "make bench $(BENCH_FLAGS)" $(BENCH_FLAGS)

clean:
	rm -rf bin .tools third_party
