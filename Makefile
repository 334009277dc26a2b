# The two commands a user needs: `make run` and `make test`. Both install what
# is missing first (scripts/setup.sh is idempotent and quick when nothing is).
# `make run` builds only the kobs binary; `make test` and `make bench` build
# everything (tests and benchmarks too).
PRESET ?= release
BUILD_DIR := build/$(PRESET)
DATA_DIR ?= ./data
JOBS ?= $(shell nproc)

.PHONY: setup configure build kobs run test bench clean

setup:
	@./scripts/setup.sh

configure: setup
	@cmake --preset $(PRESET) >/dev/null

# Every target: the binary, the tests and the benchmarks.
build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# The binary alone.
kobs: configure
	@cmake --build $(BUILD_DIR) --target kobs -j $(JOBS)

run: kobs
	@$(BUILD_DIR)/src/app/kobs all --data-dir $(DATA_DIR) $(ARGS)

test: build
	@./scripts/test-setup.sh
	@cd $(BUILD_DIR) && ctest --output-on-failure -j 2 --timeout 900

bench: build
	@./bench/run.sh $(BUILD_DIR)

clean:
	@rm -rf build
