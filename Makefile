# triage — plain make with pkg-config.
#   make                 release build in build/
#   make asan            ASan+UBSan build in build/asan/ (what the tests use)
#   make check           check-layers, unit tests (cmocka) under ASan+UBSan, then the integration tests
#   make unit            unit tests only
#   make check-layers    fails when a file includes a header from a layer above its own
#   make fuzz            libFuzzer harnesses (tests/fuzz, clang) built in build/fuzz/, each run
#                        FUZZ_SECONDS (default 60) from its seed corpus; fails on any crash
#   make install         PREFIX=/usr/local DESTDIR=
#
# Folders are the layers: src/core -> src/codec -> src/io -> src/daemon | src/cli (and src/tools, test
# helpers). Each layer becomes a static library, so a program links only the members it uses and
# only the system libraries those members need.
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR   = $(PREFIX)/bin
MANDIR   = $(PREFIX)/share/man
DOCDIR   = $(PREFIX)/share/doc/triage
UNITDIR ?= $(PREFIX)/lib/systemd/system

CC      ?= gcc
# Libraries per layer: the text core and codec need only the first set.
CORE_PKGS   = jansson libutf8proc libxxhash gumbo
STORE_PKGS  = libcurl libcrypto
KAFKA_PKGS  = rdkafka
DAEMON_PKGS = libuv libmicrohttpd
ALL_PKGS    = $(CORE_PKGS) $(STORE_PKGS) $(KAFKA_PKGS) $(DAEMON_PKGS)
PKG_CFLAGS := $(shell pkg-config --cflags $(ALL_PKGS))
# libcld2 (language detection) is C++ without a .pc file: src/core/lang_cld2.cc is its C shim.
CORE_LIBS  := $(shell pkg-config --libs $(CORE_PKGS)) -lstemmer -llinear -lcld2 -lstdc++ -lm -lpthread
STORE_LIBS := $(shell pkg-config --libs $(STORE_PKGS))
KAFKA_LIBS := $(shell pkg-config --libs $(KAFKA_PKGS))
DAEMON_LIBS:= $(shell pkg-config --libs $(DAEMON_PKGS))
ALL_LIBS    = $(DAEMON_LIBS) $(KAFKA_LIBS) $(STORE_LIBS) $(CORE_LIBS)

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -Iinclude $(WARN) $(PKG_CFLAGS) -MMD -MP
OPT_CFLAGS  ?= -O2 -g
ASAN_CFLAGS  = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

B  ?= build
LAYERS = core codec io daemon cli tools
$(foreach l,$(LAYERS),$(eval $(l)_SRC := $(wildcard src/$(l)/*.c)))
$(foreach l,$(LAYERS),$(eval $(l)_OBJ := $(patsubst src/%.c,$(B)/obj/%.o,$($(l)_SRC))))
core_OBJ += $(patsubst src/%.cc,$(B)/obj/%.o,$(wildcard src/core/*.cc))

# Programs (their main()s) are kept out of the layer libraries.
DAEMON_MAIN = $(B)/obj/daemon/triaged.o
CLI_MAIN    = $(B)/obj/cli/triage.o
daemon_LIBOBJ = $(filter-out $(DAEMON_MAIN),$(daemon_OBJ))
cli_OBJS      = $(cli_OBJ)

LIB_CORE   = $(B)/lib/libtriage-core.a
LIB_IO     = $(B)/lib/libtriage-io.a
LIB_DAEMON = $(B)/lib/libtriage-daemon.a
# Link order: higher layers first, so each archive's members find the ones below.
LAYER_LIBS = $(LIB_DAEMON) $(LIB_IO) $(LIB_CORE)

TOOLS    = $(B)/kafka-mock $(B)/kafka-load $(B)/store-cli

UNIT_SRC   = $(wildcard tests/unit/test_*.c)
UNIT_BINS  = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

# Fuzzing: the layer libraries instrumented for libFuzzer (clang) plus ASan+UBSan.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS  = -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
               -fno-sanitize-recover=all -Wno-format-zero-length
FUZZ_SRC     = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS    = $(FUZZ_SRC:tests/fuzz/%.c=$(B)/%)

.PHONY: all asan check unit unit-run integration install uninstall clean check-layers fuzz fuzz-build fuzz-bins
all: $(B)/triage $(B)/triaged $(TOOLS)

$(B)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(OPT_CFLAGS) -c $< -o $@

CXX ?= g++
$(B)/obj/%.o: src/%.cc
	@mkdir -p $(@D)
	$(CXX) -std=c++11 -Iinclude -Wall -Wextra -Werror -MMD -MP $(OPT_CFLAGS) -c $< -o $@

$(B)/lib/libtriage-core.a: $(core_OBJ) $(codec_OBJ) $(B)/obj/gen/stopwords_en.o
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^
$(B)/lib/libtriage-io.a: $(io_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^
$(B)/lib/libtriage-daemon.a: $(daemon_LIBOBJ) $(B)/obj/gen/status_html.o
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# The English stop-word list is compiled in, so models and the CLI never look
# for files at run time (a model stores its own copy of the list anyway).
$(B)/gen/stopwords_en.c: conf/stopwords-en.txt
	@mkdir -p $(@D)
	awk 'BEGIN { print "#include <stddef.h>"; printf "const char tok_stopwords_en[] =\n" } \
	     /^#/ || NF == 0 { next } { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); printf "    \"%s\\n\"\n", $$1 } \
	     END { print "    \"\";"; print "const size_t tok_stopwords_en_len = sizeof tok_stopwords_en - 1;" }' $< > $@

# The status page (src/daemon/status.html) is compiled in too: the admin server
# serves it from memory. Every byte outside printable ASCII, and " \ ? (no
# trigraphs), becomes an octal escape, so any UTF-8 text makes a valid C string.
$(B)/gen/status_html.c: src/daemon/status.html
	@mkdir -p $(@D)
	od -An -v -tu1 $< > $@.bytes
	awk 'BEGIN { print "#include \"status_page.h\""; printf "const char status_html[] =\n    \"" } \
	     { for (i = 1; i <= NF; i++) { c = $$i + 0; \
	         if (c == 10) printf "\\n\"\n    \""; \
	         else if (c >= 32 && c < 127 && c != 34 && c != 63 && c != 92) printf "%c", c; \
	         else printf "\\%03o", c } } \
	     END { print "\";"; print "const size_t status_html_len = sizeof status_html - 1;" }' $@.bytes > $@.tmp
	mv $@.tmp $@ && rm -f $@.bytes

$(B)/obj/gen/%.o: $(B)/gen/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -Isrc/daemon $(OPT_CFLAGS) -c $< -o $@

# The CLI needs the store (libcurl, libcrypto) and librdkafka (retrain reads the
# feedback topic) but no libuv or libmicrohttpd: linking it without them proves it.
$(B)/triage: $(cli_OBJS) $(LIB_IO) $(LIB_CORE)
	$(CC) $(OPT_CFLAGS) -o $@ $(cli_OBJS) $(LIB_IO) $(LIB_CORE) $(STORE_LIBS) $(KAFKA_LIBS) $(CORE_LIBS)

$(B)/triaged: $(DAEMON_MAIN) $(LAYER_LIBS)
	$(CC) $(OPT_CFLAGS) -o $@ $(DAEMON_MAIN) $(LAYER_LIBS) $(ALL_LIBS)

$(B)/kafka-load: $(B)/obj/tools/kafka_load.o $(LIB_CORE)
	$(CC) $(OPT_CFLAGS) -o $@ $^ $(KAFKA_LIBS) $(CORE_LIBS)

$(B)/kafka-mock: $(B)/obj/tools/kafka_mock.o $(LIB_IO) $(LIB_CORE)
	$(CC) $(OPT_CFLAGS) -o $@ $^ $(KAFKA_LIBS) $(CORE_LIBS)

# Not built by default: it compares the language detectors (scripts/bench-lang)
# and needs libexttextcat-dev, which only the benchmark uses.
$(B)/bench-lang: $(B)/obj/tools/bench_lang.o $(LIB_CORE)
	$(CC) $(OPT_CFLAGS) -o $@ $^ $$(pkg-config --libs libexttextcat) $(CORE_LIBS)

$(B)/store-cli: $(B)/obj/tools/store_cli.o $(LIB_IO) $(LIB_CORE)
	$(CC) $(OPT_CFLAGS) -o $@ $^ $(STORE_LIBS) $(CORE_LIBS)

$(B)/tests/%: tests/unit/%.c tests/unit/testutil.h $(LAYER_LIBS)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(OPT_CFLAGS) $$(pkg-config --cflags cmocka) -o $@ $< $(LAYER_LIBS) $(ALL_LIBS) $$(pkg-config --libs cmocka)

asan:
	$(MAKE) B=build/asan OPT_CFLAGS='$(ASAN_CFLAGS)' all

# The store harness reaches the listing parser through store.c's private header.
$(B)/fuzz_%: tests/fuzz/fuzz_%.c $(LAYER_LIBS)
	$(CC) $(BASE_CFLAGS) $(OPT_CFLAGS) -Isrc/io -fsanitize=fuzzer -o $@ $< $(LAYER_LIBS) $(ALL_LIBS)

fuzz-bins: $(FUZZ_BINS)

fuzz-build:
	$(MAKE) B=build/fuzz CC=clang CXX=clang++ OPT_CFLAGS='$(FUZZ_CFLAGS)' fuzz-bins

fuzz: fuzz-build
	scripts/fuzz $(FUZZ_SECONDS)

unit:
	$(MAKE) B=build/asan OPT_CFLAGS='$(ASAN_CFLAGS)' unit-run

unit-run: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do echo "== $$t"; ./$$t || fail=1; done; exit $$fail

check-layers:
	@scripts/check-layers

integration: all asan
	tests/integration/run

check: check-layers unit integration

# Binaries, man pages, the example configuration and alerting rules (docs), and
# the systemd unit with the installed binary's path in it. /etc/triage is left
# to the operator: the unit starts once /etc/triage/triaged.conf exists.
install: $(B)/triage $(B)/triaged
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR)
	install -m 755 $(B)/triage $(B)/triaged $(DESTDIR)$(BINDIR)/
	install -m 644 man/triage.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/triaged.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 conf/triaged.conf conf/triage.rules.yml README.md $(DESTDIR)$(DOCDIR)/
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' conf/triaged.service.in >$(DESTDIR)$(UNITDIR)/triaged.service
	chmod 644 $(DESTDIR)$(UNITDIR)/triaged.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/triage $(DESTDIR)$(BINDIR)/triaged $(DESTDIR)$(MANDIR)/man1/triage.1 \
	      $(DESTDIR)$(MANDIR)/man8/triaged.8 $(DESTDIR)$(UNITDIR)/triaged.service
	rm -f $(DESTDIR)$(DOCDIR)/triaged.conf $(DESTDIR)$(DOCDIR)/triage.rules.yml $(DESTDIR)$(DOCDIR)/README.md
	-rmdir $(DESTDIR)$(DOCDIR)

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
