# keyquorum's front door. Every target installs what is missing (scripts/deps.sh), then builds
# with CMake. `make demo` and `make test` are the whole set-up on a fresh Debian 12.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
MAKEFLAGS  += --no-print-directory

.PHONY: all deps build test asan bench demo dev fuzz fmt clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKQ_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

bench: build
	@for b in $(BUILD)/bench/bench_*; do echo "== $$b"; $$b || exit 1; done

# The ledger under the deterministic simulator: SEEDS seeds from FIRST, split over JOBS processes,
# each stopping at its first failure, which prints its replay command (SIM_FLAGS=--keep-going
# runs every seed). `make test` runs a few hundred (tests/sim/test_sim_ledger.c).
SEEDS ?= 1000
FIRST ?= 1
SIM_FLAGS ?=
.PHONY: sim
sim: build
	@n=$(SEEDS); j=$(JOBS); per=$$(( (n + j - 1) / j )); pids=""; start=$$(date +%s); \
	for i in $$(seq 0 $$((j - 1))); do c=$$(( n - i * per < per ? n - i * per : per )); \
	  [ $$c -gt 0 ] || continue; \
	  $(BUILD)/kq_sim --core ledger --seeds $$c --first $$(( $(FIRST) + i * per )) $(SIM_FLAGS) & \
	  pids="$$pids $$!"; \
	done; rc=0; for p in $$pids; do wait $$p || rc=1; done; \
	echo "sim: $$n seeds from $(FIRST) in $$(( $$(date +%s) - start )) s: $$([ $$rc = 0 ] && echo ok || echo FAILED)"; \
	exit $$rc

# The main flows on a local 4-node cluster (scripts/demo.sh), then the threshold-crypto demo.
demo: build
	@bash scripts/demo.sh $(BUILD)

# A local cluster in the foreground (4 nodes; DEV_NODES=N for another size). Ctrl-C stops it.
DEV_NODES ?= 4
DEV_DIR   ?= $(BUILD)/dev
dev: build
	@$(BUILD)/keyquorum dev --nodes $(DEV_NODES) --dir $(DEV_DIR)

# Coverage-guided fuzzing with clang's libFuzzer: each harness starts from seeds written by the
# deterministic driver of the normal build, and runs FUZZ_SECONDS seconds.
fuzz: build
	@bash scripts/deps.sh fuzz
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DKQ_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@set -e; for f in $(FUZZ_BUILD)/fuzz/fuzz_*; do \
	  n=$$(basename $$f); mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	  $(BUILD)/fuzz/$$n --seeds $(FUZZ_BUILD)/corpus/$$n; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FUZZ_BUILD)/corpus/$$n 2>&1 | \
	    grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' ; \
	done

fmt:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	@rm -rf $(BUILD) $(ASAN_BUILD)
