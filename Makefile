.PHONY: help up test bench gen lint typecheck upgrade

help:  ## Show the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

up:  ## Install and run the whole system (tokens, proxy, façade, emulator when no Gumloop key)
	scripts/up

test:  ## Install what the tests need and run every test suite
	scripts/test

bench:  ## Run the benchmarks against the bundled emulator (table + bench/results/latest.json)
	scripts/bench

upgrade:  ## Move uv.lock to the newest allowed releases, then run every test (review and commit the lock)
	scripts/upgrade

gen:  ## Regenerate the gRPC stubs from protos/
	scripts/genproto

lint:  ## ruff check and format check
	.venv/bin/ruff check src services tests bench && .venv/bin/ruff format --check src services tests bench

typecheck:  ## mypy strict
	.venv/bin/mypy
