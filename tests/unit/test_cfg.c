/* Unit tests for triaged's configuration (include/cfg.h): defaults, the file
 * syntax, value types, errors naming FILE:LINE, kafka.* passthrough, secrets
 * and the generated documentation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/cfg.h"
#include "core/tri_err.h"

/* A temporary config file holding text; path is written into out. */
static void write_tmp(char out[64], const char *text)
{
    snprintf(out, 64, "/tmp/test_d_cfg_XXXXXX");
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
}

static cfg_t *new_cfg(void)
{
    cfg_t *c = NULL;
    assert_int_equal(cfg_new(&c), 0);
    assert_non_null(c);
    return c;
}

/* Loads text as a file and expects success. */
static cfg_t *load_ok(const char *text, char path[64])
{
    cfg_t *c = new_cfg();
    char err[TRI_ERRLEN] = "";
    write_tmp(path, text);
    int rc = cfg_load_file(c, path, err, sizeof err);
    if (rc) {
        cfg_free(c);
        unlink(path);
        fail_msg("cfg_load_file = %d: %s", rc, err);
    }
    return c;
}

/* Loads text as a file and expects an error starting with "PATH:LINE: " and
 * containing each of the NULL-terminated words. Returns the code. */
static int load_err(const char *text, int line, ...)
{
    cfg_t *c = new_cfg();
    char path[64], err[TRI_ERRLEN] = "", prefix[96];
    write_tmp(path, text);
    int rc = cfg_load_file(c, path, err, sizeof err);
    unlink(path);
    cfg_free(c);
    if (rc == 0)
        fail_msg("expected an error at line %d, got none", line);
    snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
    if (strncmp(err, prefix, strlen(prefix)))
        fail_msg("error '%s' does not start with '%s'", err, prefix);
    va_list ap;
    va_start(ap, line);
    for (const char *w; (w = va_arg(ap, const char *));)
        if (!strstr(err, w))
            fail_msg("error '%s' does not mention '%s'", err, w);
    va_end(ap);
    return rc;
}

static void set_ok(cfg_t *c, const char *kv, const char *origin)
{
    char err[TRI_ERRLEN] = "";
    int rc = cfg_set_arg(c, kv, origin, err, sizeof err);
    if (rc)
        fail_msg("cfg_set_arg(%s) = %d: %s", kv, rc, err);
}

/* Expects cfg_set_arg to fail with "ORIGIN: " and mention each word. */
static void set_err(cfg_t *c, const char *kv, const char *origin, ...)
{
    char err[TRI_ERRLEN] = "", prefix[96];
    int rc = cfg_set_arg(c, kv, origin, err, sizeof err);
    if (rc == 0)
        fail_msg("cfg_set_arg(%s) succeeded, expected an error", kv);
    snprintf(prefix, sizeof prefix, "%s: ", origin);
    if (strncmp(err, prefix, strlen(prefix)))
        fail_msg("error '%s' does not start with '%s'", err, prefix);
    va_list ap;
    va_start(ap, origin);
    for (const char *w; (w = va_arg(ap, const char *));)
        if (!strstr(err, w))
            fail_msg("error '%s' does not mention '%s'", err, w);
    va_end(ap);
}

static void test_defaults(void **state)
{
    (void)state;
    cfg_t *c = new_cfg();
    assert_int_equal(cfg_int(c, "batch.size"), 500);
    assert_int_equal(cfg_int(c, "batch.linger.ms"), 20);
    assert_int_equal(cfg_int(c, "batch.workers"), 2);
    assert_int_equal(cfg_int(c, "model.poll.interval"), 30000); /* "30s" */
    assert_int_equal(cfg_int(c, "input.max.bytes"), 1048576);
    assert_int_equal(cfg_int(c, "input.max.inflight"), 20000);
    assert_int_equal(cfg_int(c, "input.commit.interval.ms"), 250);
    assert_int_equal(cfg_int(c, "output.dlq.payload.max.bytes"), 65536);
    assert_int_equal(cfg_int(c, "kafka.embedded.partitions"), 4);
    assert_string_equal(cfg_str(c, "role"), "classify");
    assert_string_equal(cfg_str(c, "input.topics"), "triage.in");
    assert_string_equal(cfg_str(c, "input.group"), "triaged");
    assert_string_equal(cfg_str(c, "input.assignment"), "roundrobin");
    assert_string_equal(cfg_str(c, "output.topic"), "triage.labeled");
    assert_string_equal(cfg_str(c, "model.source"), "");
    assert_string_equal(cfg_str(c, "log.level"), "info");
    assert_string_equal(cfg_str(c, "log.format"), "logfmt");
    assert_string_equal(cfg_str(c, "admin.listen"), "127.0.0.1:9464");
    assert_string_equal(cfg_str(c, "kafka.bootstrap.servers"), "embedded");
    assert_string_equal(cfg_origin(c, "batch.size"), "default");
    assert_string_equal(cfg_origin(c, "role"), "default");
    /* No passthrough entries by default. */
    cfg_free(c);
}

static void test_file_syntax(void **state)
{
    (void)state;
    assert_int_equal(setenv("TRIAGE_TEST_MODEL", "mymodel", 1), 0);
    assert_int_equal(setenv("TRIAGE_TEST_PW", "hunter2", 1), 0);
    char path[64], origin[96];
    cfg_t *c = load_ok("# a comment\n"                              /* 1 */
                       "; another comment\n"                        /* 2 */
                       "\n"                                         /* 3 */
                       "role = all\n"                               /* 4 */
                       "   [batch]   \n"                            /* 5 */
                       "size = 250   # inline comment\n"            /* 6 */
                       "linger.ms=500ms\n"                          /* 7 */
                       "\t workers \t=\t 8\t\n"                     /* 8 */
                       "[input]\n"                                  /* 9 */
                       "topics = \"a#b, c\"    # quoted keeps '#'\n" /* 10 */
                       "text.fields = subject,body#notacomment\n"   /* 11 */
                       "max.bytes = 64KB\n"                         /* 12 */
                       "id.field = \"  spaced  \"\n"                /* 13 */
                       "  # indented comment\n"                     /* 14 */
                       "[model]\n"                                  /* 15 */
                       "poll.interval = 5m\n"                       /* 16 */
                       "name = ${TRIAGE_TEST_MODEL}\n"              /* 17 */
                       "source = /models/${TRIAGE_TEST_MODEL}.bin\n" /* 18 */
                       "[kafka]\n"                                  /* 19 */
                       "sasl.password = ${TRIAGE_TEST_PW}\r\n",     /* 20 */
                       path);
    assert_string_equal(cfg_str(c, "role"), "all");
    snprintf(origin, sizeof origin, "%s:4", path);
    assert_string_equal(cfg_origin(c, "role"), origin);
    assert_int_equal(cfg_int(c, "batch.size"), 250);
    assert_string_equal(cfg_str(c, "batch.size"), "250");
    snprintf(origin, sizeof origin, "%s:6", path);
    assert_string_equal(cfg_origin(c, "batch.size"), origin);
    assert_int_equal(cfg_int(c, "batch.linger.ms"), 500);
    assert_int_equal(cfg_int(c, "batch.workers"), 8);
    assert_string_equal(cfg_str(c, "input.topics"), "a#b, c");
    assert_string_equal(cfg_str(c, "input.text.fields"), "subject,body#notacomment");
    assert_int_equal(cfg_int(c, "input.max.bytes"), 65536);
    assert_string_equal(cfg_str(c, "input.id.field"), "  spaced  ");
    assert_int_equal(cfg_int(c, "model.poll.interval"), 300000);
    assert_string_equal(cfg_str(c, "model.name"), "mymodel");
    assert_string_equal(cfg_str(c, "model.source"), "/models/mymodel.bin");
    snprintf(origin, sizeof origin, "%s:18", path);
    assert_string_equal(cfg_origin(c, "model.source"), origin);
    /* Untouched keys keep their defaults. */
    assert_string_equal(cfg_str(c, "output.topic"), "triage.labeled");
    assert_string_equal(cfg_origin(c, "output.topic"), "default");
    cfg_free(c);
    unlink(path);
}

/* A value from the environment longer than the raw text around it. */
static void test_env_expansion_long(void **state)
{
    (void)state;
    char big[2001];
    memset(big, 'x', 2000);
    big[2000] = '\0';
    assert_int_equal(setenv("TRIAGE_TEST_BIG", big, 1), 0);
    assert_int_equal(setenv("TRIAGE_TEST_EMPTY", "", 1), 0);
    cfg_t *c = new_cfg();
    set_ok(c, "model.source=a${TRIAGE_TEST_BIG}b${TRIAGE_TEST_EMPTY}c${TRIAGE_TEST_BIG}", "--set 1");
    const char *v = cfg_str(c, "model.source");
    assert_int_equal(strlen(v), 4003);
    assert_int_equal(v[0], 'a');
    assert_int_equal(v[2001], 'b');
    assert_int_equal(v[2002], 'c');
    assert_int_equal(strspn(v + 1, "x"), 2000);
    assert_int_equal(strspn(v + 2003, "x"), 2000);
    /* Numbers may come from the environment too. */
    assert_int_equal(setenv("TRIAGE_TEST_N", "77", 1), 0);
    set_ok(c, "batch.size=${TRIAGE_TEST_N}", "--set 2");
    assert_int_equal(cfg_int(c, "batch.size"), 77);
    cfg_free(c);
}

static void test_env_unset(void **state)
{
    (void)state;
    unsetenv("TRIAGE_TEST_UNSET_123");
    assert_int_equal(load_err("[model]\n"
                              "# comment\n"
                              "name = ${TRIAGE_TEST_UNSET_123}\n",
                              3, "TRIAGE_TEST_UNSET_123", "not set", NULL),
                     TRI_EINVAL);
    cfg_t *c = new_cfg();
    set_err(c, "model.name=x${TRIAGE_TEST_UNSET_123}", "--set 4", "TRIAGE_TEST_UNSET_123", NULL);
    assert_string_equal(cfg_str(c, "model.name"), "default");
    cfg_free(c);
}

static void test_durations_and_sizes(void **state)
{
    (void)state;
    cfg_t *c = new_cfg();
    static const struct {
        const char *kv;
        const char *key;
        int64_t want;
    } cases[] = {
        {"batch.linger.ms=500ms", "batch.linger.ms", 500},
        {"batch.linger.ms=30s", "batch.linger.ms", 30000},
        {"batch.linger.ms=250", "batch.linger.ms", 250},
        {"batch.linger.ms=1.5s", "batch.linger.ms", 1500},
        {"batch.linger.ms=0", "batch.linger.ms", 0},
        {"model.poll.interval=5m", "model.poll.interval", 300000},
        {"model.poll.interval=1h", "model.poll.interval", 3600000},
        {"model.poll.interval=1d", "model.poll.interval", 86400000},
        {"model.poll.interval=30s", "model.poll.interval", 30000},
        {"input.max.bytes=64KB", "input.max.bytes", 65536},
        {"input.max.bytes=1MB", "input.max.bytes", 1048576},
        {"input.max.bytes=2048", "input.max.bytes", 2048},
        {"output.dlq.payload.max.bytes=0", "output.dlq.payload.max.bytes", 0},
        {"output.dlq.payload.max.bytes=16KB", "output.dlq.payload.max.bytes", 16384},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        set_ok(c, cases[i].kv, "--set 1");
        if (cfg_int(c, cases[i].key) != cases[i].want)
            fail_msg("%s: got %lld, expected %lld", cases[i].kv, (long long)cfg_int(c, cases[i].key),
                     (long long)cases[i].want);
    }
    /* Bad units and out-of-range durations/sizes are refused, value kept. */
    set_err(c, "batch.linger.ms=5 parsecs", "--set 3", "batch.linger.ms", NULL);
    set_err(c, "batch.linger.ms=2m", "--set 3", "batch.linger.ms", NULL); /* max 60000 */
    set_err(c, "batch.linger.ms=-5ms", "--set 3", "batch.linger.ms", NULL);
    set_err(c, "input.max.bytes=8", "--set 3", "input.max.bytes", NULL); /* min 16 */
    set_err(c, "input.max.bytes=1TB", "--set 3", "input.max.bytes", NULL);
    set_err(c, "model.poll.interval=50ms", "--set 3", "model.poll.interval", NULL); /* min 100 */
    assert_int_equal(cfg_int(c, "batch.linger.ms"), 0);
    assert_int_equal(cfg_int(c, "input.max.bytes"), 2048);
    assert_int_equal(cfg_int(c, "model.poll.interval"), 30000);
    cfg_free(c);
}

static void test_file_errors(void **state)
{
    (void)state;
    /* unknown key */
    assert_int_equal(load_err("# x\n[batch]\nnope = 1\n", 3, "batch.nope", NULL), TRI_EINVAL);
    assert_int_equal(load_err("frobnicate = 1\n", 1, "frobnicate", NULL), TRI_EINVAL);
    /* a near miss names the key it most likely meant */
    assert_int_equal(load_err("[input]\ntopicz = a\n", 2, "did you mean 'input.topics'", NULL), TRI_EINVAL);
    assert_int_equal(load_err("[batch]\nlinger_ms = 5\n", 2, "did you mean 'batch.linger.ms'", NULL), TRI_EINVAL);
    assert_int_equal(load_err("[model]\nlevel = info\n", 2, "did you mean 'log.level'", NULL), TRI_EINVAL);
    assert_int_equal(load_err("[model]\nrole = all\n", 2, "did you mean 'role'", NULL), TRI_EINVAL);
    assert_int_equal(load_err("[model]\nsorce = x\n", 2, "did you mean 'model.source'", NULL), TRI_EINVAL);
    /* bad integer */
    assert_int_equal(load_err("[batch]\n\nsize = 12x\n", 3, "batch.size", "12x", NULL), TRI_EINVAL);
    assert_int_equal(load_err("[batch]\nsize = 2.5\n", 2, "batch.size", NULL), TRI_EINVAL);
    assert_int_equal(load_err("[batch]\nsize =\n", 2, "batch.size", NULL), TRI_EINVAL);
    /* out of range (header: TRI_EINVAL; the module uses TRI_ERANGE) */
    int rc = load_err("[batch]\nsize = 100001\n", 2, "batch.size", "100001", NULL);
    assert_true(rc == TRI_EINVAL || rc == TRI_ERANGE);
    rc = load_err("\n\n\n[batch]\nsize = 0\n", 5, "batch.size", NULL);
    assert_true(rc == TRI_EINVAL || rc == TRI_ERANGE);
    /* bad enum */
    assert_int_equal(load_err("[log]\nformat = xml\n", 2, "log.format", "xml", "logfmt", NULL), TRI_EINVAL);
    assert_int_equal(load_err("role = Classify\n", 1, "role", "Classify", NULL), TRI_EINVAL);
    /* malformed section header */
    assert_int_equal(load_err("role = all\n[batch\nsize = 1\n", 2, NULL), TRI_EINVAL);
    assert_int_equal(load_err("[batch] size = 1\n", 1, NULL), TRI_EINVAL);
    assert_int_equal(load_err("# ok\n[]\n", 2, NULL), TRI_EINVAL);
    /* line without '=' */
    assert_int_equal(load_err("[batch]\nsize = 1\njust some words\n", 3, NULL), TRI_EINVAL);
    /* the first error stops the file; a later line is not reached */
    assert_int_equal(load_err("[batch]\nsize = x\nsize = y\n", 2, "'x'", NULL), TRI_EINVAL);
}

static void test_missing_file(void **state)
{
    (void)state;
    cfg_t *c = new_cfg();
    char err[TRI_ERRLEN] = "";
    assert_int_equal(cfg_load_file(c, "/nonexistent/dir/triaged.conf", err, sizeof err), TRI_EIO);
    assert_non_null(strstr(err, "/nonexistent/dir/triaged.conf"));
    cfg_free(c);
}

static void test_set_arg(void **state)
{
    (void)state;
    cfg_t *c = new_cfg();
    set_ok(c, "batch.size=42", "--set 1");
    assert_int_equal(cfg_int(c, "batch.size"), 42);
    assert_string_equal(cfg_origin(c, "batch.size"), "--set 1");
    set_err(c, "batch.size=abc", "--set 2", "batch.size", "abc", NULL);
    set_err(c, "batch.nope=1", "--set 2", "batch.nope", NULL);
    set_err(c, "log.level=loud", "--set 2", "log.level", "loud", NULL);
    set_err(c, "batch.workers=65", "--set 2", "batch.workers", NULL);
    set_err(c, "no equals sign", "--set 2", NULL);
    set_err(c, "=5", "--set 2", NULL);
    /* The failed --set changed nothing. */
    assert_int_equal(cfg_int(c, "batch.size"), 42);
    assert_string_equal(cfg_origin(c, "batch.size"), "--set 1");
    assert_string_equal(cfg_str(c, "log.level"), "info");
    assert_int_equal(cfg_int(c, "batch.workers"), 2);
    /* '=' inside the value belongs to the value. */
    set_ok(c, "model.source=/a=b", "--set 3");
    assert_string_equal(cfg_str(c, "model.source"), "/a=b");
    cfg_free(c);
}

static void test_later_overrides(void **state)
{
    (void)state;
    char path[64], origin[96];
    cfg_t *c = load_ok("[batch]\n"
                       "size = 100\n"
                       "size = 200\n"
                       "[kafka]\n"
                       "linger.ms = 1\n"
                       "linger.ms = 2\n",
                       path);
    assert_int_equal(cfg_int(c, "batch.size"), 200);
    snprintf(origin, sizeof origin, "%s:3", path);
    assert_string_equal(cfg_origin(c, "batch.size"), origin);
    /* --set after the file wins. */
    set_ok(c, "batch.size=300", "--set 1");
    assert_int_equal(cfg_int(c, "batch.size"), 300);
    assert_string_equal(cfg_origin(c, "batch.size"), "--set 1");
    /* A second file loaded later wins too. */
    char path2[64];
    write_tmp(path2, "[batch]\nsize = 400\n");
    char err[TRI_ERRLEN];
    assert_int_equal(cfg_load_file(c, path2, err, sizeof err), 0);
    assert_int_equal(cfg_int(c, "batch.size"), 400);
    unlink(path2);
    cfg_free(c);
    unlink(path);
}

typedef struct seen {
    int n;
    char key[16][64], value[16][64], origin[16][96];
    int stop_at; /* return 42 at this call (1-based), 0 never */
} seen_t;

static int collect(const char *key, const char *value, const char *origin, void *ctx)
{
    seen_t *s = ctx;
    assert_true(s->n < 16);
    snprintf(s->key[s->n], 64, "%s", key);
    snprintf(s->value[s->n], 64, "%s", value);
    snprintf(s->origin[s->n], 96, "%s", origin);
    s->n++;
    return s->n == s->stop_at ? 42 : 0;
}

/* Index of key among the collected entries, or -1. */
static int seen_find(const seen_t *s, const char *key)
{
    int at = -1;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->key[i], key)) {
            assert_int_equal(at, -1); /* at most once */
            at = i;
        }
    return at;
}

static void test_kafka_passthrough(void **state)
{
    (void)state;
    char path[64], o[96];
    cfg_t *c = load_ok("[kafka]\n"                          /* 1 */
                       "security.protocol = SASL_SSL\n"     /* 2 */
                       "consumer.fetch.max.bytes = 1000\n" /* 3 */
                       "producer.linger.ms = 5\n"           /* 4 */
                       "embedded.partitions = 7\n"          /* 5 */
                       "[kafka.consumer]\n"                 /* 6 */
                       "session.timeout.ms = 45000\n",      /* 7 */
                       path);
    set_ok(c, "kafka.producer.compression.type=zstd", "--set 1");
    set_ok(c, "kafka.socket.keepalive.enable=true", "--set 2");
    /* A table key under kafka. is a table key, not a passthrough. */
    assert_int_equal(cfg_int(c, "kafka.embedded.partitions"), 7);

    seen_t s;
    memset(&s, 0, sizeof s);
    assert_int_equal(cfg_each_kafka(c, "consumer", collect, &s), 0);
    assert_int_equal(s.n, 4);
    int i = seen_find(&s, "security.protocol");
    assert_true(i >= 0);
    assert_string_equal(s.value[i], "SASL_SSL");
    snprintf(o, sizeof o, "%s:2", path);
    assert_string_equal(s.origin[i], o);
    i = seen_find(&s, "fetch.max.bytes");
    assert_true(i >= 0);
    assert_string_equal(s.value[i], "1000");
    snprintf(o, sizeof o, "%s:3", path);
    assert_string_equal(s.origin[i], o);
    i = seen_find(&s, "session.timeout.ms");
    assert_true(i >= 0);
    assert_string_equal(s.value[i], "45000");
    snprintf(o, sizeof o, "%s:7", path);
    assert_string_equal(s.origin[i], o);
    i = seen_find(&s, "socket.keepalive.enable");
    assert_true(i >= 0);
    assert_string_equal(s.value[i], "true");
    assert_string_equal(s.origin[i], "--set 2");
    assert_int_equal(seen_find(&s, "linger.ms"), -1);
    assert_int_equal(seen_find(&s, "compression.type"), -1);
    assert_int_equal(seen_find(&s, "embedded.partitions"), -1);
    for (int k = 0; k < s.n; k++) /* no prefix left on any key */
        assert_null(strstr(s.key[k], "kafka."));

    memset(&s, 0, sizeof s);
    assert_int_equal(cfg_each_kafka(c, "producer", collect, &s), 0);
    assert_int_equal(s.n, 4);
    i = seen_find(&s, "linger.ms");
    assert_true(i >= 0);
    assert_string_equal(s.value[i], "5");
    snprintf(o, sizeof o, "%s:4", path);
    assert_string_equal(s.origin[i], o);
    i = seen_find(&s, "compression.type");
    assert_true(i >= 0);
    assert_string_equal(s.value[i], "zstd");
    assert_string_equal(s.origin[i], "--set 1");
    assert_true(seen_find(&s, "security.protocol") >= 0);
    assert_true(seen_find(&s, "socket.keepalive.enable") >= 0);
    assert_int_equal(seen_find(&s, "fetch.max.bytes"), -1);
    assert_int_equal(seen_find(&s, "session.timeout.ms"), -1);

    /* A nonzero callback result stops the walk and is returned. */
    memset(&s, 0, sizeof s);
    s.stop_at = 2;
    assert_int_equal(cfg_each_kafka(c, "consumer", collect, &s), 42);
    assert_int_equal(s.n, 2);

    /* Overriding a passthrough key replaces it (one entry, last value). */
    set_ok(c, "kafka.security.protocol=SSL", "--set 9");
    memset(&s, 0, sizeof s);
    assert_int_equal(cfg_each_kafka(c, "consumer", collect, &s), 0);
    assert_int_equal(s.n, 4);
    i = seen_find(&s, "security.protocol");
    assert_true(i >= 0);
    assert_string_equal(s.value[i], "SSL");
    assert_string_equal(s.origin[i], "--set 9");
    cfg_free(c);
    unlink(path);
}

static void test_kafka_owned_refused(void **state)
{
    (void)state;
    cfg_t *c = new_cfg();
    set_err(c, "kafka.group.id=g", "--set 1", "kafka.group.id", "input.group", NULL);
    set_err(c, "kafka.consumer.group.id=g", "--set 1", "kafka.consumer.group.id", "input.group", NULL);
    set_err(c, "kafka.enable.auto.offset.store=true", "--set 2", "kafka.enable.auto.offset.store", NULL);
    set_err(c, "kafka.enable.auto.commit=true", "--set 2", "kafka.enable.auto.commit", "input.commit.interval.ms",
            NULL);
    set_err(c, "kafka.consumer.auto.commit.interval.ms=5", "--set 2", "kafka.consumer.auto.commit.interval.ms",
            "input.commit.interval.ms", NULL);
    set_err(c, "kafka.consumer.enable.idempotence=false", "--set 3", "kafka.consumer.enable.idempotence", NULL);
    set_err(c, "kafka.producer.enable.idempotence=false", "--set 3", "kafka.producer.enable.idempotence", NULL);
    set_err(c, "kafka.partition.assignment.strategy=range", "--set 3", "kafka.partition.assignment.strategy",
            "input.assignment", NULL);
    set_err(c, "kafka.consumer.=x", "--set 4", NULL);
    /* None of them was stored. */
    seen_t s;
    memset(&s, 0, sizeof s);
    assert_int_equal(cfg_each_kafka(c, "consumer", collect, &s), 0);
    assert_int_equal(cfg_each_kafka(c, "producer", collect, &s), 0);
    assert_int_equal(s.n, 0);
    cfg_free(c);
    /* In a file, with FILE:LINE. */
    assert_int_equal(load_err("[kafka]\n# c\ngroup.id = mine\n", 3, "kafka.group.id", "input.group", NULL),
                     TRI_EINVAL);
    assert_int_equal(load_err("[kafka.consumer]\nenable.idempotence = true\n", 2,
                              "kafka.consumer.enable.idempotence", NULL),
                     TRI_EINVAL);
}

static void test_is_secret(void **state)
{
    (void)state;
    assert_true(cfg_is_secret("sasl.password"));
    assert_true(cfg_is_secret("ssl.key.password"));
    assert_true(cfg_is_secret("foo.secret"));
    assert_true(cfg_is_secret("kafka.sasl.password"));
    assert_true(cfg_is_secret("kafka.consumer.ssl.keystore.password"));
    assert_true(cfg_is_secret("sasl.oauthbearer.client.secret"));
    assert_true(cfg_is_secret("sasl.oauthbearer.config"));
    assert_false(cfg_is_secret("sasl.username"));
    assert_false(cfg_is_secret("batch.size"));
    assert_false(cfg_is_secret("security.protocol"));
    assert_false(cfg_is_secret("kafka.bootstrap.servers"));
    assert_false(cfg_is_secret(""));
}

/* Captures a writer's output. */
static char *capture_effective(const cfg_t *c)
{
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    assert_non_null(f);
    cfg_write_effective(c, f);
    fclose(f);
    return p;
}

static char *capture_doc(void)
{
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    assert_non_null(f);
    cfg_write_doc(f);
    fclose(f);
    return p;
}

/* Whether text has a line starting with prefix. */
static int has_line_prefix(const char *text, const char *prefix)
{
    size_t pl = strlen(prefix);
    for (const char *l = text; l && *l;) {
        if (!strncmp(l, prefix, pl))
            return 1;
        l = strchr(l, '\n');
        if (l)
            l++;
    }
    return 0;
}

static void test_write_effective_redacts(void **state)
{
    (void)state;
    assert_int_equal(setenv("TRIAGE_TEST_PW", "hunter2", 1), 0);
    char path[64];
    cfg_t *c = load_ok("[kafka]\n"
                       "sasl.username = alice\n"
                       "sasl.password = ${TRIAGE_TEST_PW}\n"
                       "consumer.ssl.key.password = kp-s3cr3t\n"
                       "[batch]\n"
                       "size = 123\n",
                       path);
    set_ok(c, "kafka.producer.sasl.oauthbearer.client.secret=tok-XYZZY", "--set 1");
    char *out = capture_effective(c);
    assert_non_null(out);
    assert_null(strstr(out, "hunter2"));
    assert_null(strstr(out, "kp-s3cr3t"));
    assert_null(strstr(out, "tok-XYZZY"));
    /* The secret keys are listed, just not their values. */
    assert_true(has_line_prefix(out, "kafka.sasl.password = "));
    assert_true(has_line_prefix(out, "kafka.consumer.ssl.key.password = "));
    assert_true(has_line_prefix(out, "kafka.producer.sasl.oauthbearer.client.secret = "));
    /* Other values are shown. */
    assert_true(has_line_prefix(out, "kafka.sasl.username = alice"));
    assert_true(has_line_prefix(out, "batch.size = 123"));
    assert_true(has_line_prefix(out, "batch.linger.ms = 20"));
    assert_true(has_line_prefix(out, "role = classify"));
    free(out);
    cfg_free(c);
    unlink(path);
}

static void test_write_doc(void **state)
{
    (void)state;
    char *doc = capture_doc();
    assert_non_null(doc);
    assert_non_null(strstr(doc, "[model]\n"));
    assert_non_null(strstr(doc, "[batch]\n"));
    assert_non_null(strstr(doc, "[input]\n"));
    assert_true(has_line_prefix(doc, "#size = 500"));
    assert_true(has_line_prefix(doc, "#linger.ms = 20"));
    assert_true(has_line_prefix(doc, "#topics = triage.in"));
    assert_true(has_line_prefix(doc, "#poll.interval = 30s"));

    /* Full key names documented: the [section] in force plus the name of
     * each "#name = value" line. */
    int have_batch_size = 0, have_input_topics = 0, have_model_source = 0, have_role = 0;
    char section[64] = "";
    /* The doc with "#key = value" lines uncommented. */
    char *conf = malloc(strlen(doc) + 1);
    assert_non_null(conf);
    size_t cn = 0;
    for (const char *l = doc; *l;) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) : strlen(l);
        const char *src = l;
        if (l[0] == '[') {
            const char *rb = memchr(l, ']', len);
            assert_non_null(rb);
            snprintf(section, sizeof section, "%.*s", (int)(rb - l - 1), l + 1);
        } else if (l[0] == '#' && len > 1 && ((l[1] >= 'a' && l[1] <= 'z') || (l[1] >= 'A' && l[1] <= 'Z'))) {
            const char *eq = memchr(l, '=', len);
            assert_non_null(eq);
            char full[160];
            size_t nl = (size_t)(eq - l - 1);
            while (nl && l[nl] == ' ')
                nl--;
            if (section[0])
                snprintf(full, sizeof full, "%s.%.*s", section, (int)nl, l + 1);
            else
                snprintf(full, sizeof full, "%.*s", (int)nl, l + 1);
            have_batch_size |= !strcmp(full, "batch.size");
            have_input_topics |= !strcmp(full, "input.topics");
            have_model_source |= !strcmp(full, "model.source");
            have_role |= !strcmp(full, "role");
            src++;
            len--;
        }
        memcpy(conf + cn, src, len);
        cn += len;
        conf[cn++] = '\n';
        l += (size_t)(src - l) + len + (e ? 1 : 0);
    }
    conf[cn] = '\0';
    assert_true(have_batch_size);
    assert_true(have_input_topics);
    assert_true(have_model_source);
    assert_true(have_role);

    /* The uncommented doc loads, sets every table key and changes no value. */
    char path[64];
    cfg_t *c = load_ok(conf, path);
    cfg_t *d = new_cfg();
    /* The one key the shipped example sets (the model scripts/demo trains). */
    assert_string_equal(cfg_str(c, "model.source"), "out/demo/model.tmodel");
    set_ok(d, "model.source=out/demo/model.tmodel", "test");
    char *eff = capture_effective(c), *deff = capture_effective(d);
    /* Every table key came from the file: no "# default" origin left. */
    if (strstr(eff, "# default\n"))
        fail_msg("the doc does not set every key:\n%s", eff);
    /* Same values as the defaults, line by line (origins aside). */
    const char *a = eff, *b = deff;
    int lines = 0;
    while (*a && *b) {
        const char *ha = strstr(a, "    # "), *hb = strstr(b, "    # ");
        assert_non_null(ha);
        assert_non_null(hb);
        if (ha - a != hb - b || strncmp(a, b, (size_t)(ha - a)))
            fail_msg("doc value differs from default: '%.*s' vs '%.*s'", (int)(ha - a), a, (int)(hb - b), b);
        a = strchr(ha, '\n');
        b = strchr(hb, '\n');
        assert_non_null(a);
        assert_non_null(b);
        a++;
        b++;
        lines++;
    }
    assert_int_equal(*a, '\0');
    assert_int_equal(*b, '\0');
    assert_true(lines >= 28);
    assert_int_equal(cfg_int(c, "batch.size"), 500);
    assert_int_equal(cfg_int(c, "model.poll.interval"), 30000);
    free(eff);
    free(deff);
    cfg_free(c);
    cfg_free(d);
    unlink(path);
    free(conf);
    free(doc);
}

/* A comment after a quoted value may itself contain a quote. */
static void test_quoted_value_then_comment_with_quote(void **state)
{
    (void)state;
    char path[64];
    cfg_t *c = load_ok("[input]\n"
                       "topics = \"a#b\"   # the \"main\" topic\n",
                       path);
    assert_string_equal(cfg_str(c, "input.topics"), "a#b");
    cfg_free(c);
    unlink(path);
}

/* A NUL byte inside a line used to end the value there ("size = 50\0 00" read
 * as 50): the line is refused, naming FILE:LINE. */
static void test_nul_byte_refused(void **state)
{
    (void)state;
    static const char text[] = "[batch]\nsize = 50\0 00\n";
    cfg_t *c = new_cfg();
    char path[64], err[TRI_ERRLEN] = "", prefix[96];
    snprintf(path, sizeof path, "/tmp/test_d_cfg_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    int rc = cfg_load_file(c, path, err, sizeof err);
    unlink(path);
    cfg_free(c);
    assert_int_equal(rc, TRI_EINVAL);
    snprintf(prefix, sizeof prefix, "%s:2: ", path);
    if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, "NUL"))
        fail_msg("error '%s' does not start with '%s' and name the NUL byte", err, prefix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_syntax),
        cmocka_unit_test(test_env_expansion_long),
        cmocka_unit_test(test_env_unset),
        cmocka_unit_test(test_durations_and_sizes),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_set_arg),
        cmocka_unit_test(test_later_overrides),
        cmocka_unit_test(test_kafka_passthrough),
        cmocka_unit_test(test_kafka_owned_refused),
        cmocka_unit_test(test_is_secret),
        cmocka_unit_test(test_write_effective_redacts),
        cmocka_unit_test(test_write_doc),
        cmocka_unit_test(test_quoted_value_then_comment_with_quote),
        cmocka_unit_test(test_nul_byte_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
