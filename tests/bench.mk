# tests/bench.mk — `make bench` and `make fuzz`; included by the top Makefile
# (uses its CORE_SRCS, CORE_OBJS, ALL_CFLAGS, LIBS, OBJDIR).
#
#   make bench [BENCH_QUICK=1]     one table of figures, also results/bench.{csv,json}
#   make fuzz  [FUZZ_SECONDS=60]   every libFuzzer target for FUZZ_SECONDS each
#   make fuzz  FUZZ_SECONDS=0      replay the regression corpus only
#   make fuzz-build                build the targets into build/fuzz/ only

.PHONY: bench fuzz fuzz-build fuzz-deps

# --- benchmarks --------------------------------------------------------------
BENCH_DIR = build/bench

$(BENCH_DIR)/bench_micro: tests/bench/bench_micro.c $(CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< $(CORE_OBJS) $(LIBS) -lm -o $@

bench: deps-check
	@$(MAKE) --no-print-directory -j2 all $(BENCH_DIR)/bench_micro
	@bash tests/bench/bench.sh

# A tool only some targets need, installed the way `make deps` installs the
# build's packages: as root with apt-get, otherwise the command is printed.
# $(call tool_dep,COMMAND,PACKAGE)
define tool_dep
	@command -v $(1) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then echo "deps: installing $(2)"; \
	    $(call apt_install,$(2)); \
	  else echo "Run as root:  apt-get install -y $(2)"; exit 1; fi; }
endef

# --- fuzzing (clang libFuzzer + ASan + UBSan) -----------------------------------
FUZZ_CC      ?= clang
FUZZ_DIR      = build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS  = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SAN      = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
# The modules are built without -Werror here: a new clang warning in a
# module must not stop the fuzzers from running (`make check` judges warnings).
FUZZ_CFLAGS   = $(filter-out -Werror -O2 -O3,$(ALL_CFLAGS)) $(FUZZ_SAN)
FUZZ_OBJS     = $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(CORE_SRCS)) $(FUZZ_DIR)/obj/migrations.o

fuzz-deps:
	$(call tool_dep,$(FUZZ_CC),clang)

$(FUZZ_DIR)/obj/%.o: %.c $(wildcard daemon/*.h jobs/*.h) | fuzz-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/obj/migrations.o: $(OBJDIR)/migrations.c | fuzz-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_OBJS) | fuzz-deps
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -fsanitize=fuzzer -Itests/fuzz $< $(FUZZ_OBJS) $(LIBS) -lm -o $@

# Kept between runs: they are pattern-rule intermediates otherwise.
.SECONDARY: $(FUZZ_OBJS)

fuzz-build: $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ_TARGETS))

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh $(FUZZ_TARGETS)
