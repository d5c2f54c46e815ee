# tests/vm/vm.mk: targets of the real-kernel test bench, included by the
# top-level Makefile.  Everything heavy is cached in /var/cache/vmedia.
#   kernel-patch-check  series applies to 6.1 and 6.12, checkpatch --strict,
#                       patched kernels build without warnings
#   vm-kernels          build or fetch the guest kernels (6.1, 6.12, 6.1 stock)
#   vm-test             all scenarios on all kernels; last line of output is
#                       "vm: N passed, N failed"
#   vm-bench            force-eject latency table (not a test)
#   vm-bench-stream     stored vs streamed read throughput table (not a
#                       test); SIZE_MB=N (default 1024)
VM_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
VM_ROOT := $(abspath $(VM_DIR)/../..)

.PHONY: vm-deps kernel-patch-check vm-kernels vm-test vm-bench vm-bench-stream

vm-deps:
	@$(VM_ROOT)/tools/deps.sh vm

kernel-patch-check: vm-deps
	@$(VM_DIR)/kernel-patch-check.sh

vm-kernels: vm-deps
	@$(VM_DIR)/build-kernel.sh 6.1 patched
	@$(VM_DIR)/build-kernel.sh 6.12 patched
	@$(VM_DIR)/build-kernel.sh 6.1 stock

vm-test: vm-deps
	@$(VM_DIR)/run.sh

vm-bench: vm-deps
	@$(VM_DIR)/bench-eject.sh

vm-bench-stream: vm-deps
	@$(VM_DIR)/bench-stream.sh $(SIZE_MB)
