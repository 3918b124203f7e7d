# SPDX-License-Identifier: GPL-2.0-only
# podlane top-level build: BPF objects and skeletons, the three userspace binaries and the
# selftest programs, everything into $(OUTPUT). `make V=1` shows full commands.
#
# `make SANITIZE=address,undefined` builds the three binaries, libpodlane.a and the selftest
# programs that link it with those sanitizers (a report aborts: -fno-sanitize-recover=all) into
# build-san/, beside the normal build/; the BPF objects and podlane.ko are built as always.
# $(OUTPUT)/sanitize records the setting, so `make OUTPUT=build-san` keeps building it that
# way, the selftests link to match and selftests/run.sh knows which pass it runs.

SANITIZE	?=
ifneq ($(SANITIZE),)
OUTPUT		?= build-san
endif
OUTPUT		?= build
SAN_STAMP	:= $(shell cat $(OUTPUT)/sanitize 2>/dev/null)
ifeq ($(SANITIZE),)
SANITIZE	:= $(SAN_STAMP)
endif
PREFIX		?= /usr/local
DESTDIR		?=
CNI_DIRS	?= /usr/lib/cni /opt/cni/bin

CC		?= gcc
CLANG		?= clang
BPFTOOL		?= bpftool
ARCH		:= $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
VMLINUX_BTF	?= /sys/kernel/btf/vmlinux

CFLAGS		?= -O2 -g
CFLAGS		+= -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
		   -std=gnu11 -D_GNU_SOURCE
CPPFLAGS	+= -I$(OUTPUT) -Ibpf -Iuserspace/lib -Ikmod/uapi
LDLIBS		+= -lbpf -lelf -lz -lmnl -ljson-c -lyaml
LDLIBS		+= -lm	# userspace/lib/sizing.c
BPF_CFLAGS	:= -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) -D__bpf__ \
		   -I$(OUTPUT) -Ibpf

ifeq ($(V),1)
	Q =
	msg =
else
	Q = @
	msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# Sanitized and plain objects never mix in one output directory.
ifneq ($(SANITIZE),$(SAN_STAMP))
ifneq ($(wildcard $(OUTPUT)/obj),)
$(error $(OUTPUT) holds a build with SANITIZE='$(SAN_STAMP)', not '$(SANITIZE)': use another \
	OUTPUT or make clean)
endif
endif
ifneq ($(SANITIZE),)
SAN_CFLAGS	:= -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS		+= $(SAN_CFLAGS)
# gcc's shared libasan and libubsan each carry their own report file, and UBSan's ignores
# log_path beside ASan (its reports went to stderr, often /dev/null in tests): linked
# statically, the two share one, so every report lands in the files selftests/run.sh reads.
SAN_LDFLAGS	:= $(if $(findstring address,$(SANITIZE)),-static-libasan) \
		   $(if $(findstring undefined,$(SANITIZE)),-static-libubsan)
LDFLAGS		+= $(SAN_LDFLAGS)
ifeq ($(filter clean,$(MAKECMDGOALS)),)
$(shell mkdir -p $(OUTPUT) && echo '$(SANITIZE)' > $(OUTPUT)/sanitize)
endif
endif

BPF_SRCS	:= $(wildcard bpf/*.bpf.c)
BPF_OBJS	:= $(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS		:= $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
BPF_HDRS	:= $(wildcard bpf/*.h bpf/lib/*.h)

LIB_SRCS	:= $(wildcard userspace/lib/*.c)
LIB_OBJS	:= $(patsubst userspace/%.c,$(OUTPUT)/obj/%.o,$(LIB_SRCS))
LIB_HDRS	:= $(wildcard userspace/lib/*.h) bpf/podlane.h

BINS		:= podlaned podlane-cni podlanectl
podlaned_DIR	:= userspace/podlaned
podlane-cni_DIR	:= userspace/cni
podlanectl_DIR	:= userspace/podlanectl

# Selftest areas: every selftests/<area>/ with a kselftest-style Makefile (selftests/lib.mk).
# A sanitized build leaves out fuzz (its harnesses carry ASan and UBSan already) and guest
# (its programs run in the 6.1 guest, which boots from the plain build).
SELFTEST_AREAS	:= $(patsubst selftests/%/Makefile,%,$(wildcard selftests/*/Makefile))
SAN_SKIP_AREAS	:= fuzz guest
ifneq ($(SANITIZE),)
SELFTEST_AREAS	:= $(filter-out $(SAN_SKIP_AREAS),$(SELFTEST_AREAS))
endif
SELFTEST_BUILDS	:= $(addprefix selftests-,$(SELFTEST_AREAS))
KSFT_DIR	:= $(OUTPUT)/selftests
KSFT_SRC	?= /usr/src/linux-source-6.1.tar.xz
KSFT_FILES	:= kselftest.h kselftest_harness.h run_kselftest.sh kselftest/runner.sh \
		   kselftest/prefix.pl
KSFT_INSTALL	?= $(OUTPUT)/kselftest_install
TESTLIB		:= $(KSFT_DIR)/lib/testlib.o

.PHONY: all clean install deps check test bench demo selftests selftest-deps $(SELFTEST_BUILDS) \
	kselftest kselftest-install fuzz
.DELETE_ON_ERROR:
.SECONDARY: $(BPF_OBJS)

all: $(addprefix $(OUTPUT)/,$(BINS)) selftests

$(OUTPUT) $(OUTPUT)/bpf $(OUTPUT)/obj:
	$(Q)mkdir -p $@

$(OUTPUT)/vmlinux.h: | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) $(OUTPUT)/vmlinux.h | $(OUTPUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp
	$(Q)rm -f $@.tmp

$(OUTPUT)/%.skel.h: $(OUTPUT)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@

# -MMD: every object also depends on the headers it includes (build/obj/**/*.d).
$(OUTPUT)/obj/%.o: userspace/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(OUTPUT)/libpodlane.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# One rule per binary: every .c under its folder (podlaned has one subfolder per layer, see
# userspace/podlaned/README.md) plus the shared library.
define bin_rule
$(1)_OBJS := $$(patsubst userspace/%.c,$(OUTPUT)/obj/%.o,$$(shell find $$($(1)_DIR) -name '*.c'))
$(OUTPUT)/$(1): $$($(1)_OBJS) $(OUTPUT)/libpodlane.a
	$$(call msg,BINARY,$$@)
	$$(Q)$$(CC) $$(CFLAGS) $$(LDFLAGS) $$^ $$(LDLIBS) -o $$@
endef
$(foreach b,$(BINS),$(eval $(call bin_rule,$(b))))

# The agent embeds the BPF skeletons and serves metrics over HTTP (libmicrohttpd). Its
# includes name the layer: #include "core/agent.h".
$(podlaned_OBJS): $(SKELS)
$(podlaned_OBJS): CPPFLAGS += -Iuserspace/podlaned
$(OUTPUT)/podlaned: LDLIBS += -lmicrohttpd -lcurl -lpthread

# ---- selftests (selftests/<area>/, kselftest conventions) -----------------------------------
# Each area's Makefile lists its tests (TEST_GEN_PROGS, TEST_PROGS, ...) and includes
# selftests/lib.mk. What they all need is built here first: the skeletons, libpodlane.a, the
# shared test library and kselftest's harness and runner, taken from Debian's linux-source-6.1
# at build time (a few files out of the tarball, never copied into the tree).
$(KSFT_DIR)/kselftest_harness.h: $(KSFT_SRC)
	$(call msg,KSFT,$(KSFT_DIR))
	$(Q)test -r $(KSFT_SRC) || { echo "no $(KSFT_SRC): apt-get install linux-source-6.1" >&2; exit 1; }
	$(Q)mkdir -p $(KSFT_DIR)
	$(Q)tar -xJf $(KSFT_SRC) -C $(KSFT_DIR) --strip-components=4 --wildcards \
		$(addprefix */tools/testing/selftests/,$(KSFT_FILES))
	$(Q)touch $@

$(TESTLIB): selftests/lib/testlib.c selftests/lib/testlib.h $(LIB_HDRS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -Iselftests/lib $(CFLAGS) -c $< -o $@

# The sync's record decoders link alone into selftests/sync (as a fuzzer links them).
SYNC_RECORDS_OBJS := $(addprefix $(OUTPUT)/obj/podlaned/,sync/records.o core/addr.o)

# The parsers of outside input again, built with clang for libFuzzer (coverage, ASan, UBSan; a
# sanitizer report aborts) into $(FUZZ_OUT)/libpodlane-fuzz.a, which the harnesses of
# selftests/fuzz link: the shared library, podlane-cni's pure parts (no exec, no socket) and
# podlaned's pure record codecs.
FUZZ_OUT	:= $(OUTPUT)/fuzz
FUZZ_CC		?= clang
FUZZ_CFLAGS	:= -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
		   -fno-sanitize-recover=all -Wall -Wextra -Werror -Wno-unused-parameter \
		   -Wno-missing-field-initializers -std=gnu11 -D_GNU_SOURCE
FUZZ_SRCS	:= $(LIB_SRCS) userspace/cni/config.c userspace/cni/result.c \
		   userspace/cni/ipam.c userspace/podlaned/sync/records.c \
		   userspace/podlaned/core/addr.c userspace/podlaned/nodes/record.c
FUZZ_OBJS	:= $(patsubst userspace/%.c,$(FUZZ_OUT)/obj/%.o,$(FUZZ_SRCS))

$(FUZZ_OUT)/obj/%.o: userspace/%.c
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(CPPFLAGS) -Iuserspace/podlaned $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_OUT)/libpodlane-fuzz.a: $(FUZZ_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

selftest-deps: $(SKELS) $(OUTPUT)/libpodlane.a $(TESTLIB) $(KSFT_DIR)/kselftest_harness.h \
	       $(SYNC_RECORDS_OBJS) $(if $(SANITIZE),,$(FUZZ_OUT)/libpodlane-fuzz.a)

# An area builds into build/selftests/<area>; the fuzzing harnesses into build/fuzz.
SELFTEST_VARS	= OUTPUT=$(abspath $(if $(filter fuzz,$(1)),$(FUZZ_OUT),$(OUTPUT)/selftests/$(1))) \
		  PL_BUILD=$(abspath $(OUTPUT)) PL_DEPS_DONE=1

selftests: $(SELFTEST_BUILDS)

$(SELFTEST_BUILDS): selftests-%: selftest-deps
	$(Q)$(MAKE) --no-print-directory -C selftests/$* $(call SELFTEST_VARS,$*) all

# Every area through the kernel's kselftest runner (prove runs them all too: make check).
kselftest: selftests
	$(Q)fail=0; for a in $(SELFTEST_AREAS); do \
		$(MAKE) --no-print-directory -C selftests/$$a $(call SELFTEST_VARS,$$a) \
			run_tests || fail=1; \
	done; exit $$fail

# A tree to run with the kernel's run_kselftest.sh, one folder per area. The shell tests in it
# still use this checkout (its lib.sh, helpers and build/) through the lib.sh it gets.
kselftest-install: selftests
	$(call msg,INSTALL,$(KSFT_INSTALL))
	$(Q)rm -rf $(KSFT_INSTALL) && mkdir -p $(KSFT_INSTALL)/kselftest
	$(Q)cp -p $(KSFT_DIR)/run_kselftest.sh $(KSFT_INSTALL)/
	$(Q)cp -p $(KSFT_DIR)/kselftest/runner.sh $(KSFT_DIR)/kselftest/prefix.pl \
		$(KSFT_INSTALL)/kselftest/
	$(Q)printf '%s\n' '# SPDX-License-Identifier: GPL-2.0-only' \
		'# podlane selftests installed by make kselftest-install: the shell tests use' \
		'# the checkout and build they were installed from.' \
		'PL_ROOT=$(CURDIR)' 'PL_BUILD=$(abspath $(OUTPUT))' \
		'. "$$PL_ROOT/selftests/lib.sh"' > $(KSFT_INSTALL)/lib.sh
	$(Q)for a in $(SELFTEST_AREAS); do \
		$(MAKE) --no-print-directory -C selftests/$$a $(call SELFTEST_VARS,$$a) \
			INSTALL_PATH=$(abspath $(KSFT_INSTALL))/$$a install && \
		$(MAKE) --no-print-directory -s -C selftests/$$a emit_tests \
			>> $(KSFT_INSTALL)/kselftest-list.txt || exit 1; \
	done

# The long fuzzing run (README "Fuzzing"): every libFuzzer target for FUZZ_TIME seconds or
# FUZZ_RUNS executions each, then the packet fuzzer (root) for FUZZ_PACKETS frames a program;
# FUZZ_MERGE=1 merges the grown corpus back into selftests/fuzz/corpus/, minimized;
# FUZZ_JOBS=N runs N processes per target on one shared corpus, splitting FUZZ_RUNS.
FUZZ_TIME	?= 60
FUZZ_RUNS	?=
FUZZ_PACKETS	?= 200000
FUZZ_MERGE	?= 0
FUZZ_JOBS	?= 1

fuzz: selftests-fuzz
	$(Q)PL_BUILD=$(abspath $(OUTPUT)) FUZZ_TIME='$(FUZZ_TIME)' FUZZ_RUNS='$(FUZZ_RUNS)' \
		FUZZ_PACKETS='$(FUZZ_PACKETS)' FUZZ_MERGE='$(FUZZ_MERGE)' \
		FUZZ_TIMEOUT='$(FUZZ_TIMEOUT)' FUZZ_JOBS='$(FUZZ_JOBS)' \
		$(if $(FUZZ_TARGETS),FUZZ_TARGETS='$(FUZZ_TARGETS)') selftests/fuzz/run-fuzz.sh

install: $(addprefix $(OUTPUT)/,$(BINS))
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin
	$(Q)install -m 0755 $(OUTPUT)/podlaned $(DESTDIR)$(PREFIX)/sbin/podlaned
	$(Q)install -m 0755 $(OUTPUT)/podlanectl $(DESTDIR)$(PREFIX)/bin/podlanectl
	$(Q)for d in $(CNI_DIRS); do \
		install -d $(DESTDIR)$$d && \
		install -m 0755 $(OUTPUT)/podlane-cni $(DESTDIR)$$d/podlane-cni || exit 1; \
	done

deps:
	$(Q)scripts/install-deps.sh

# The build just made: `make check SANITIZE=address,undefined` runs the sanitized pass.
test check: all
	$(Q)PL_BUILD=$(OUTPUT) selftests/run.sh

demo: all
	$(Q)scripts/demo.sh

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT)

-include $(shell find $(OUTPUT)/obj $(FUZZ_OUT)/obj -name '*.d' 2>/dev/null)

# ---- podlane.ko and the Debian 6.1 test guest (kmod/, scripts/guest/, selftests/guest/) ------
# `make kmod` builds $(OUTPUT)/podlane.ko against KDIR through the top-level Kbuild; the sources
# are copied to $(OUTPUT)/kbuild first so kbuild's objects and .cmd files stay out of the tree.
# `make check-guest` boots the guest under qemu (TCG) and runs selftests/guest/ there.
KABI		?= $(shell scripts/guest/kabi.sh)
KDIR		?= /usr/src/linux-headers-$(KABI)
KBUILD_OUT	:= $(abspath $(OUTPUT))/kbuild

.PHONY: kmod kmod-checkpatch guest-tests guest-deps check-guest

kmod: | $(OUTPUT)
	$(call msg,KMOD,$(OUTPUT)/podlane.ko)
	$(Q)test -d "$(KDIR)" || { echo "kmod: no kernel headers at KDIR=$(KDIR)" >&2; exit 1; }
	$(Q)mkdir -p $(KBUILD_OUT)/kmod && rm -f $(KBUILD_OUT)/kmod/*.[ch]
	$(Q)cp -pR Kbuild kmod $(KBUILD_OUT)/
	$(Q)$(MAKE) -C $(KDIR) M=$(KBUILD_OUT) $(if $(filter 1,$(V)),V=1,-s) modules
	$(Q)cp $(KBUILD_OUT)/kmod/podlane.ko $(OUTPUT)/podlane.ko

kmod-checkpatch:
	$(Q)scripts/guest/checkpatch.sh

# The guest's own programs (selftests/guest/) and the datapath tests it runs on 6.1 too.
guest-tests: selftests-guest selftests-datapath

guest-deps: kmod guest-tests $(BPF_OBJS) $(OUTPUT)/podlaned

check-guest: guest-deps
	$(Q)selftests/run.sh guest/guest.t
