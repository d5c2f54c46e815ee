# vmedia: virtual media for KVM-over-IP.
#   make            build build/vmediad
#   make run        run vmediad on the embedded default (sim backend, ./build/run)
#   make check      unit + black-box HTTP tests (plain, ASan/UBSan and TSan builds), no VM
#   make test       everything, ending with one "N passed, N failed" line
#   make bench      benchmarks (figures, not pass/fail)
# Both `make run` and `make test` install missing Debian packages first (as root).

CC ?= gcc
CFLAGS ?= -O2 -g
PREFIX ?= /usr/local
VERSION := 0.1.0
BUILD := build

# make ARCH=arm64 | ARCH=armhf: a cross build with Debian's cross toolchain
# and the foreign architecture's -dev packages (tools/deps.sh cross-ARCH),
# into build/ARCH/; `make ARCH=arm64 deb` packages it.
TRIPLET_arm64 := aarch64-linux-gnu
TRIPLET_armhf := arm-linux-gnueabihf
ifneq ($(ARCH),)
TRIPLET := $(TRIPLET_$(ARCH))
ifeq ($(TRIPLET),)
$(error ARCH must be arm64 or armhf, not '$(ARCH)')
endif
CC := $(TRIPLET)-gcc
HOST_CC ?= gcc
PKG_CONFIG := $(TRIPLET)-pkg-config
BUILD := build/$(ARCH)
DEPS_SET := cross-$(ARCH)
endif
DEPS_SET ?= build
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
TSAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer

PKGS := libmicrohttpd jansson libcrypto libusbgx libcurl libarchive zlib libnbd
# 64-bit off_t on armhf too: images are larger than 2 GiB, and without it
# open() and stat() of one fail there with EOVERFLOW.
BASE_CFLAGS := -std=c17 -Wall -Wextra -Werror -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -MD \
	-pthread -Iserver -DVMEDIA_VERSION='"$(VERSION)"'
PKG_CONFIG ?= pkg-config
# A cross build's libnbd is unpacked, not installed (Debian 12 cannot have
# two architectures' libnbd0 at once): tools/cross-libnbd.sh.
ifneq ($(ARCH),)
PKGS := $(filter-out libnbd,$(PKGS))
NBD_ROOT := $(BUILD)/libnbd
NBD_STAMP := $(NBD_ROOT)/shlibs
NBD_CFLAGS := -I$(NBD_ROOT)/usr/include
NBD_LIBS := -L$(NBD_ROOT)/usr/lib/$(TRIPLET) -lnbd
endif
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null) $(NBD_CFLAGS)
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) $(NBD_LIBS)

# The web UI is compiled in (build/gen/webui.c, made from web/ by
# tools/embed-web.sh); --web DIR serves a directory instead.
WEB_FILES := $(sort $(wildcard web/*))
GEN_SRCS := $(BUILD)/gen/webui.c
SRCS := $(wildcard server/*.c server/*/*.c) $(GEN_SRCS)
LIB_SRCS := $(filter-out server/main.c,$(SRCS))
OBJS := $(SRCS:%.c=$(BUILD)/obj/%.o)
SAN_OBJS := $(SRCS:%.c=$(BUILD)/san/%.o)
TSAN_OBJS := $(SRCS:%.c=$(BUILD)/tsan/%.o)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
LIB_SAN_OBJS := $(LIB_SRCS:%.c=$(BUILD)/san/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)
UNIT_SAN_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit-san/%)

ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: all deps deps-test run check test unit http bench clean install lint-api deb \
	arm64-test-bins armhf-test-bins http-arm64-full
all: deps $(BUILD)/vmediad $(BUILD)/vmediad.8

deps:
	$(Q)tools/deps.sh $(DEPS_SET)
deps-test:
	$(Q)tools/deps.sh test browser

$(BUILD)/vmediad: $(OBJS)
	@echo "  LD  $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -pthread -o $@ $^ $(PKG_LIBS)

$(BUILD)/vmediad-san: $(SAN_OBJS)
	@echo "  LD  $@"
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) -pthread -o $@ $^ $(PKG_LIBS)

$(BUILD)/vmediad-tsan: $(TSAN_OBJS)
	@echo "  LD  $@"
	$(Q)$(CC) $(CFLAGS) $(TSAN_FLAGS) -pthread -o $@ $^ $(PKG_LIBS)

# The manual page, from the option table that --help prints: mkman runs
# on the build machine (HOST_CC), also when CC is a cross compiler. Its
# date: SOURCE_DATE_EPOCH (package builds), else the last commit's.
HOST_CC ?= $(CC)
MAN_DATE := $(shell d=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null)}; \
	date -u -d "@$${d:-$$(date +%s)}" +%F)
$(BUILD)/host/mkman: tools/mkman.c server/core/config.c server/core/err.c server/core/log.c \
		server/core/clock.c server/core/config.h
	@mkdir -p $(dir $@)
	@echo "  CC  $@ (build machine)"
	$(Q)$(HOST_CC) -std=c17 -Wall -Wextra -Werror -D_GNU_SOURCE -Iserver \
		-DVMEDIA_VERSION='"$(VERSION)"' $(shell pkg-config --cflags jansson) -o $@ \
		$(filter %.c,$^) $(shell pkg-config --libs jansson)

$(BUILD)/vmediad.8: $(BUILD)/host/mkman
	@echo "  MAN $@"
	$(Q)$(BUILD)/host/mkman $(MAN_DATE) >$@.tmp && mv $@.tmp $@

ifneq ($(ARCH),)
$(NBD_STAMP): tools/cross-libnbd.sh
	@echo "  GET libnbd0:$(ARCH) libnbd-dev:$(ARCH) -> $(NBD_ROOT)"
	$(Q)tools/cross-libnbd.sh $(ARCH) $(NBD_ROOT)
endif

$(BUILD)/gen/webui.c: tools/embed-web.sh $(WEB_FILES)
	@mkdir -p $(dir $@)
	@echo "  GEN $@"
	$(Q)tools/embed-web.sh $@ $(WEB_FILES)

# Objects depend on this Makefile too: a change of flags (say, 64-bit off_t)
# must rebuild them all, not only the files edited since.
$(BUILD)/obj/%.o: %.c Makefile | $(NBD_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC  $<"
	$(Q)$(CC) $(BASE_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/san/%.o: %.c Makefile | $(NBD_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC  $< (asan+ubsan)"
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SAN_FLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/tsan/%.o: %.c Makefile | $(NBD_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC  $< (tsan)"
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(TSAN_FLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/unit/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@echo "  CC  $@"
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(PKG_CFLAGS) -Iserver -o $@ $^ $(PKG_LIBS) -lcmocka

$(BUILD)/unit-san/%: tests/unit/%.c $(LIB_SAN_OBJS)
	@mkdir -p $(dir $@)
	@echo "  CC  $@ (asan+ubsan)"
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SAN_FLAGS) $(PKG_CFLAGS) -Iserver -o $@ $^ $(PKG_LIBS) -lcmocka

run: deps $(BUILD)/vmediad
	$(BUILD)/vmediad --listen 127.0.0.1:8080 --storage $(BUILD)/run/images --web web --backend sim

# Quick loop without the VM: unit and black-box tests, plain and sanitized.
check: deps-test $(BUILD)/vmediad $(BUILD)/vmediad-san $(BUILD)/vmediad-tsan $(UNIT_BINS) \
	$(UNIT_SAN_BINS)
	$(Q)tools/test.sh check

test: deps-test $(BUILD)/vmediad $(BUILD)/vmediad-san $(BUILD)/vmediad-tsan $(UNIT_BINS) \
	$(UNIT_SAN_BINS) arm64-test-bins armhf-test-bins
	$(Q)tools/test.sh all

# What make test runs under qemu-user: the arm64 and armhf daemons and unit
# tests.
arm64-test-bins armhf-test-bins: %-test-bins:
	$(Q)tools/deps.sh cross-$*
	$(Q)$(MAKE) --no-print-directory ARCH=$* build/$*/vmediad \
		$(UNIT_SRCS:tests/unit/%.c=build/$*/unit/%)

# The whole black-box suite against the arm64 build under qemu-user (~45
# min; make test runs the subset in tests/http/arm64-subset.txt).
http-arm64-full: deps-test arm64-test-bins
	$(Q)tools/test.sh http-arm64-full

unit: $(UNIT_BINS) $(UNIT_SAN_BINS)
	$(Q)tools/test.sh unit

bench: deps-test $(BUILD)/vmediad
	$(Q)tests/bench/upload.sh
	$(Q)tests/bench/download.sh
	$(Q)tests/bench/load.sh
	$(Q)tests/bench/decompress.sh

lint-api: deps-test
	$(Q)tools/test.sh lint-api

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary (the web UI is in
# it), its manual page, an example configuration and the systemd unit
# (adapted to PREFIX).
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
install: $(BUILD)/vmediad $(BUILD)/vmediad.8
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(SYSCONFDIR)/vmedia $(DESTDIR)$(UNITDIR)
	install -m 0755 $(BUILD)/vmediad $(DESTDIR)$(PREFIX)/bin/vmediad
	install -m 0644 $(BUILD)/vmediad.8 $(DESTDIR)$(PREFIX)/share/man/man8/vmediad.8
	sed 's|@PREFIX@|$(PREFIX)|g' dist/vmediad.json.example \
		>$(DESTDIR)$(SYSCONFDIR)/vmedia/vmediad.json.example
	sed 's|@PREFIX@|$(PREFIX)|g' dist/vmediad.service >$(DESTDIR)$(UNITDIR)/vmediad.service
	install -d $(DESTDIR)$(PREFIX)/share/doc/vmedia/examples
	install -m 0644 dist/vmediad-stream.conf $(DESTDIR)$(PREFIX)/share/doc/vmedia/examples/vmediad-stream.conf
	chmod 0644 $(DESTDIR)$(SYSCONFDIR)/vmedia/vmediad.json.example \
		$(DESTDIR)$(UNITDIR)/vmediad.service
	@echo "Installed. Next: useradd --system vmedia; cp $(SYSCONFDIR)/vmedia/vmediad.json.example $(SYSCONFDIR)/vmedia/vmediad.json;"
	@echo "vmediad --auth-file $(SYSCONFDIR)/vmedia/credentials --add-user admin; systemctl enable --now vmediad"

# make deb: the Debian package (debian/, debhelper) in build/deb/, built
# from a copy of this tree, and lintian's verdict on it.
deb:
	$(Q)tools/deps.sh $(DEPS_SET) deb
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/src/vmedia-$(VERSION)
	tar -c --exclude=./build --exclude=./.git --exclude=node_modules . | \
		tar -x -C $(BUILD)/deb/src/vmedia-$(VERSION)
	cd $(BUILD)/deb/src/vmedia-$(VERSION) && \
		dpkg-buildpackage -us -uc -b $(if $(ARCH),--host-arch $(ARCH) -Pcross)
	mv $(BUILD)/deb/src/*.deb $(BUILD)/deb/src/*.changes $(BUILD)/deb/src/*.buildinfo $(BUILD)/deb/
	lintian --fail-on error,warning $(BUILD)/deb/vmedia_$(VERSION)_*.changes

clean:
	rm -rf $(BUILD)

-include tests/fuzz/fuzz.mk
-include tests/boot/boot.mk
-include tests/vm/vm.mk
-include tests/crash/crash.mk
# Scenarios 5-7 run vmediad inside the guest (from the host's root over 9p).
vm-test vm-bench vm-bench-stream boot-test demo crash-test crash-test-short: $(BUILD)/vmediad
-include $(OBJS:.o=.d) $(SAN_OBJS:.o=.d) $(TSAN_OBJS:.o=.d)
