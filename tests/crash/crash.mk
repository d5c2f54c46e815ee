# tests/crash/crash.mk: power cuts and disk faults under vmediad in QEMU;
# included by the top-level Makefile (which makes the targets depend on
# build/vmediad).
#   crash-test [CUTS=N]   the long run: N power cuts (default 200, half on
#                         the plain disk file, half behind the write cache
#                         that drops unflushed writes), the cache self-test
#                         and the fault tests; last line "crash: N passed, N failed"
#   crash-test-short      the same with 20 cuts (what `make test` runs)
CRASH_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
CUTS ?= 200

.PHONY: crash-test crash-test-short crash-deps

crash-deps:
	@$(CRASH_DIR)/../../tools/deps.sh test vm

crash-test: crash-deps
	@python3 $(CRASH_DIR)/crash.py --selftest --faults --cuts $(CUTS) $(CRASH_ARGS)

crash-test-short: crash-deps
	@python3 $(CRASH_DIR)/crash.py --selftest --faults --cuts 20 $(CRASH_ARGS)
