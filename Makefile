# The README's two commands. Both install missing Debian packages when run
# as root, configure and build; `make test` then runs the whole suite.
BUILD ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)
PACKAGES = build-essential cmake pkg-config libopenblas-openmp-dev libcjson-dev libzstd-dev \
           libcmocka-dev libpcre2-dev libxxhash-dev

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

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Until `kd pipeline` exists: a short teacher run on the real dolly records,
# then its evaluation and an answer from the trained model.
DEMO_OUT ?= runs/demo/teacher
demo: build
	$(BUILD)/kd teacher train --config configs/teacher-tiny.json --max-steps 120 --out $(DEMO_OUT)
	$(BUILD)/kd eval --model $(DEMO_OUT)/model
	$(BUILD)/kd generate --model $(DEMO_OUT)/model --temperature 0.8 --seed 1 --max-new-tokens 48 \
	    --prompt "Why can camels survive for long without water?"

clean:
	rm -rf $(BUILD)
