# tests/boot/boot.mk: a real (virtual) computer boots from vmediad's gadget;
# included by the top-level Makefile (which makes boot-test and demo depend
# on build/vmediad).
#   boot-test   the two-VM test; last line "boot: N passed, N failed"
#   demo        boot both VMs and leave them running (see README.md)
#   demo-stop   stop them
BOOT_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))

.PHONY: boot-test demo demo-stop

boot-test: vm-deps
	@$(BOOT_DIR)/test.sh

demo: vm-deps
	@$(BOOT_DIR)/demo.sh start

demo-stop:
	@$(BOOT_DIR)/demo.sh stop
