# SPDX-License-Identifier: GPL-2.0-only
# selftests/lib.mk - kselftest's build and run conventions for podlane's selftest areas. The
# kernel's tools/testing/selftests/lib.mk assumes a kernel tree around it (its runner looks
# for an area's settings next to lib.mk, its install needs rsync); this one honours the same
# variables and targets for a tree of our own. An area's Makefile lists its tests, then
# includes this file:
#
#	TEST_GEN_PROGS := test_foo		C tests (kselftest_harness.h): built, run
#	TEST_GEN_PROGS_EXTENDED := foo_helper	built and installed, not run by the runner
#	TEST_PROGS := foo.t			shell tests (exit 0 pass, 1 fail, 4 skip): run
#	TEST_FILES := lib.sh foo.py		installed beside the tests
#	include ../lib.mk
#
# A test <name> is built from <name>.c and linked with TEST_LIBS: by default the shared test
# library (selftests/lib/testlib.c, compiled once) and libpodlane.a. An area may build with
# another compiler and more flags (TEST_CC, TEST_CFLAGS: selftests/fuzz uses clang's
# libFuzzer). An optional `settings` file (timeout=<seconds>) bounds each test, as in the
# kernel.
#
# Targets: all (build into OUTPUT, default build/selftests/<area>), run_tests (through the
# kernel's kselftest/runner.sh, taken from linux-source-6.1 at build time), install
# (INSTALL_PATH), emit_tests (this area's lines of kselftest-list.txt), clean.
# `make -C selftests/<area> run_tests` builds what it needs first, from the top Makefile.

selfdir		:= $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
TOP		:= $(patsubst %/,%,$(dir $(selfdir)))
AREA		:= $(notdir $(CURDIR))
COLLECTION	?= $(AREA)
PL_BUILD	?= $(TOP)/build
OUTPUT		?= $(PL_BUILD)/selftests/$(AREA)
KSFT_DIR	:= $(PL_BUILD)/selftests
TESTLIB		:= $(KSFT_DIR)/lib/testlib.o
TEST_LIBS	?= $(TESTLIB) $(PL_BUILD)/libpodlane.a

# The harness compares whatever the test hands ASSERT_EQ() (-Wno-sign-compare) and returns
# from a failed ASSERT through longjmp() past locals the test never reads again
# (-Wno-clobbered).
CC		?= gcc
TEST_CC		?= $(CC)
CFLAGS		?= -O2 -g
CFLAGS		+= -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
		   -Wno-sign-compare -Wno-clobbered -std=gnu11 -D_GNU_SOURCE
CPPFLAGS	+= -I$(PL_BUILD) -I$(TOP)/bpf -I$(TOP)/userspace/lib -I$(TOP)/kmod/uapi \
		   -I$(KSFT_DIR) -I$(selfdir)/lib
LDLIBS		+= -lbpf -lelf -lz -lmnl -ljson-c -lyaml -lm

# A sanitized build (`make SANITIZE=address,undefined`, top Makefile) records its sanitizers in
# $(PL_BUILD)/sanitize: its tests are built with them too, as libpodlane.a and testlib.o were.
SANITIZE	?= $(shell cat $(PL_BUILD)/sanitize 2>/dev/null)
ifneq ($(SANITIZE),)
CFLAGS		+= -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
# The runtimes linked statically, as the top Makefile does (why: there, SAN_LDFLAGS).
LDFLAGS		+= $(if $(findstring address,$(SANITIZE)),-static-libasan) \
		   $(if $(findstring undefined,$(SANITIZE)),-static-libubsan)
endif

ifeq ($(V),1)
	Q =
	msg =
else
	Q = @
	msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

GEN_PROGS	:= $(addprefix $(OUTPUT)/,$(TEST_GEN_PROGS))
GEN_PROGS_EXT	:= $(addprefix $(OUTPUT)/,$(TEST_GEN_PROGS_EXTENDED))
SETTINGS	:= $(wildcard settings)

.PHONY: all run_tests install emit_tests clean
.DELETE_ON_ERROR:

# Every C file and every .t of the area must be listed above: prove and the kselftest runner
# run what the lists say, so a test left out would silently never run.
UNLISTED	:= $(filter-out $(addsuffix .c,$(TEST_GEN_PROGS) $(TEST_GEN_PROGS_EXTENDED)), \
			$(wildcard *.c)) $(filter-out $(TEST_PROGS),$(wildcard *.t))
ifneq ($(strip $(UNLISTED)),)
$(error selftests/$(AREA)/Makefile does not list $(strip $(UNLISTED)))
endif

ifeq ($(PL_DEPS_DONE),)
# Run from the command line: the top Makefile builds the skeletons, libpodlane.a, the shared
# test library and the harness headers first, then this make runs again with them in place.
all run_tests install:
	$(Q)$(MAKE) --no-print-directory -C $(TOP) OUTPUT=$(PL_BUILD) selftest-deps
	$(Q)$(MAKE) --no-print-directory PL_DEPS_DONE=1 $@
else

all: $(GEN_PROGS) $(GEN_PROGS_EXT) $(if $(SETTINGS),$(OUTPUT)/settings)

$(OUTPUT):
	$(Q)mkdir -p $@

$(OUTPUT)/settings: settings | $(OUTPUT)
	$(Q)cp $< $@

$(GEN_PROGS) $(GEN_PROGS_EXT): $(OUTPUT)/%: %.c $(TEST_LIBS) \
		$(wildcard $(PL_BUILD)/*.skel.h $(TOP)/bpf/*.h $(TOP)/userspace/lib/*.h) \
		$(selfdir)/lib/testlib.h $(KSFT_DIR)/kselftest_harness.h | $(OUTPUT)
	$(call msg,TEST,$@)
	$(Q)$(TEST_CC) $(CPPFLAGS) $(CFLAGS) $(TEST_CFLAGS) $(LDFLAGS) $< $(TEST_LIBS) $(LDLIBS) -o $@

# The runner runs each test from its own directory and reads $(OUTPUT)/settings; the TAP it
# prints is also kept in $(OUTPUT)/run_tests.log, and a "not ok" makes the target fail.
run_tests: all
	$(Q)cd $(OUTPUT) && { BASE_DIR=$(KSFT_DIR); . $(KSFT_DIR)/kselftest/runner.sh; \
		run_many $(GEN_PROGS) $(addprefix $(CURDIR)/,$(TEST_PROGS)); } | \
		tee $(OUTPUT)/run_tests.log
	$(Q)! grep -q '^not ok' $(OUTPUT)/run_tests.log

install: all
ifeq ($(INSTALL_PATH),)
	$(error set INSTALL_PATH to use install)
endif
	$(call msg,INSTALL,$(INSTALL_PATH))
	$(Q)mkdir -p $(INSTALL_PATH)
	$(Q)cp -p $(GEN_PROGS) $(GEN_PROGS_EXT) $(TEST_PROGS) $(TEST_FILES) $(SETTINGS) \
		$(INSTALL_PATH)/

endif

emit_tests:
	@for t in $(TEST_GEN_PROGS) $(TEST_PROGS); do echo "$(COLLECTION):$$t"; done

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -f $(GEN_PROGS) $(GEN_PROGS_EXT) $(OUTPUT)/settings $(OUTPUT)/run_tests.log
