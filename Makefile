# The README's two commands. Both install missing Debian packages when run
# as root, configure and build; `make test` then runs the whole suite.
BUILD ?= build
CMAKE_FLAGS ?=
CTEST_FLAGS ?=
JOBS ?= $(shell nproc)
# curl, python3, python3-torch and chromium are for the tests
# (scripts/fetch-assets.sh, JSON checks, the LoRA fixtures checked against
# PyTorch, report.html rendered in a real browser); Open MPI for
# data-parallel runs under mpirun and their tests.
PACKAGES = build-essential cmake pkg-config libopenblas-openmp-dev libcjson-dev libzstd-dev \
           libcmocka-dev libpcre2-dev libxxhash-dev libdnnl-dev curl python3 python3-torch \
           chromium openmpi-bin libopenmpi-dev

.PHONY: all deps build test demo clean

all: build

deps:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "missing packages (run as root or install them):$$missing"; exit 1; fi; \
	fi

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

# llama.cpp for tests/cli_llama_cpp.sh: the prebuilt binaries of the npm
# package node-llama-cpp, at the version tests/llama_cpp/package-lock.json
# pins (needs node 20 or later and npm; nothing is compiled).
LLAMA_CPP = tests/llama_cpp/node_modules/node-llama-cpp
$(LLAMA_CPP): tests/llama_cpp/package-lock.json
	npm install --omit=optional --no-audit --no-fund --prefix tests/llama_cpp

test: build $(LLAMA_CPP)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_FLAGS)

# The whole job on the real dolly records: teacher, logit cache, two students
# each with its hard-label baseline, and the report (configs/demo.json).
DEMO_CONFIG ?= configs/demo.json
demo: build
	$(BUILD)/kd pipeline $(DEMO_CONFIG)

clean:
	rm -rf $(BUILD)
