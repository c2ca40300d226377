# taskmill — run `make help` for the targets.
SHELL := bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help venv binaries browser node-tools cluster cluster-down crds docs verify lint test test-unit test-integration test-e2e image demo bench clean

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(STAMP) ## Create .venv with taskmill and the dev tools

binaries: ## Build or unpack the pinned tools: control plane, kubelet + scheduler, helm, Prometheus, SeaweedFS, kwok (cached in ~/.cache/taskmill)
	hack/build-control-plane.sh kube node etcd helm prometheus seaweedfs kwok

browser: ## Debian's chromium + chromedriver for the UI tests, installed when missing (needs root)
	hack/install-browser.sh

node-tools: ## Debian's containerd, runc, CNI plugins, podman, buildah, mmdebstrap, iptables, conntrack for the kubelet e2e, installed when missing (needs root; without it the e2e skips)
	-hack/install-node.sh

cluster: venv binaries ## Start the local control plane; kubeconfig at .taskmill/kubeconfig (KUBELET=1: with one real node, needs root and make node-tools)
	$(BIN)/python -m tests.harness up $(if $(KUBELET),--kubelet)

cluster-down: venv ## Stop the local control plane
	$(BIN)/python -m tests.harness down

crds: venv ## Regenerate crds/ and the chart's copies from the API types and the default policy
	$(BIN)/python -m taskmill.api.crdgen
	cp taskmill/status/default-policy.yaml charts/taskmill/files/statuspolicy-default.yaml

docs: venv ## Regenerate docs/api.md from the API types
	$(BIN)/python hack/apidocs.py

verify: crds lint ## Fail when generated CRDs or docs are stale, or lint fails
	git diff --exit-code -- crds charts/taskmill/files/crds charts/taskmill/files/statuspolicy-default.yaml
	@test -z "$$(git status --porcelain -- crds charts/taskmill/files/crds)" || { echo "untracked generated files in crds/"; exit 1; }
	$(BIN)/python hack/apidocs.py --check

lint: venv ## ruff, and mypy --strict over the packages, tests and bench
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python hack/typecheck.py

test: venv binaries browser node-tools ## The whole suite (integration tests start their own control plane; the e2e its own node)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: venv ## Unit tests only (no cluster)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: venv binaries browser ## Integration tests only
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: venv binaries node-tools ## End to end as pods: on a local kubelet (root) and on kind (Docker); each skips, saying why, where it cannot run
	$(BIN)/python -m pytest tests/e2e -rs $(PYTEST_ARGS)

image: ## Build the image taskmill:dev from the Dockerfile: Docker where an engine runs, else podman (make node-tools)
	hack/images.sh taskmill taskmill:dev

demo: venv binaries ## Run the main job end to end on the local control plane
	$(BIN)/python -m tests.harness demo

bench: venv binaries ## Benchmarks: prints a table, writes bench/results/*.json
	$(BIN)/python -m bench

clean: ## Remove the venv and local state (not the binary cache)
	rm -rf $(VENV) .taskmill build
