# The two commands of the README: `make demo` and `make test`. Both install missing Debian
# packages, configure and build first, so each works on a fresh Debian 12 machine.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
DEMO_ARGS ?=

TORCH2_VENV ?= .venv-torch2
TORCH2_BUILD_DIR ?= build-torch2
TORCH2_CMAKE_ARGS ?=
TORCH2_TARGETS ?=
INTEROP_VENV ?= .venv-interop

.PHONY: all deps configure build demo test build-torch2 test-torch2 bench-cpu test-sanitize fuzz bench bench-scaling bench-loader bench-coco bench-maskrcnn bench-detection-ops interop test-python clean

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
	# one thread a test, JOBS tests at a time: all-core OpenMP pools side by side crawl (1m43s here against 3m35s)
	cd $(BUILD_DIR) && OMP_NUM_THREADS=1 ctest --output-on-failure -j $(JOBS)

# The suite against a current LibTorch 2.x (pip's torch wheel, CUDA-enabled: this is also the CUDA
# build, which compiles and links here and runs its CUDA paths only where a GPU is).
# Without the long end-to-end runs that make test runs (tests/long_end_to_end.txt).
test-torch2: build-torch2
	cd $(TORCH2_BUILD_DIR) && OMP_NUM_THREADS=1 ctest --output-on-failure -j $(JOBS) \
	  -E "^($$(grep -v '^#' $(CURDIR)/tests/long_end_to_end.txt | paste -sd'|' -))"

# The Python package (python/eshift) against pip's torch in PYTHON_VENV, and its pytest suite.
PYTHON_VENV ?= $(TORCH2_VENV)
test-python: deps
	MAX_JOBS=$(JOBS) bash scripts/test-python.sh $(PYTHON_VENV)

# eshift against pip's LibTorch 2.x, built only: build-torch2/eshift (the faster build for bfloat16 on
# CPUs with AVX-512 BF16 or AMX, and the CUDA build; README "Which LibTorch").
build-torch2: deps
	bash scripts/install-torch2.sh $(TORCH2_VENV)
	cmake -S . -B $(TORCH2_BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(TORCH2_CMAKE_ARGS) \
	  -DCMAKE_PREFIX_PATH="$$($(TORCH2_VENV)/bin/python -c 'import os, torch; print(os.path.dirname(torch.__file__) + ";" + torch.utils.cmake_prefix_path)')"
	cmake --build $(TORCH2_BUILD_DIR) -j $(JOBS) $(TORCH2_TARGETS)

# Both builds against PyTorch eager (pip's torch) on this CPU, float32 and bfloat16, same-run ratios
# (bench/cpu_table.py; CPU_TABLE_ARGS="--compile resnet20" adds torch.compile).
bench-cpu: build build-torch2
	$(TORCH2_VENV)/bin/python bench/cpu_table.py --eshift debian=$(BUILD_DIR)/eshift \
	  --eshift torch2=$(TORCH2_BUILD_DIR)/eshift $(CPU_TABLE_ARGS)

# The suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-sanitize).
test-sanitize:
	bash scripts/test-sanitize.sh

# libFuzzer targets (clang, build-fuzz): the IDX reader, checkpoint loader, TensorBoard event reader,
# CLI parser, CIFAR reader, JPEG path, PyTorch pickle reader and COCO files, FUZZ_SECONDS (default 60) each.
fuzz:
	bash scripts/fuzz.sh

# Not part of the two README commands: eshift vs the PyTorch reference, and micro-benchmarks.
bench: deps
	bash bench/setup.sh
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	cmake --build $(BUILD_DIR) -j $(JOBS) --target eshift eshift_micro
	./$(BUILD_DIR)/eshift_micro --benchmark_min_time=0.5 --benchmark_filter=-'BM_RoIAlign|BM_Nms'
	/usr/bin/python3 bench/compare.py $(BENCH_ARGS)
	/usr/bin/python3 bench/scaling.py
	$(MAKE) bench-loader
	$(MAKE) bench-coco
	$(MAKE) bench-maskrcnn
	$(MAKE) bench-detection-ops

# The ImageNet loader against torchvision's and against libjpeg-turbo's decode alone (bench/loader.py;
# pip's torch, torchvision, pillow and scikit-image in INTEROP_VENV, made by scripts/interop.sh).
bench-loader: build
	bash scripts/interop.sh --venv-only $(INTEROP_VENV)
	$(INTEROP_VENV)/bin/pip install -q scikit-image
	$(INTEROP_VENV)/bin/python bench/loader.py $(LOADER_ARGS)

# eshift detect-eval against pycocotools and faster-coco-eval on generated COCO-val-size files
# (bench/coco_eval_bench.py; pycocotools and faster-coco-eval in INTEROP_VENV).
bench-coco: build
	bash scripts/interop.sh --venv-only $(INTEROP_VENV)
	$(INTEROP_VENV)/bin/python bench/coco_eval_bench.py --eshift $(BUILD_DIR)/eshift --dir $(BUILD_DIR)/coco-bench $(COCO_BENCH_ARGS)

# One training iteration of Mask R-CNN R50-FPN at 800×1333 (batch 2), eshift against torchvision's
# maskrcnn_resnet50_fpn in the same run (bench/maskrcnn_bench.py; pip's torch + torchvision in INTEROP_VENV).
bench-maskrcnn: build
	bash scripts/interop.sh --venv-only $(INTEROP_VENV)
	$(INTEROP_VENV)/bin/python bench/maskrcnn_bench.py --eshift $(BUILD_DIR)/eshift $(MASKRCNN_BENCH_ARGS)

# RoIAlign and NMS as Mask R-CNN R50-FPN calls them, eshift's kernels (eshift_micro) against
# torchvision.ops in the same run (bench/detection_ops.py; pip's torch + torchvision in INTEROP_VENV).
bench-detection-ops: deps
	bash bench/setup.sh
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	cmake --build $(BUILD_DIR) -j $(JOBS) --target eshift_micro
	bash scripts/interop.sh --venv-only $(INTEROP_VENV)
	$(INTEROP_VENV)/bin/python bench/detection_ops.py --eshift-micro $(BUILD_DIR)/eshift_micro $(DETECTION_OPS_ARGS)

# Data-parallel scaling alone: 2 processes x 1 thread vs 1 process x 2 threads, and the all-reduce
# wait with and without overlap (bench/scaling.py).
bench-scaling: build
	/usr/bin/python3 bench/scaling.py $(SCALING_ARGS)

# Not part of make test: `eshift import` of torchvision's resnet50 (and the other zoo models eshift
# has) against torchvision's own logits, and a legacy checkpoint converted and imported (pip's
# torch + torchvision in INTEROP_VENV; bench/interop.py).
interop: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target eshift
	bash scripts/interop.sh $(INTEROP_VENV) $(BUILD_DIR)/eshift $(BUILD_DIR)/interop $(INTEROP_ARGS)

clean:
	rm -rf $(BUILD_DIR) $(TORCH2_BUILD_DIR) build-sanitize build-fuzz build-python
