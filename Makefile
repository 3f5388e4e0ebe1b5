# batchup build.  `make` builds build/batchup; `make test` runs every test on a
# private stack; `make run` starts a local stack on http://127.0.0.1:8080/
# (behind nginx; `make run WEB=apache`, apache-fcgid, apache-htaccess,
# lighttpd or lighttpd-spawn for another web server).

CC       ?= cc
PKGS     := fcgi libpq jansson libcrypto zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# libfcgi ships no .pc file on every distribution; name it directly.
LIBS     := -lfcgi $(filter-out -lfcgi,$(PKG_LIBS))

# snprintf truncation is how fixed buffers are bounded here, so it is not a warning.
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
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

.PHONY: all asan test unit run bench lint format clean deps fuzz

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
	$(CC) $(CFLAGS) -Wno-missing-field-initializers $(LDFLAGS) -o $@ $< $(LIBOBJS) $(LIBS) -lcmocka

unit: $(UNIT_BINS)

# AddressSanitizer + UBSan build into build-asan/ (same targets, other flags).
asan:
	$(MAKE) BUILD=build-asan HARDEN="" \
	    OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	    SANITIZE="-fsanitize=address,undefined" all unit

test: all unit asan
	tests/run.sh

WEB ?= nginx
run: all
	WEB=$(WEB) tests/lib/run-local.sh

bench: all
	tests/bench/run.sh

lint:
	clang-tidy --quiet $(SRCS) -- $(CFLAGS) -Wno-unknown-warning-option
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --inline-suppr --suppress=missingIncludeSystem -Iinclude app

format:
	clang-format -i app/*.c include/batchup/*.h tests/unit/*.c tests/fuzz/*.c

# libFuzzer harnesses for every parser of untrusted input (clang); run each
# with e.g. `build/fuzz/fuzz_tus -max_total_time=60`.
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -DBATCHUP_VERSION=\"fuzz\" \
               -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS)
fuzz: | $(BUILD)/obj
	mkdir -p $(BUILD)/fuzz
	clang $(FUZZ_CFLAGS) -o $(BUILD)/fuzz/fuzz_headers tests/fuzz/fuzz_headers.c app/headers.c app/utf8.c
	clang $(FUZZ_CFLAGS) -o $(BUILD)/fuzz/fuzz_zip_names tests/fuzz/fuzz_zip_names.c app/zip.c app/utf8.c -lz
	clang $(FUZZ_CFLAGS) -o $(BUILD)/fuzz/fuzz_tus tests/fuzz/fuzz_tus.c \
	    $(filter-out app/main.c,$(SRCS)) $(LIBS)

deps:
	tests/lib/deps.sh

clean:
	rm -rf build build-asan
