# libFuzzer targets for vmediad's parsers of outside input (see tests/fuzz/README.md).
#   make fuzz-build    build every target into build/fuzz/ (clang)
#   make fuzz-smoke    a short run of each over its corpus; last line "fuzz: N passed, N failed"
#   make fuzz          a long run of each (FUZZ_SECONDS, default 600) that grows the corpus
# Included by the top-level Makefile; uses its BUILD, BASE_CFLAGS, PKG_CFLAGS, PKG_LIBS, LIB_SRCS.

FUZZ_CC := clang
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := -g -O1 $(FUZZ_SAN)
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 8
FUZZ_JOBS ?= 2

# Target name -> the server sources it needs and the libraries they need.
FUZZ_TARGETS := names_valid names_sanitize range_parse config_load_json \
	download_disposition_name download_url_name download_redact_url unescape auth_parse_line \
	auth_basic_decode download_content_range files_path
fuzz_names_valid_SRCS := server/core/names.c
fuzz_names_sanitize_SRCS := server/core/names.c
fuzz_files_path_SRCS := $(wildcard server/files/*.c) server/core/names.c server/core/err.c \
	server/core/run.c
fuzz_files_path_LIBS := -larchive
fuzz_range_parse_SRCS := server/http/range.c
fuzz_config_load_json_SRCS := server/core/config.c server/core/err.c server/core/log.c \
	server/core/clock.c
fuzz_config_load_json_LIBS := -ljansson
fuzz_download_disposition_name_SRCS := server/download/parse.c server/core/names.c server/core/text.c
fuzz_download_disposition_name_LIBS := -lcurl
fuzz_download_url_name_SRCS := server/download/parse.c server/core/names.c server/core/text.c
fuzz_download_url_name_LIBS := -lcurl
fuzz_download_redact_url_SRCS := server/download/parse.c server/core/names.c server/core/text.c
fuzz_download_redact_url_LIBS := -lcurl
fuzz_download_content_range_SRCS := server/download/parse.c server/core/names.c server/core/text.c
fuzz_download_content_range_LIBS := -lcurl
fuzz_auth_parse_line_SRCS := server/auth/auth.c server/core/err.c server/core/log.c \
	server/core/clock.c server/core/text.c
fuzz_auth_parse_line_LIBS := -lcrypto
fuzz_auth_basic_decode_SRCS := server/auth/auth.c server/core/err.c server/core/log.c \
	server/core/clock.c server/core/text.c
fuzz_auth_basic_decode_LIBS := -lcrypto
# server.c is compiled into the target itself (to reach a static function);
# the rest of the http and core layers, which it sits on, are linked (with
# the metrics it records and the embedded web UI).
fuzz_unescape_SRCS := $(filter-out server/http/server.c,\
	$(filter server/http/% server/core/% server/metrics/% $(GEN_SRCS),$(LIB_SRCS)))
fuzz_unescape_LIBS = $(PKG_LIBS)

FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

.PHONY: fuzz-build fuzz-smoke fuzz fuzz-check-cc
fuzz-build: $(FUZZ_BINS)

fuzz-check-cc:
	@command -v $(FUZZ_CC) >/dev/null || { echo "fuzz: $(FUZZ_CC) not found (make deps-test installs it)"; exit 1; }

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz-build || { \
	  for t in $(FUZZ_TARGETS); do echo "FAIL fuzz_$$t: build failed"; done; \
	  echo "fuzz: 0 passed, $(words $(FUZZ_TARGETS)) failed"; exit 1; }
	$(Q)tests/fuzz/run.sh smoke $(FUZZ_DIR) $(FUZZ_SMOKE_SECONDS) $(FUZZ_JOBS) $(FUZZ_TARGETS)

fuzz: fuzz-build
	$(Q)tests/fuzz/run.sh long $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_JOBS) $(FUZZ_TARGETS)

# Server objects for the fuzzers: clang, instrumented for coverage, never
# the gcc objects of build/obj.
$(FUZZ_DIR)/obj/%.o: %.c Makefile | fuzz-check-cc
	@mkdir -p $(dir $@)
	@echo "  CC  $< (fuzz)"
	$(Q)$(FUZZ_CC) $(BASE_CFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) \
		-Iserver -c -o $@ $<

define _fuzz_link
$(FUZZ_DIR)/fuzz_$(1): $(FUZZ_DIR)/obj/tests/fuzz/fuzz_$(1).o $$(fuzz_$(1)_SRCS:%.c=$(FUZZ_DIR)/obj/%.o)
	@echo "  LD  $$@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -pthread -o $$@ $$^ $$(fuzz_$(1)_LIBS)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call _fuzz_link,$(t))))

-include $(wildcard $(FUZZ_DIR)/obj/*/*.d $(FUZZ_DIR)/obj/*/*/*.d)
