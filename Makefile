# triage — plain make with pkg-config.
#   make                 release build in build/
#   make asan            ASan+UBSan build in build/asan/ (what the tests use)
#   make check           unit tests (cmocka) under ASan+UBSan, then the integration tests
#   make unit            unit tests only
#   make install         PREFIX=/usr/local DESTDIR=
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR   = $(PREFIX)/bin

CC      ?= gcc
# The text core needs only these; the daemon and tools add the I/O libraries.
PKGS     = jansson libutf8proc libxxhash
DPKGS    = rdkafka libuv libcurl libmicrohttpd libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(DPKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
DPKG_LIBS  := $(shell pkg-config --libs $(DPKGS))

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -Iinclude $(WARN) $(PKG_CFLAGS)
OPT_CFLAGS  ?= -O2 -g
ASAN_CFLAGS  = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LIBS     = $(PKG_LIBS) -lstemmer -lm -lpthread

B  ?= build
# Object lists: the text core (no Kafka, no network) and the programs.
CORE_SRC = src/tri_err.c src/buf.c src/u32map.c src/tok.c src/feat.c src/model.c src/clf.c \
           src/train.c src/evalm.c src/fj.c src/rec.c src/tstamp.c src/alarm.c
# I/O edges and daemon services (librdkafka, libuv, libcurl, libmicrohttpd).
DAEMON_SRC = src/tlog.c src/cfg.c src/otrack.c src/met.c src/adm.c src/kconf.c src/kin.c src/kout.c \
             src/kmock.c src/reg.c src/pipe.c src/alr.c src/store.c
CLI_SRC  = src/triage.c src/cli_train.c src/cli_eval.c src/cli_classify.c src/cli_inspect.c src/cli_common.c \
           src/cli_store.c src/cli_alarms.c

CORE_OBJ = $(CORE_SRC:src/%.c=$(B)/obj/%.o) $(B)/obj/stopwords_en.o
CLI_OBJ  = $(CLI_SRC:src/%.c=$(B)/obj/%.o)
DAEMON_OBJ = $(DAEMON_SRC:src/%.c=$(B)/obj/%.o)
# Test and demo tools (not installed).
TOOLS    = $(B)/kafka-mock $(B)/kafka-load $(B)/store-cli

UNIT_TESTS = test_tok test_feat test_model test_train test_evalm test_fj test_tstamp test_alarm \
             $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_d_*.c))
UNIT_BINS  = $(UNIT_TESTS:%=$(B)/tests/%)

.PHONY: all asan check unit integration install uninstall clean
all: $(B)/triage $(B)/triaged $(TOOLS)

$(B)/obj/%.o: src/%.c $(wildcard include/*.h src/*.h) | $(B)/obj
	$(CC) $(BASE_CFLAGS) $(OPT_CFLAGS) -c $< -o $@

$(B)/obj $(B)/obj/tools $(B)/tests $(B)/gen:
	mkdir -p $@

$(B)/obj/tools/%.o: src/tools/%.c $(wildcard include/*.h) | $(B)/obj/tools
	$(CC) $(BASE_CFLAGS) $(OPT_CFLAGS) -c $< -o $@

$(B)/kafka-load: $(B)/obj/tools/kafka_load.o $(B)/obj/tstamp.o $(B)/obj/tri_err.o
	$(CC) $(OPT_CFLAGS) -o $@ $^ $(DPKG_LIBS) $(PKG_LIBS) -lpthread

$(B)/kafka-mock: $(B)/obj/tools/kafka_mock.o $(B)/obj/kmock.o $(B)/obj/tri_err.o
	$(CC) $(OPT_CFLAGS) -o $@ $^ $(DPKG_LIBS) -lpthread

$(B)/store-cli: $(B)/obj/tools/store_cli.o $(B)/obj/store.o $(B)/obj/tri_err.o $(B)/obj/buf.o
	$(CC) $(OPT_CFLAGS) -o $@ $^ $(DPKG_LIBS) -lpthread

# The English stop-word list is compiled in, so models and the CLI never look
# for files at run time (a model stores its own copy of the list anyway).
$(B)/gen/stopwords_en.c: conf/stopwords-en.txt | $(B)/gen
	awk 'BEGIN { print "#include <stddef.h>"; printf "const char tok_stopwords_en[] =\n" } \
	     /^#/ || NF == 0 { next } { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); printf "    \"%s\\n\"\n", $$1 } \
	     END { print "    \"\";"; print "const size_t tok_stopwords_en_len = sizeof tok_stopwords_en - 1;" }' $< > $@

$(B)/obj/stopwords_en.o: $(B)/gen/stopwords_en.c | $(B)/obj
	$(CC) $(BASE_CFLAGS) $(OPT_CFLAGS) -c $< -o $@

# The status page (src/status.html) is compiled in too: the admin server serves
# it from memory. Every byte outside printable ASCII, and " \ ? (no trigraphs),
# becomes an octal escape, so any UTF-8 text makes a valid C string.
$(B)/gen/status_html.c: src/status.html | $(B)/gen
	od -An -v -tu1 $< > $@.bytes
	awk 'BEGIN { print "#include \"status_page.h\""; printf "const char status_html[] =\n    \"" } \
	     { for (i = 1; i <= NF; i++) { c = $$i + 0; \
	         if (c == 10) printf "\\n\"\n    \""; \
	         else if (c >= 32 && c < 127 && c != 34 && c != 63 && c != 92) printf "%c", c; \
	         else printf "\\%03o", c } } \
	     END { print "\";"; print "const size_t status_html_len = sizeof status_html - 1;" }' $@.bytes > $@.tmp
	mv $@.tmp $@ && rm -f $@.bytes

$(B)/obj/status_html.o: $(B)/gen/status_html.c include/status_page.h | $(B)/obj
	$(CC) $(BASE_CFLAGS) $(OPT_CFLAGS) -c $< -o $@

$(B)/triage: $(CLI_OBJ) $(CORE_OBJ) $(B)/obj/store.o
	$(CC) $(OPT_CFLAGS) -o $@ $^ $(DPKG_LIBS) $(LIBS)

$(B)/triaged: $(B)/obj/triaged.o $(B)/obj/status_html.o $(DAEMON_OBJ) $(CORE_OBJ)
	$(CC) $(OPT_CFLAGS) -o $@ $^ $(DPKG_LIBS) $(LIBS)

$(B)/tests/%: tests/unit/%.c tests/unit/testutil.h $(CORE_OBJ) $(DAEMON_OBJ) | $(B)/tests
	$(CC) $(BASE_CFLAGS) $(OPT_CFLAGS) $$(pkg-config --cflags cmocka) -o $@ $< $(CORE_OBJ) $(DAEMON_OBJ) $(DPKG_LIBS) $(LIBS) $$(pkg-config --libs cmocka)

asan:
	$(MAKE) B=build/asan OPT_CFLAGS='$(ASAN_CFLAGS)' all

unit:
	$(MAKE) B=build/asan OPT_CFLAGS='$(ASAN_CFLAGS)' unit-run

unit-run: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do echo "== $$t"; ./$$t || fail=1; done; exit $$fail

integration: all asan
	tests/integration/run

check: unit integration

install: $(B)/triage $(B)/triaged
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(B)/triage $(B)/triaged $(DESTDIR)$(BINDIR)/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/triage $(DESTDIR)$(BINDIR)/triaged

clean:
	rm -rf build
