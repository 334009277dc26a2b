# The two commands a user needs: `make run` and `make test`. Both install what
# is missing first (scripts/setup.sh is idempotent and quick when nothing is).
PRESET ?= release
BUILD_DIR := build/$(PRESET)
DATA_DIR ?= ./data
JOBS ?= $(shell nproc)

.PHONY: setup build run test bench clean

setup:
	@./scripts/setup.sh

build: setup
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	@$(BUILD_DIR)/src/app/kobs all --data-dir $(DATA_DIR) $(ARGS)

test: build
	@./scripts/test-setup.sh
	@cd $(BUILD_DIR) && ctest --output-on-failure -j 2 --timeout 900

bench: build
	@./bench/run.sh $(BUILD_DIR)

clean:
	@rm -rf build
