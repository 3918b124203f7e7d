# SPDX-License-Identifier: GPL-2.0-only
# podlane top-level build: BPF objects and skeletons, the three userspace binaries and the
# selftest programs, everything into $(OUTPUT). `make V=1` shows full commands.

OUTPUT		?= build
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
LDLIBS		+= -lbpf -lelf -lz -lmnl -ljson-c
BPF_CFLAGS	:= -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) -D__bpf__ \
		   -I$(OUTPUT) -Ibpf

ifeq ($(V),1)
	Q =
	msg =
else
	Q = @
	msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
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

TEST_SRCS	:= $(wildcard selftests/datapath/*.c selftests/lb/*.c selftests/acct/*.c \
			    selftests/etcd/*.c)
TEST_BINS	:= $(addprefix $(OUTPUT)/selftests/,$(basename $(notdir $(TEST_SRCS))))
vpath %.c $(sort $(dir $(TEST_SRCS)))

.PHONY: all clean install deps check test bench demo
.DELETE_ON_ERROR:
.SECONDARY: $(BPF_OBJS)

all: $(addprefix $(OUTPUT)/,$(BINS)) $(TEST_BINS)

$(OUTPUT) $(OUTPUT)/bpf $(OUTPUT)/obj $(OUTPUT)/selftests:
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

$(OUTPUT)/obj/%.o: userspace/%.c $(LIB_HDRS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(OUTPUT)/libpodlane.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# One rule per binary: every .c in its folder plus the shared library.
define bin_rule
$(1)_OBJS := $$(patsubst userspace/%.c,$(OUTPUT)/obj/%.o,$$(wildcard $$($(1)_DIR)/*.c))
$(OUTPUT)/obj/$$(patsubst userspace/%,%,$$($(1)_DIR))/%.o: $$(wildcard $$($(1)_DIR)/*.h)
$(OUTPUT)/$(1): $$($(1)_OBJS) $(OUTPUT)/libpodlane.a
	$$(call msg,BINARY,$$@)
	$$(Q)$$(CC) $$(CFLAGS) $$^ $$(LDLIBS) -o $$@
endef
$(foreach b,$(BINS),$(eval $(call bin_rule,$(b))))

# The agent embeds the BPF skeletons and serves metrics over HTTP (libmicrohttpd).
$(podlaned_OBJS): $(SKELS)
$(OUTPUT)/podlaned: LDLIBS += -lmicrohttpd -lcurl -lpthread

$(TEST_BINS): $(OUTPUT)/selftests/%: %.c selftests/lib/testlib.h $(SKELS) $(LIB_HDRS) $(OUTPUT)/libpodlane.a | $(OUTPUT)/selftests
	$(call msg,TEST,$@)
	$(Q)$(CC) $(CPPFLAGS) -Iselftests/lib $(CFLAGS) $< $(OUTPUT)/libpodlane.a $(LDLIBS) -o $@

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

test check: all
	$(Q)selftests/run.sh

demo: all
	$(Q)scripts/demo.sh

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT)

# ---- podlane.ko and the Debian 6.1 test guest (kmod/, scripts/guest/, selftests/guest/) ------
# `make kmod` builds $(OUTPUT)/podlane.ko against KDIR through the top-level Kbuild; the sources
# are copied to $(OUTPUT)/kbuild first so kbuild's objects and .cmd files stay out of the tree.
# `make check-guest` boots the guest under qemu (TCG) and runs selftests/guest/ there.
KABI		?= $(shell scripts/guest/kabi.sh)
KDIR		?= /usr/src/linux-headers-$(KABI)
KBUILD_OUT	:= $(abspath $(OUTPUT))/kbuild
GUEST_SRCS	:= $(wildcard selftests/guest/*.c)
GUEST_BINS	:= $(patsubst selftests/guest/%.c,$(OUTPUT)/selftests/guest/%,$(GUEST_SRCS))

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

$(OUTPUT)/selftests/guest:
	$(Q)mkdir -p $@

$(OUTPUT)/selftests/guest/%: selftests/guest/%.c kmod/uapi/podlane_genl.h | $(OUTPUT)/selftests/guest
	$(call msg,TEST,$@)
	$(Q)$(CC) $(CPPFLAGS) -Ikmod/uapi $(CFLAGS) $< $(LDLIBS) -o $@

guest-tests: $(GUEST_BINS)

# What the guest runs; build/selftests/test_datapath comes from `make all` when it is there.
guest-deps: kmod guest-tests $(BPF_OBJS)

check-guest: guest-deps
	$(Q)prove -v selftests/guest/guest.t
