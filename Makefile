# SPDX-License-Identifier: BSD-2-Clause
# batchup build.  `make` builds build/batchup; `make test` runs every test on a
# private stack; `make run` starts a local stack on http://127.0.0.1:8080/
# (behind nginx; `make run WEB=apache`, apache-fcgid, apache-htaccess,
# lighttpd or lighttpd-spawn for another web server).

CC       ?= cc
PKGS     := fcgi libpq jansson libcrypto libisal libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# libfcgi ships no .pc file on every distribution; name it directly.
LIBS     := -lfcgi $(filter-out -lfcgi,$(PKG_LIBS))

# snprintf truncation is how fixed buffers are bounded here, so it is not a warning.
WARN     := -Wall -Wextra -Wpedantic -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation
HARDEN   := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE -fstack-clash-protection
OPT      ?= -O2 -g
# The release is the newest entry of debian/changelog (NEWS.md tells people
# the same; tests/integration/08-versions.sh checks they agree). A build from
# a git checkout also names its commit (`git describe`: the tag, the commits
# since it and the hash, "-dirty" with uncommitted changes); `make deb` hands
# it to its copy of the tree, which has no .git, as GIT_DESCRIBE.
VERSION  := $(shell head -n 1 debian/changelog | cut -d ' ' -f 2 | tr -d '()')
GIT_DESCRIBE ?= $(shell [ -e .git ] && git describe --tags --always --dirty 2>/dev/null)
CFLAGS   += $(OPT) -DBATCHUP_VERSION=\"$(VERSION)\" -std=c11 -D_GNU_SOURCE $(WARN) $(HARDEN) -Iinclude $(PKG_CFLAGS)
LDFLAGS  += -pie -Wl,-z,relro,-z,now $(SANITIZE)

BUILD    ?= build
SRCS     := $(sort $(wildcard app/*.c))
OBJS     := $(SRCS:app/%.c=$(BUILD)/obj/%.o)
LIBOBJS  := $(filter-out $(BUILD)/obj/main.o,$(OBJS))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)

.PHONY: all asan test unit run bench lint headers format docs clean deps fuzz install uninstall deb test-cluster

all: $(BUILD)/batchup

$(BUILD)/batchup: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/obj/%.o: app/%.c $(wildcard include/batchup/*.h) | $(BUILD)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

# The version and the commit are compiled into the files that print them;
# $(BUILD)/version changes only when they do, so only those files rebuild.
VERSION_STAMP := $(shell mkdir -p $(BUILD) && echo '$(VERSION) $(GIT_DESCRIBE)' | \
                   cmp -s - $(BUILD)/version || echo '$(VERSION) $(GIT_DESCRIBE)' >$(BUILD)/version)
$(patsubst app/%.c,$(BUILD)/obj/%.o,$(shell grep -l BATCHUP_VERSION app/*.c)): $(BUILD)/version
$(BUILD)/obj/main.o: CFLAGS += -DBATCHUP_COMMIT=\"$(GIT_DESCRIBE)\"

# The upload page is built into the binary (.incbin in app/page.c).
$(BUILD)/obj/page.o: app/page.html

$(BUILD)/obj $(BUILD)/unit:
	mkdir -p $@

# Tests fill structs partly ({name, size, mtime}) and rely on the rest being zero.
$(BUILD)/unit/%: tests/unit/%.c $(LIBOBJS) | $(BUILD)/unit
	$(CC) $(CFLAGS) -Wno-missing-field-initializers $(LDFLAGS) -o $@ $< $(LIBOBJS) $(LIBS) -lcmocka -lz

unit: $(UNIT_BINS)

# AddressSanitizer + UBSan build into build-asan/ (same targets, other flags).
asan:
	$(MAKE) BUILD=build-asan HARDEN="" \
	    OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	    SANITIZE="-fsanitize=address,undefined" all unit

test: all unit asan fuzz $(BUILD)/tools/fcgi_floor
	tests/run.sh

# `make run HOSTS=3`: HOSTS batchup hosts behind HAProxy, with a PostgreSQL
# primary and a streaming standby, in network namespaces (root; see
# tests/cluster/cluster.sh); PGBOUNCER=1 puts a PgBouncer in front of each
# host's batchup; without HOSTS, the one-host stack.
WEB ?= nginx
HOSTS ?=
PGBOUNCER ?= 0
run: all
ifeq ($(HOSTS),)
	WEB=$(WEB) tests/lib/run-local.sh
else
	HOSTS=$(HOSTS) CLUSTER_PGBOUNCER=$(PGBOUNCER) tests/cluster/cluster.sh up
endif

# The cluster suite (tests/cluster/run.sh: three hosts, a host killed, a
# failover), bounded to five and a half minutes whatever happens.
test-cluster: all
	timeout -k 10 330 tests/cluster/run.sh

bench: all $(BUILD)/tools/fcgi_floor
	tests/bench/run.sh

# The app floor of the upload benchmark (tests/bench/fcgi_floor.c): a
# FastCGI responder that only hashes and durably stores each body, framing
# its records with app/fcgi.c's codec.
$(BUILD)/tools/fcgi_floor: tests/bench/fcgi_floor.c $(BUILD)/obj/digest.o $(BUILD)/obj/fcgi.o \
    $(BUILD)/obj/clock.o
	mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lisal -lcrypto

# Every header compiles on its own (it includes what it uses).
headers:
	@for h in include/batchup/*.h; do \
	    echo "#include \"batchup/$$(basename $$h)\"" | \
	        $(CC) $(CFLAGS) -fsyntax-only -x c - || { echo "$$h does not compile alone"; exit 1; }; \
	done

# The files `make format` formats and `make lint` checks (clang-format 14,
# settings in .clang-format): any difference fails the lint.
FORMAT_FILES := app/*.c include/batchup/*.h tests/unit/*.c tests/fuzz/*.c tools/*.c

# clang-tidy is most of the lint's time and uses one CPU: it runs a process
# a file, TIDY_JOBS (one a CPU) at once; any file's finding fails the lint.
TIDY_JOBS ?= $(shell nproc)

lint: headers
	clang-format --dry-run -Werror $(FORMAT_FILES)
	printf '%s\n' $(SRCS) | xargs -P $(TIDY_JOBS) -I{} clang-tidy --quiet {} -- $(CFLAGS) -Wno-unknown-warning-option
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --inline-suppr --suppress=missingIncludeSystem -Iinclude app

format:
	clang-format -i $(FORMAT_FILES)

# `make docs`: every configuration key's documentation, written from the key
# table of app/config.c (its default, its bounds, its one line) by
# build/confdoc (tools/confdoc.c) into the part of each of these files
# between its "BEGIN KEYS" and "END KEYS" lines; the rest is written by hand.
# DOCS_DIR=DIR writes the files under DIR instead of over the tree's
# (tests/integration/06-docs-keys.sh compares them with the committed ones).
DOCS_GEN := conf/batchup.conf man/batchup.conf.5 docs/operations.md
DOCS_DIR ?= .

$(BUILD)/confdoc: tools/confdoc.c $(BUILD)/obj/config.o $(BUILD)/obj/address.o \
    $(BUILD)/obj/error.o $(BUILD)/obj/utf8.o
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^

docs: $(BUILD)/confdoc
	@for f in $(DOCS_GEN); do \
	    mkdir -p $(DOCS_DIR)/$$(dirname $$f) && $(BUILD)/confdoc $$f <$$f >$(DOCS_DIR)/$$f.new && \
	        mv $(DOCS_DIR)/$$f.new $(DOCS_DIR)/$$f || { rm -f $(DOCS_DIR)/$$f.new; exit 1; }; \
	done

# libFuzzer harnesses for every parser of untrusted input (clang); run each
# with e.g. `build/fuzz/fuzz_tus -max_total_time=60 tests/fuzz/corpus/fuzz_tus`.
# `make test` builds them and runs each for FUZZ_SECONDS from its committed
# seed corpus (tests/run.sh fuzz).
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -DBATCHUP_VERSION=\"fuzz\" \
               -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS)
FUZZ_BINS := $(addprefix $(BUILD)/fuzz/,fuzz_headers fuzz_zip_names fuzz_tus fuzz_config fuzz_fcgi)
HDRS := $(wildcard include/batchup/*.h)
fuzz: $(FUZZ_BINS)

$(BUILD)/fuzz:
	mkdir -p $@

$(BUILD)/fuzz/fuzz_headers: tests/fuzz/fuzz_headers.c app/headers.c app/utf8.c $(HDRS) | $(BUILD)/fuzz
	clang $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)
$(BUILD)/fuzz/fuzz_zip_names: tests/fuzz/fuzz_zip_names.c app/zip.c app/digest.c app/utf8.c $(HDRS) | $(BUILD)/fuzz
	clang $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) -lisal -lcrypto
$(BUILD)/fuzz/fuzz_tus: tests/fuzz/fuzz_tus.c $(filter-out app/main.c,$(SRCS)) $(HDRS) | $(BUILD)/fuzz
	clang $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) $(LIBS)
$(BUILD)/fuzz/fuzz_config: tests/fuzz/fuzz_config.c app/config.c app/address.c app/error.c \
    app/log.c app/utf8.c $(HDRS) | $(BUILD)/fuzz
	clang $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) $(LIBS)

$(BUILD)/fuzz/fuzz_fcgi: tests/fuzz/fuzz_fcgi.c app/fcgi.c app/clock.c $(HDRS) | $(BUILD)/fuzz
	clang $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)

deps:
	tests/lib/deps.sh

# `make install [PREFIX=/usr/local] [DESTDIR=...]`: the binary in bin/ (it
# has commands for people too: `batchup user add`), the SQL where `batchup
# migrate` looks for it (<bindir>/../share/batchup/sql), the man pages, the
# systemd units with this install's paths, README and samples in the doc
# folder, and the configuration in /etc/batchup (PREFIX=/usr) or
# $(PREFIX)/etc/batchup, never over an existing one.
PREFIX     ?= /usr/local
BINDIR     := $(PREFIX)/bin
DATADIR    := $(PREFIX)/share/batchup
MANDIR     := $(PREFIX)/share/man
DOCDIR     := $(PREFIX)/share/doc/batchup
ifeq ($(PREFIX),/usr)
SYSCONFDIR := /etc
UNITDIR    := /lib/systemd/system
else
SYSCONFDIR := $(PREFIX)/etc
UNITDIR    := $(PREFIX)/lib/systemd/system
endif
CONF       := $(DESTDIR)$(SYSCONFDIR)/batchup/batchup.conf
UNIT_PATHS := -e 's|/usr/bin/batchup|$(BINDIR)/batchup|g' -e 's|/etc/batchup/|$(SYSCONFDIR)/batchup/|g' \
              -e 's|/usr/share/doc/batchup/|$(DOCDIR)/|g'

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/sql/functions $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)/docs $(DESTDIR)$(SYSCONFDIR)/batchup
	install -m 0755 $(BUILD)/batchup $(DESTDIR)$(BINDIR)/batchup
	install -m 0644 sql/[0-9][0-9][0-9]_*.sql $(DESTDIR)$(DATADIR)/sql/
	install -m 0644 sql/functions/*.sql $(DESTDIR)$(DATADIR)/sql/functions/
	install -m 0644 man/batchup.8 $(DESTDIR)$(MANDIR)/man8/batchup.8
	install -m 0644 man/batchup.conf.5 $(DESTDIR)$(MANDIR)/man5/batchup.conf.5
	for u in batchup.service batchup.socket; do \
	    sed $(UNIT_PATHS) conf/$$u >$(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	install -m 0644 README.md conf/batchup.conf conf/nginx.conf $(DESTDIR)$(DOCDIR)/
	install -m 0644 docs/*.md $(DESTDIR)$(DOCDIR)/docs/
	@if [ -e $(CONF) ]; then \
	    echo "keeping $(CONF) (the new sample is $(DESTDIR)$(DOCDIR)/batchup.conf)"; \
	else \
	    install -m 0640 conf/batchup.conf $(CONF); \
	    if [ -z "$(DESTDIR)" ] && getent group batchup >/dev/null; then chgrp batchup $(CONF); fi; \
	fi

# Everything install put there but the configuration.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/batchup $(DESTDIR)$(MANDIR)/man8/batchup.8 \
	    $(DESTDIR)$(MANDIR)/man5/batchup.conf.5 \
	    $(DESTDIR)$(UNITDIR)/batchup.service $(DESTDIR)$(UNITDIR)/batchup.socket
	rm -rf $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)

# The Debian package, built the Debian way (debian/, debhelper) by
# dpkg-buildpackage, on a copy of the tree in build/deb/ (dh's clean step
# runs `make clean`, which must not empty this checkout's build/): the
# files git knows, committed or not, and new ones it does not ignore (every
# file but build/ and var/ where there is no .git). The .deb is left in
# build/; it is made again only when a file of the tree changed.
DEB_ARCH  := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB       := $(BUILD)/batchup_$(VERSION)_$(DEB_ARCH).deb
DEB_SRC   := $(BUILD)/deb/batchup-$(VERSION)
ifneq ($(wildcard .git),)
DEB_FILES := $(shell git ls-files --cached --others --exclude-standard)
DEB_TAR   := git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -
else
DEB_FILES := $(shell find . \( -path ./build -o -path ./build-asan -o -path ./var -o -name node_modules \) -prune -o -type f -print)
DEB_TAR   := tar --exclude=./build --exclude=./build-asan --exclude=./var --exclude=node_modules -cf - .
endif

deb: $(DEB)

$(DEB): $(wildcard $(DEB_FILES))
	rm -rf $(BUILD)/deb
	mkdir -p $(DEB_SRC)
	$(DEB_TAR) | tar -xf - -C $(DEB_SRC)
	cd $(DEB_SRC) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CFLAGS -u LDFLAGS -u CPPFLAGS \
	    GIT_DESCRIBE='$(GIT_DESCRIBE)' dpkg-buildpackage -us -uc -b -jauto >../build.log 2>&1 || \
	    { tail -n 40 ../build.log; exit 1; }
	cp $(BUILD)/deb/batchup_$(VERSION)_$(DEB_ARCH).deb $@
	@echo "built $@ (log: $(BUILD)/deb/build.log)"

clean:
	rm -rf build build-asan
