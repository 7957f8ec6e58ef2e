# The two commands of the README: `make demo` and `make test`. Both install missing Debian
# packages, configure and build first, so each works on a fresh Debian 12 machine.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
DEMO_ARGS ?=

.PHONY: all deps configure build demo test bench clean

all: build

deps:
	bash scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	./$(BUILD_DIR)/eshift demo $(DEMO_ARGS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure

# Not part of the two README commands: eshift vs the PyTorch reference, and micro-benchmarks.
bench: deps
	bash bench/setup.sh
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	cmake --build $(BUILD_DIR) -j $(JOBS) --target eshift eshift_micro
	./$(BUILD_DIR)/eshift_micro --benchmark_min_time=0.5
	/usr/bin/python3 bench/compare.py $(BENCH_ARGS)

clean:
	rm -rf $(BUILD_DIR)
