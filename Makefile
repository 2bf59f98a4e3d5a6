# SPDX-License-Identifier: GPL-2.0
#
# vassist: everything from a fresh clone.
#   make demo    set up, build, boot the test VM and show a port at work
#   make check   set up, build, run every test (cargo + selftests in the VM)
#
# Build the module against your own Rust-enabled kernel with
#   make module KDIR=/path/to/kernel/build
# (see README.md for the options it needs: kernel/vassist.config).

SHELL := /bin/bash
ROOT := $(CURDIR)
CACHE := $(or $(VASSIST_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/vassist)
BINDGEN := $(CACHE)/bindgen/bin/bindgen
KMAKE_VARS := LLVM=1 ARCH=x86_64 RUSTC=/usr/bin/rustc BINDGEN=$(BINDGEN) \
	LIBCLANG_PATH=/usr/lib/llvm-19/lib
OUT := $(ROOT)/out
# LLVM 19 for the kernel build (in the environment: the kernel's makefiles
# find clang with $(shell), which does not see command-line variables), and
# rustup's cargo and rustc for the userspace crates, ahead of Debian's
# /usr/bin/rustc (the kernel's, named explicitly); tools/lib/paths.sh does
# the same for the scripts.
export PATH := /usr/lib/llvm-19/bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: all setup kernel module tools demo check fuzz fmt lint lint-module clean

all: module tools

setup:
	@bash tools/setup.sh

# The test kernel, cached outside the repo; its path is KDIR.
kernel: setup
	@set -o pipefail; bash tools/build-kernel.sh 2>&1 | tee $(OUT)/.kdir.tmp | \
	 grep --line-buffered '^kernel:' || { cat $(OUT)/.kdir.tmp; exit 1; }; \
	 tail -1 $(OUT)/.kdir.tmp > $(OUT)/kdir
$(OUT):
	@mkdir -p $(OUT)
kernel: | $(OUT)

module: $(if $(KDIR),,kernel)
	@$(MAKE) -C $(or $(KDIR),$$(cat $(OUT)/kdir)) M=$(ROOT) $(KMAKE_VARS) modules

tools: setup
	cargo build --release --quiet --workspace

demo: module tools
	@bash tools/vm/run.sh -k $$(cat $(OUT)/kdir)/arch/x86/boot/bzImage $(OUT)/demo -- \
		bash samples/demo.sh; rc=$$?; cat $(OUT)/demo/output; exit $$rc

check:
	@bash tools/check.sh

# Fuzz the TCP parser/rewriter, the ack offload state machine and the zone
# port rules against what a consumer writes
# (cargo-fuzz on the stable toolchain, without a sanitizer: Rust's own
# bounds checks catch out-of-bounds access). FUZZ_SECONDS=60 by default.
FUZZ_SECONDS ?= 60
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install --locked --quiet cargo-fuzz
	cd tools/vassist-policy && for t in tcp_parse_rewrite zone_consumer; do \
		RUSTC_BOOTSTRAP=1 cargo fuzz run $$t -s none -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

fmt:
	cargo fmt --all
	rustfmt --edition 2021 rust/vassist.rs

# The kernel crate with Debian's clippy-driver, of the same release as the
# rustc that builds it (rustup's comes first on PATH and is another release).
lint: lint-module
	cargo clippy --workspace --all-targets -- -D warnings

lint-module:
	rm -f $(ROOT)/rust/vassist.o
	$(MAKE) -C $(or $(KDIR),$$(cat $(OUT)/kdir)) M=$(ROOT) $(KMAKE_VARS) CLIPPY=1 CLIPPY_DRIVER=/usr/bin/clippy-driver \
		modules 2>&1 | tee $(OUT)/kernel-clippy.log
	! grep -q '^warning' $(OUT)/kernel-clippy.log

clean:
	-[ -f $(OUT)/kdir ] && $(MAKE) -C $$(cat $(OUT)/kdir) M=$(ROOT) $(KMAKE_VARS) clean
	rm -rf $(OUT) target
