# SPDX-License-Identifier: GPL-2.0
# Everything generated lives under build/; `make clean` is rm -rf build.

CC      ?= gcc
CLANG   ?= clang
BPFTOOL ?= bpftool
PREFIX  ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
# make SANITIZE=1 builds in a tree of its own, so instrumented and plain objects never mix
ifeq ($(SANITIZE),1)
BUILD   := build/asan
else
BUILD   := build
endif

CFLAGS  ?= -O2 -g
XS_CFLAGS := -std=gnu11 -pthread -Wall -Wextra -Werror -D_GNU_SOURCE \
	     -Iinclude -Iuser -I$(BUILD)
XS_LDLIBS := -lxdp -lbpf -lelf -lz -lpcap -ljansson -lhttp_parser -lcap -lseccomp -lssl -lcrypto

# make SANITIZE=1: AddressSanitizer and UndefinedBehaviorSanitizer everywhere (in build/asan)
ifeq ($(SANITIZE),1)
XS_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
XS_LDFLAGS += -fsanitize=address,undefined
endif

ARCH    := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Iinclude \
	      -I/usr/include/$(shell uname -m)-linux-gnu -Wall -Werror

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
BPF_HDRS  := $(wildcard include/xdp_sniff/*.h)
HDRS      := $(BPF_HDRS) $(wildcard user/*.h user/*/*.h)

# user/ and its rooms (capture, stream, sinks, cmd): every source found by wildcard
USER_SRCS := $(wildcard user/*.c user/*/*.c)
USER_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(USER_SRCS))
LIB_OBJS  := $(filter-out $(BUILD)/user/main.o,$(USER_OBJS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))
BPFT_SRCS := $(wildcard tests/bpf/test_*.c)
BPFT_BINS := $(patsubst tests/bpf/%.c,$(BUILD)/tests/bpf/%,$(BPFT_SRCS))

# skeletons and BPF objects are kept: make would otherwise delete them as intermediates
# and rebuild every user object on the next run
.SECONDARY: $(BPF_OBJS) $(SKELS)

.PHONY: all check check-unit check-bpf check-e2e check-filter-expr check-fuzz fuzz bench demo deps install clean tests

all: $(BUILD)/xdp-sniff

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) | $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $* > $@.tmp && mv $@.tmp $@

$(BUILD)/user/%.o: user/%.c $(HDRS) $(SKELS) | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XS_CFLAGS) -c $< -o $@

$(BUILD)/xdp-sniff: $(USER_OBJS)
	$(CC) $(XS_LDFLAGS) $(LDFLAGS) -o $@ $^ $(XS_LDLIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIB_OBJS) $(HDRS) $(SKELS) tests/filter_cases.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XS_CFLAGS) $(XS_LDFLAGS) -o $@ $< $(LIB_OBJS) $(XS_LDLIBS) -lcmocka

$(BUILD)/tests/bpf/%: tests/bpf/%.c $(LIB_OBJS) $(HDRS) $(SKELS) tests/filter_cases.h tests/bpf/frames.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(XS_CFLAGS) $(XS_LDFLAGS) -o $@ $< $(LIB_OBJS) $(XS_LDLIBS) -lcmocka

$(BUILD):
	@mkdir -p $(BUILD)

tests: $(BUILD)/xdp-sniff $(UNIT_BINS) $(BPFT_BINS)

# the test scripts use this tree's binaries: tests/run.sh reads BUILD, the scripts XDP_SNIFF
RUN_TESTS := BUILD=$(BUILD) XDP_SNIFF=$(abspath $(BUILD)/xdp-sniff) tests/run.sh

# README's two commands work on a fresh machine, either one first: the packages are
# installed before anything is built (a prerequisite list would build them side by side
# under -j)
check: deps
	$(MAKE) tests
	$(RUN_TESTS) all

check-unit: tests
	$(RUN_TESTS) unit

check-bpf: tests
	$(RUN_TESTS) bpf

check-e2e: tests
	$(RUN_TESTS) e2e

check-filter-expr: tests
	$(RUN_TESTS) filter_expr

check-fuzz:
	$(RUN_TESTS) fuzz

fuzz:
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} tests/fuzz/run.sh

bench: $(BUILD)/xdp-sniff $(BPFT_BINS)
	bench/run.sh

demo: deps
	$(MAKE) $(BUILD)/xdp-sniff
	scripts/demo.sh

deps:
	scripts/deps.sh

# the binary, the man page, the systemd template unit (instance = interface) with the
# binary's path written in, the documented per-interface options file as an example, and
# the logrotate snippet for the units' --json-log/--http-log/--tls-log files
install: $(BUILD)/xdp-sniff
	install -D -m 0755 $(BUILD)/xdp-sniff $(DESTDIR)$(PREFIX)/sbin/xdp-sniff
	install -D -m 0644 man/xdp-sniff.8 $(DESTDIR)$(PREFIX)/share/man/man8/xdp-sniff.8
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' scripts/service/xdp-sniff@.service \
		> $(DESTDIR)$(UNITDIR)/xdp-sniff@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/xdp-sniff@.service
	install -D -m 0644 scripts/service/xdp-sniff.conf \
		$(DESTDIR)$(SYSCONFDIR)/xdp-sniff/example.conf
	install -D -m 0644 scripts/service/xdp-sniff.logrotate \
		$(DESTDIR)$(SYSCONFDIR)/logrotate.d/xdp-sniff

clean:
	rm -rf $(BUILD)
