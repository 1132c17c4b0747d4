/* Unit tests for text preparation (include/core/prep.h): the hand-written
 * email corpus in tests/email/ (each file: "%% field NAME [crlf]" sections
 * with a record's fields, then "%% expected" with the exact prepared text),
 * plus the plain and tweet modes, the stored mode and hostile HTML. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/prep.h"
#include "core/tri_err.h"

#define CORPUS "tests/email"
#define MAXF 4

typedef struct email_case {
    char *names[MAXF];
    buf_t fields[MAXF];
    size_t nf;
    buf_t expected;
} email_case_t;

static char *slurp(const char *path, size_t *len)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf_t b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    *len = b.len;
    return (char *)buf_cstr(&b);
}

/* Parses one corpus file; section bodies lose the newline before the next
 * marker (or the end of the file). */
static int parse_case(const char *text, size_t len, email_case_t *c)
{
    memset(c, 0, sizeof *c);
    buf_t *cur = NULL;
    int crlf = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *e = memchr(text + pos, '\n', len - pos);
        size_t end = e ? (size_t)(e - text) : len;
        const char *l = text + pos;
        size_t n = end - pos;
        pos = e ? end + 1 : len;
        if (n >= 3 && !memcmp(l, "%% ", 3)) {
            if (cur && cur->len)
                cur->len -= crlf ? 2 : 1;
            crlf = 0;
            if (n >= 9 && !memcmp(l, "%% field ", 9)) {
                if (c->nf == MAXF)
                    return -1;
                char name[64];
                snprintf(name, sizeof name, "%.*s", (int)(n - 9), l + 9);
                char *sp = strchr(name, ' ');
                if (sp) {
                    crlf = !strcmp(sp + 1, "crlf");
                    *sp = '\0';
                }
                c->names[c->nf] = strdup(name);
                cur = &c->fields[c->nf++];
            } else if (n == 11 && !memcmp(l, "%% expected", 11)) {
                cur = &c->expected;
            } else {
                return -1;
            }
            continue;
        }
        if (!cur)
            return -1;
        buf_append(cur, l, n);
        buf_append(cur, crlf ? "\r\n" : "\n", crlf ? 2 : 1);
    }
    if (cur && cur->len)
        cur->len -= crlf ? 2 : 1;
    return c->nf ? 0 : -1;
}

static void free_case(email_case_t *c)
{
    for (size_t i = 0; i < c->nf; i++) {
        free(c->names[i]);
        buf_free(&c->fields[i]);
    }
    buf_free(&c->expected);
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_email_corpus(void **state)
{
    (void)state;
    DIR *d = opendir(CORPUS);
    assert_non_null(d);
    char *files[256];
    size_t nfiles = 0;
    struct dirent *de;
    while ((de = readdir(d)) && nfiles < 256)
        if (strlen(de->d_name) > 4 && !strcmp(de->d_name + strlen(de->d_name) - 4, ".txt"))
            files[nfiles++] = strdup(de->d_name);
    closedir(d);
    qsort(files, nfiles, sizeof *files, cmp_name);
    assert_true(nfiles >= 40);

    prep_t *p;
    assert_int_equal(prep_new(&p, NULL, 0), 0);
    buf_t out = BUF_INIT;
    size_t failed = 0;
    for (size_t i = 0; i < nfiles; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", CORPUS, files[i]);
        size_t len = 0;
        char *text = slurp(path, &len);
        assert_non_null(text);
        email_case_t c;
        assert_int_equal(parse_case(text, len, &c), 0);
        prep_field_t f[MAXF];
        for (size_t k = 0; k < c.nf; k++)
            f[k] = (prep_field_t){c.names[k], c.fields[k].p ? c.fields[k].p : "", c.fields[k].len};
        assert_int_equal(prep_run(p, PREP_EMAIL, f, c.nf, &out), 0);
        assert_true(valid_utf8((const unsigned char *)out.p, out.len));
        if (out.len != c.expected.len || (out.len && memcmp(out.p, c.expected.p, out.len))) {
            failed++;
            fprintf(stderr, "%s: prepared text differs\n--- got\n%.*s\n--- expected\n%.*s\n---\n", files[i],
                    (int)out.len, out.p ? out.p : "", (int)c.expected.len, c.expected.p ? c.expected.p : "");
        }
        /* Empty expected text means the record is a no_text dead letter. */
        assert_int_equal(prep_has_text(out.p, out.len), c.expected.len > 0);
        free_case(&c);
        free(text);
        free(files[i]);
    }
    fprintf(stderr, "email corpus: %zu of %zu prepared exactly\n", nfiles - failed, nfiles);
    assert_int_equal(failed, 0);
    buf_free(&out);
    prep_free(p);
}

static void test_plain_is_join(void **state)
{
    (void)state;
    prep_t *p;
    assert_int_equal(prep_new(&p, NULL, 0), 0);
    buf_t out = BUF_INIT;
    /* What models without a stored mode were trained on: the fields joined,
     * byte for byte, missing ones skipped, quotes and markup kept. */
    prep_field_t f[3] = {{"subject", "Re: hi", 6}, {"x", NULL, 0}, {"body", "> quoted\n<b>x</b> &amp;", 22}};
    assert_int_equal(prep_run(p, PREP_PLAIN, f, 3, &out), 0);
    assert_int_equal(out.len, 29);
    assert_memory_equal(out.p, "Re: hi\n> quoted\n<b>x</b> &amp;", 29);
    buf_free(&out);
    prep_free(p);
}

static void test_tweet_entities(void **state)
{
    (void)state;
    prep_t *p;
    assert_int_equal(prep_new(&p, NULL, 0), 0);
    buf_t out = BUF_INIT;
    const char *t = "@united bags &amp; seats &lt;3 &quot;great&quot; &#39;n&apos; &amp";
    prep_field_t f = {"text", t, strlen(t)};
    assert_int_equal(prep_run(p, PREP_TWEET, &f, 1, &out), 0);
    assert_string_equal(buf_cstr(&out), "@united bags & seats <3 \"great\" 'n' &amp");
    buf_free(&out);
    prep_free(p);
}

static void test_mode_names_and_meta(void **state)
{
    (void)state;
    for (int m = 0; m < PREP_NMODES; m++)
        assert_int_equal(prep_mode_parse(prep_mode_name(m)), m);
    assert_int_equal(prep_mode_parse("html"), -1);
    int mode = -1;
    char err[TRI_ERRLEN];
    json_t *meta = json_object();
    assert_int_equal(prep_mode_from_meta(meta, &mode, err, sizeof err), 0);
    assert_int_equal(mode, PREP_PLAIN);
    json_object_set_new(meta, "prep", json_pack("{s:s}", "mode", "email"));
    assert_int_equal(prep_mode_from_meta(meta, &mode, err, sizeof err), 0);
    assert_int_equal(mode, PREP_EMAIL);
    /* A mode from a newer build is a refusal, never plain text. */
    json_object_set_new(meta, "prep", json_pack("{s:s}", "mode", "markdown"));
    assert_int_equal(prep_mode_from_meta(meta, &mode, err, sizeof err), TRI_EFORMAT);
    assert_non_null(strstr(err, "markdown"));
    json_object_set_new(meta, "prep", json_pack("{s:i}", "mode", 2));
    assert_int_equal(prep_mode_from_meta(meta, &mode, err, sizeof err), TRI_EFORMAT);
    json_decref(meta);
}

static void test_hostile_html(void **state)
{
    (void)state;
    prep_t *p;
    assert_int_equal(prep_new(&p, NULL, 0), 0);
    buf_t in = BUF_INIT, out = BUF_INIT;
    /* Deep nesting, unclosed tags and a text node beyond the parse limit. */
    for (int i = 0; i < 20000; i++)
        buf_puts(&in, "<div><blockquote><b>");
    buf_puts(&in, "deep");
    for (int i = 0; i < 1000; i++)
        buf_puts(&in, "</x><table><td>&#0;&#xD800;&bogus;</table>");
    prep_field_t f = {"html", in.p, in.len};
    assert_int_equal(prep_run(p, PREP_EMAIL, &f, 1, &out), 0);
    assert_true(valid_utf8((const unsigned char *)out.p, out.len));
    /* Random bytes that are valid UTF-8 (ASCII) with markup characters. */
    uint64_t s = 42;
    for (int round = 0; round < 200; round++) {
        buf_reset(&in);
        for (int i = 0; i < 400; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            static const char alpha[] = "<>/=\"' abdiv&#;\n>-_:Onwrote";
            buf_putc(&in, alpha[(s >> 33) % (sizeof alpha - 1)]);
        }
        prep_field_t g = {round & 1 ? "html" : "body", in.p, in.len};
        assert_int_equal(prep_run(p, PREP_EMAIL, &g, 1, &out), 0);
        assert_true(valid_utf8((const unsigned char *)out.p, out.len));
    }
    buf_free(&in);
    buf_free(&out);
    prep_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email_corpus),
        cmocka_unit_test(test_plain_is_join),
        cmocka_unit_test(test_tweet_entities),
        cmocka_unit_test(test_mode_names_and_meta),
        cmocka_unit_test(test_hostile_html),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
