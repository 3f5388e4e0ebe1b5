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
VERSION  := 0.1.0
CFLAGS   += $(OPT) -DBATCHUP_VERSION=\"$(VERSION)\" -std=c11 -D_GNU_SOURCE $(WARN) $(HARDEN) -Iinclude $(PKG_CFLAGS)
LDFLAGS  += -pie -Wl,-z,relro,-z,now $(SANITIZE)

BUILD    ?= build
SRCS     := $(sort $(wildcard app/*.c))
OBJS     := $(SRCS:app/%.c=$(BUILD)/obj/%.o)
LIBOBJS  := $(filter-out $(BUILD)/obj/main.o,$(OBJS))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)

.PHONY: all asan test unit run bench lint headers format clean deps fuzz install uninstall deb test-cluster

all: $(BUILD)/batchup

$(BUILD)/batchup: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/obj/%.o: app/%.c $(wildcard include/batchup/*.h) | $(BUILD)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

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
# tests/cluster/cluster.sh); without HOSTS, the one-host stack.
WEB ?= nginx
HOSTS ?=
run: all
ifeq ($(HOSTS),)
	WEB=$(WEB) tests/lib/run-local.sh
else
	HOSTS=$(HOSTS) tests/cluster/cluster.sh up
endif

# The cluster suite (tests/cluster/run.sh: three hosts, a host killed, a
# failover), bounded to five and a half minutes whatever happens.
test-cluster: all
	timeout -k 10 330 tests/cluster/run.sh

bench: all $(BUILD)/tools/fcgi_floor
	tests/bench/run.sh

# The app floor of the upload benchmark (tests/bench/fcgi_floor.c): a
# FastCGI responder that only hashes and durably stores each body.
$(BUILD)/tools/fcgi_floor: tests/bench/fcgi_floor.c $(BUILD)/obj/digest.o
	mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lisal -lcrypto

# Every header compiles on its own (it includes what it uses).
headers:
	@for h in include/batchup/*.h; do \
	    echo "#include \"batchup/$$(basename $$h)\"" | \
	        $(CC) $(CFLAGS) -fsyntax-only -x c - || { echo "$$h does not compile alone"; exit 1; }; \
	done

lint: headers
	clang-tidy --quiet $(SRCS) -- $(CFLAGS) -Wno-unknown-warning-option
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --inline-suppr --suppress=missingIncludeSystem -Iinclude app

format:
	clang-format -i app/*.c include/batchup/*.h tests/unit/*.c tests/fuzz/*.c

# libFuzzer harnesses for every parser of untrusted input (clang); run each
# with e.g. `build/fuzz/fuzz_tus -max_total_time=60 tests/fuzz/corpus/fuzz_tus`.
# `make test` builds them and runs each for FUZZ_SECONDS from its committed
# seed corpus (tests/run.sh fuzz).
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -DBATCHUP_VERSION=\"fuzz\" \
               -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS)
FUZZ_BINS := $(addprefix $(BUILD)/fuzz/,fuzz_headers fuzz_zip_names fuzz_tus fuzz_config)
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
$(BUILD)/fuzz/fuzz_config: tests/fuzz/fuzz_config.c app/config.c app/listener.c app/error.c \
    app/log.c app/utf8.c $(HDRS) | $(BUILD)/fuzz
	clang $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) $(LIBS)

deps:
	tests/lib/deps.sh

# `make install [PREFIX=/usr/local] [DESTDIR=...]`: the binary in bin/ (it
# has commands for people too: `batchup user add`), the SQL where `batchup
# migrate` looks for it (<bindir>/../share/batchup/sql), the man page, the
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
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/batchup
	install -m 0755 $(BUILD)/batchup $(DESTDIR)$(BINDIR)/batchup
	install -m 0644 sql/[0-9][0-9][0-9]_*.sql $(DESTDIR)$(DATADIR)/sql/
	install -m 0644 sql/functions/*.sql $(DESTDIR)$(DATADIR)/sql/functions/
	install -m 0644 man/batchup.8 $(DESTDIR)$(MANDIR)/man8/batchup.8
	for u in batchup.service batchup.socket; do \
	    sed $(UNIT_PATHS) conf/$$u >$(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	install -m 0644 README.md conf/batchup.conf conf/nginx.conf $(DESTDIR)$(DOCDIR)/
	@if [ -e $(CONF) ]; then \
	    echo "keeping $(CONF) (the new sample is $(DESTDIR)$(DOCDIR)/batchup.conf)"; \
	else \
	    install -m 0640 conf/batchup.conf $(CONF); \
	    if [ -z "$(DESTDIR)" ] && getent group batchup >/dev/null; then chgrp batchup $(CONF); fi; \
	fi

# Everything install put there but the configuration.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/batchup $(DESTDIR)$(MANDIR)/man8/batchup.8 \
	    $(DESTDIR)$(UNITDIR)/batchup.service $(DESTDIR)$(UNITDIR)/batchup.socket
	rm -rf $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)

# A Debian package, built with dpkg-deb alone (pkg/deb/build.sh): the
# install above with PREFIX=/usr, the maintainer scripts of pkg/deb/.
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB      := $(BUILD)/batchup_$(VERSION)_$(DEB_ARCH).deb

deb: all
	rm -rf $(BUILD)/deb
	$(MAKE) --no-print-directory install PREFIX=/usr DESTDIR=$(CURDIR)/$(BUILD)/deb/root
	pkg/deb/build.sh $(BUILD)/deb/root $(VERSION) $(DEB_ARCH) $(DEB)

clean:
	rm -rf build build-asan
