/* Unit tests for hashed n-gram features (include/feat.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/feat.h"
#include "core/tok.h"
#include "core/tri_err.h"

static feat_config_t cfg(uint32_t nmin, uint32_t nmax, uint32_t bits, uint64_t seed, uint32_t mode)
{
    feat_config_t c;
    memset(&c, 0, sizeof c);
    c.ngram_min = nmin;
    c.ngram_max = nmax;
    c.bits = bits;
    c.seed = seed;
    c.mode = mode;
    return c;
}

/* Builds a token list from strings (as the tokenizer would have produced). */
static void make_list(tok_list_t *l, const char *const *toks, size_t n)
{
    buf_reset(&l->text);
    l->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 8;
            l->v = realloc(l->v, l->cap * sizeof *l->v);
            assert_non_null(l->v);
        }
        size_t off = l->text.len, len = strlen(toks[i]);
        buf_append(&l->text, toks[i], len);
        l->v[l->n++] = (tok_span_t){(uint32_t)off, (uint32_t)len, TOK_WORD};
    }
    assert_false(l->text.oom);
}

static uint32_t bucket(const feat_config_t *c, const char *const *toks, size_t n)
{
    return feat_bucket_of(c, toks, n);
}

#define B(c, ...) bucket((c), (const char *const[]){__VA_ARGS__}, sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* Golden values: computed once with this implementation (FEAT_HASH_VERSION 1).
 * If one of these changes, the hash changed: every stored model is invalid, so
 * FEAT_HASH_VERSION must be bumped (and these values updated with it). */
static void test_golden_buckets(void **state)
{
    (void)state;
    assert_int_equal(FEAT_HASH_VERSION, 1);
    feat_config_t c = cfg(1, 5, 22, 1, FEAT_PRESENCE);
    assert_int_equal(B(&c, "hello"), 2311307);
    assert_int_equal(B(&c, "hello", "world"), 3822854);
    assert_int_equal(B(&c, "world", "hello"), 1847168);
    assert_int_equal(B(&c, "the", "flight", "was"), 2434444);
    assert_int_equal(B(&c, "<url>"), 899064);
    assert_int_equal(B(&c, "@united"), 2512929);
    assert_int_equal(B(&c, "a", "b", "c", "d", "e"), 3719001);
    assert_int_equal(B(&c, "\xC3\xA9" "cole"), 3631509);
    assert_int_equal(B(&c, "a", "b"), 970690);
    assert_int_equal(B(&c, "b", "a"), 758555);
    /* The token hash is XXH3-64 with the configured seed. */
    assert_true(feat_token_hash(&c, "hello", 5) == 0x74b07ed397a89e92ULL);
    assert_true(feat_token_hash(&c, "hello", 5) == XXH3_64bits_withSeed("hello", 5, 1));
    assert_true(feat_token_hash(&c, "", 0) == 0x4dc5b0cc826f6703ULL);
    /* The seed matters. */
    c.seed = 2;
    assert_int_equal(B(&c, "hello"), 3921646);
    /* Fewer bits keep the low bits of the same hash. */
    c.seed = 1;
    c.bits = 8;
    assert_int_equal(B(&c, "hello", "world"), 3822854 & 0xFF);
    c.bits = 30;
    assert_int_equal(B(&c, "hello", "world") & ((1u << 22) - 1), 3822854);
}

static void test_stable_across_calls(void **state)
{
    (void)state;
    feat_config_t c = cfg(1, 3, 22, 1, FEAT_COUNTS);
    uint32_t first = B(&c, "late", "again");
    for (int i = 0; i < 100; i++)
        assert_int_equal(B(&c, "late", "again"), first);
    /* Different n: a token and a 1-token n-gram of itself repeated differ. */
    assert_int_not_equal(B(&c, "a", "a"), B(&c, "a"));
    /* feat_extract and feat_bucket_of agree. */
    tok_list_t l = {0};
    feat_vec_t v = {0};
    make_list(&l, (const char *const[]){"late", "again"}, 2);
    assert_int_equal(feat_extract(&c, &l, &v, 0), 0);
    assert_int_equal(v.n, 3);
    assert_int_equal(v.id[0], B(&c, "late"));
    assert_int_equal(v.id[1], first);
    assert_int_equal(v.id[2], B(&c, "again"));
    feat_vec_free(&v);
    tok_list_free(&l);
}

static void test_order_sensitive(void **state)
{
    (void)state;
    feat_config_t c = cfg(1, 3, 22, 1, FEAT_PRESENCE);
    assert_int_not_equal(B(&c, "a", "b"), B(&c, "b", "a"));
    assert_int_not_equal(B(&c, "not", "good"), B(&c, "good", "not"));
    assert_int_not_equal(B(&c, "x", "y", "z"), B(&c, "z", "y", "x"));
    assert_int_not_equal(B(&c, "x", "y", "z"), B(&c, "y", "x", "z"));
    /* Token boundaries matter: "ab" "c" is not "a" "bc". */
    assert_int_not_equal(B(&c, "ab", "c"), B(&c, "a", "bc"));
}

static void test_presence_vs_counts(void **state)
{
    (void)state;
    tok_list_t l = {0};
    feat_vec_t v = {0};
    make_list(&l, (const char *const[]){"late", "late", "late", "again"}, 4);

    feat_config_t c = cfg(1, 1, 22, 1, FEAT_COUNTS);
    uint32_t late = B(&c, "late"), again = B(&c, "again");
    assert_int_equal(feat_extract(&c, &l, &v, 1), 0);
    assert_int_equal(v.n, 4);
    assert_int_equal(v.id[0], late);
    assert_int_equal(v.id[1], late);
    assert_int_equal(v.id[2], late);
    assert_int_equal(v.id[3], again);
    assert_int_equal(v.pos[3], 3);

    c.mode = FEAT_PRESENCE;
    assert_int_equal(feat_extract(&c, &l, &v, 1), 0);
    assert_int_equal(v.n, 2);
    assert_int_equal(v.id[0], late);
    assert_int_equal(v.pos[0], 0); /* first occurrence kept */
    assert_int_equal(v.id[1], again);
    assert_int_equal(v.pos[1], 3);

    /* Bigrams too: "late late" occurs twice. */
    c = cfg(2, 2, 22, 1, FEAT_PRESENCE);
    assert_int_equal(feat_extract(&c, &l, &v, 0), 0);
    assert_int_equal(v.n, 2);
    assert_int_equal(v.id[0], B(&c, "late", "late"));
    assert_int_equal(v.id[1], B(&c, "late", "again"));
    c.mode = FEAT_COUNTS;
    assert_int_equal(feat_extract(&c, &l, &v, 0), 0);
    assert_int_equal(v.n, 3);

    /* The presence set is cleared between calls (generation stamps). */
    c.mode = FEAT_PRESENCE;
    c.ngram_min = c.ngram_max = 1;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(feat_extract(&c, &l, &v, 0), 0);
        assert_int_equal(v.n, 2);
    }
    feat_vec_free(&v);
    tok_list_free(&l);
}

static void test_ngram_counts(void **state)
{
    (void)state;
    tok_list_t l = {0};
    feat_vec_t v = {0};
    const char *const toks[] = {"my", "flight", "was", "delayed", "again"};
    make_list(&l, toks, 5);
    feat_config_t c = cfg(1, 3, 22, 1, FEAT_COUNTS);
    assert_int_equal(feat_extract(&c, &l, &v, 1), 0);
    assert_int_equal(v.n, 5 + 4 + 3);
    /* Order: for each start position, n from min to max. */
    size_t k = 0;
    for (uint32_t i = 0; i < 5; i++)
        for (uint32_t n = 1; n <= 3 && i + n <= 5; n++, k++) {
            assert_int_equal(v.pos[k], i);
            assert_int_equal(v.nlen[k], n);
            assert_int_equal(v.id[k], bucket(&c, toks + i, n));
        }
    /* Names of the n-grams. */
    buf_t b = BUF_INIT;
    feat_ngram_text(&l, 1, 3, &b);
    assert_string_equal(buf_cstr(&b), "flight was delayed");
    buf_reset(&b);
    feat_ngram_text(&l, 4, 3, &b); /* clipped at the end */
    assert_string_equal(buf_cstr(&b), "again");
    buf_free(&b);

    c = cfg(2, 5, 22, 1, FEAT_COUNTS);
    assert_int_equal(feat_extract(&c, &l, &v, 0), 0);
    assert_int_equal(v.n, 4 + 3 + 2 + 1);
    c = cfg(5, 5, 22, 1, FEAT_COUNTS);
    assert_int_equal(feat_extract(&c, &l, &v, 0), 0);
    assert_int_equal(v.n, 1);
    assert_int_equal(v.id[0], bucket(&c, toks, 5));
    c = cfg(1, 1, 22, 1, FEAT_COUNTS);
    make_list(&l, toks, 0);
    assert_int_equal(feat_extract(&c, &l, &v, 0), 0);
    assert_int_equal(v.n, 0);

    /* Many tokens: buffers grow; every bucket is below 2^bits. */
    const char *words[] = {"a", "b", "c", "d", "e", "f", "g"};
    const char *many[3000];
    for (int i = 0; i < 3000; i++)
        many[i] = words[(i * 7 + i / 7) % 7];
    make_list(&l, many, 3000);
    c = cfg(1, 4, 8, 99, FEAT_COUNTS);
    assert_int_equal(feat_extract(&c, &l, &v, 1), 0);
    assert_int_equal(v.n, 3000 + 2999 + 2998 + 2997);
    for (size_t i = 0; i < v.n; i++)
        assert_true(v.id[i] < 256);
    c.mode = FEAT_PRESENCE;
    assert_int_equal(feat_extract(&c, &l, &v, 0), 0);
    assert_true(v.n <= 256);
    for (size_t i = 0; i < v.n; i++)
        for (size_t j = i + 1; j < v.n; j++)
            assert_int_not_equal(v.id[i], v.id[j]);
    feat_vec_free(&v);
    tok_list_free(&l);
}

static void test_config_check(void **state)
{
    (void)state;
    char err[TRI_ERRLEN];
    feat_config_t good[] = {
        cfg(1, 1, 22, 1, FEAT_PRESENCE),
        cfg(1, FEAT_MAX_NGRAM, FEAT_MIN_BITS, 0, FEAT_COUNTS),
        cfg(FEAT_MAX_NGRAM, FEAT_MAX_NGRAM, FEAT_MAX_BITS, 7, FEAT_PRESENCE),
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_int_equal(feat_config_check(&good[i], err, sizeof err), 0);
    feat_config_t bad[] = {
        cfg(0, 1, 22, 1, FEAT_PRESENCE),                      /* min 0 */
        cfg(2, 1, 22, 1, FEAT_PRESENCE),                      /* min > max */
        cfg(1, FEAT_MAX_NGRAM + 1, 22, 1, FEAT_PRESENCE),     /* max too big */
        cfg(0, 0, 22, 1, FEAT_PRESENCE),
        cfg(1, 2, FEAT_MIN_BITS - 1, 1, FEAT_PRESENCE),       /* bits too small */
        cfg(1, 2, FEAT_MAX_BITS + 1, 1, FEAT_PRESENCE),       /* bits too big */
        cfg(1, 2, 0, 1, FEAT_PRESENCE),
        cfg(1, 2, 64, 1, FEAT_PRESENCE),
        cfg(1, 2, 22, 1, 3),                                  /* unknown mode */
        cfg(UINT32_MAX, UINT32_MAX, 22, 1, FEAT_PRESENCE),
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        assert_int_equal(feat_config_check(&bad[i], err, sizeof err), TRI_EINVAL);
        assert_true(strlen(err) > 0);
    }
    /* The message names the bad range. */
    feat_config_t c = cfg(3, 2, 22, 1, FEAT_PRESENCE);
    feat_config_check(&c, err, sizeof err);
    assert_non_null(strstr(err, "3-2"));
    c = cfg(1, 2, 31, 1, FEAT_PRESENCE);
    feat_config_check(&c, err, sizeof err);
    assert_non_null(strstr(err, "31"));
}

/* Feature extraction over real tokenizer output. */
static void test_with_tokenizer(void **state)
{
    (void)state;
    tok_config_t tc;
    memset(&tc, 0, sizeof tc);
    tok_t *t;
    char err[TRI_ERRLEN];
    assert_int_equal(tok_new(&tc, &t, err, sizeof err), 0);
    tok_list_t l = {0};
    feat_vec_t v = {0};
    const char *text = "Flight LATE again :( @United";
    assert_int_equal(tok_run(t, text, strlen(text), &l), 0);
    feat_config_t c = cfg(1, 2, 22, 1, FEAT_COUNTS);
    assert_int_equal(feat_extract(&c, &l, &v, 0), 0);
    assert_int_equal(v.n, 5 + 4);
    assert_int_equal(v.id[0], B(&c, "flight"));
    assert_int_equal(v.id[1], B(&c, "flight", "late"));
    assert_int_equal(v.id[6], B(&c, ":("));
    assert_int_equal(v.id[7], B(&c, ":(", "@united"));
    assert_int_equal(v.id[8], B(&c, "@united"));
    feat_vec_free(&v);
    tok_list_free(&l);
    tok_free(t);
}

/* A feat_vec_t is reused across calls, and want_pos is per call: a vector
 * first filled without positions must still get them when asked (training
 * names features this way). Kept last: the bug it was written for crashes. */
static void test_reuse_then_want_pos(void **state)
{
    (void)state;
    tok_list_t l = {0};
    feat_vec_t v = {0};
    make_list(&l, (const char *const[]){"late", "again", "late"}, 3);
    feat_config_t c = cfg(1, 2, 22, 1, FEAT_COUNTS);
    assert_int_equal(feat_extract(&c, &l, &v, 0), 0);
    assert_int_equal(v.n, 5);
    assert_int_equal(feat_extract(&c, &l, &v, 1), 0);
    assert_int_equal(v.n, 5);
    assert_non_null(v.pos);
    assert_non_null(v.nlen);
    assert_int_equal(v.pos[4], 2);
    assert_int_equal(v.nlen[4], 1);
    assert_int_equal(v.pos[3], 1);
    assert_int_equal(v.nlen[3], 2);
    feat_vec_free(&v);
    tok_list_free(&l);
}

/* Character n-grams within word boundaries, checked by hand: padded with a
 * space, counted in code points (UTF-8 of any length, emoji), never across
 * tokens, short tokens once. */
static int has_bucket(const feat_vec_t *v, uint32_t b, uint32_t *cnt)
{
    for (size_t k = 0; k < v->n; k++)
        if (v->id[k] == b) {
            if (cnt)
                *cnt = v->cnt[k];
            return 1;
        }
    return 0;
}

static void expect_chars(const feat_config_t *c, const char *const *toks, size_t nt, const char *const *want,
                         size_t nwant)
{
    tok_list_t l = {0};
    feat_vec_t v = {0};
    make_list(&l, toks, nt);
    assert_int_equal(feat_extract(c, &l, &v, 1), 0);
    size_t nchar = 0;
    for (size_t k = 0; k < v.n; k++)
        nchar += feat_is_char(c, v.id[k]);
    for (size_t i = 0; i < nwant; i++)
        if (!has_bucket(&v, feat_char_bucket_of(c, want[i], strlen(want[i])), NULL))
            fail_msg("character n-gram '%s' missing", want[i]);
    if (nchar != nwant)
        fail_msg("%zu character n-grams, expected %zu", nchar, nwant);
    tok_list_free(&l);
    feat_vec_free(&v);
}

static void test_char_ngrams(void **state)
{
    (void)state;
    feat_config_t c = cfg(1, 1, 22, 7, FEAT_SUBLINEAR);
    c.char_min = 2;
    c.char_max = 3;
    /* "fly": " f" "fl" "ly" "y " and " fl" "fly" "ly ". */
    expect_chars(&c, (const char *const[]){"fly"}, 1,
                 (const char *const[]){" f", "fl", "ly", "y ", " fl", "fly", "ly "}, 7);
    /* Two tokens: nothing spans them ("y b", "y  b" never appear). */
    expect_chars(&c, (const char *const[]){"fly", "by"}, 2,
                 (const char *const[]){" f", "fl", "ly", "y ", " fl", "fly", "ly ", " b", "by", " by", "by "}, 11);
    /* "é" is one code point (2 bytes): " é" "é " and " é " (3 code points = n: once). */
    expect_chars(&c, (const char *const[]){"\xC3\xA9"}, 1,
                 (const char *const[]){" \xC3\xA9", "\xC3\xA9 ", " \xC3\xA9 "}, 3);
    /* An emoji (4 bytes) likewise; "né" mixes widths. */
    expect_chars(&c, (const char *const[]){"\xF0\x9F\x98\x80", "n\xC3\xA9"}, 2,
                 (const char *const[]){" \xF0\x9F\x98\x80", "\xF0\x9F\x98\x80 ", " \xF0\x9F\x98\x80 ", " n",
                                       "n\xC3\xA9", "\xC3\xA9 ", " n\xC3\xA9", "n\xC3\xA9 "},
                 8);
    /* A padded token shorter than n gives itself once and stops: "a" with 2-5
     * is " a", "a " and " a " (no 4- or 5-gram). */
    c.char_max = 5;
    expect_chars(&c, (const char *const[]){"a"}, 1, (const char *const[]){" a", "a ", " a "}, 3);

    /* Counts in sublinear mode: "aaa" has "aa" twice. */
    c.char_max = 2;
    tok_list_t l = {0};
    feat_vec_t v = {0};
    make_list(&l, (const char *const[]){"aaa"}, 1);
    assert_int_equal(feat_extract(&c, &l, &v, 1), 0);
    uint32_t n = 0;
    assert_true(has_bucket(&v, feat_char_bucket_of(&c, "aa", 2), &n));
    assert_int_equal(n, 2);
    /* Names for inspect: padding shown as '_'. */
    for (size_t k = 0; k < v.n; k++)
        if (v.id[k] == feat_char_bucket_of(&c, " a", 2)) {
            buf_t t = BUF_INIT;
            feat_ngram_text(&l, v.pos[k], v.nlen[k], &t);
            assert_string_equal(buf_cstr(&t), "_a");
            buf_free(&t);
        }
    /* Families: words in the lower half of the buckets, characters above. */
    assert_false(feat_is_char(&c, B(&c, "aaa")));
    assert_true(feat_is_char(&c, feat_char_bucket_of(&c, "aa", 2)));
    assert_true(B(&c, "aaa") < (1u << 21));
    /* Without character n-grams word buckets use the whole space (as in
     * version 1 models). */
    feat_config_t w = cfg(1, 1, 22, 7, FEAT_PRESENCE);
    const char *toks1[] = {"aaa"};
    assert_int_equal(feat_bucket_of(&w, toks1, 1) & ((1u << 21) - 1), feat_bucket_of(&c, toks1, 1));
    tok_list_free(&l);
    feat_vec_free(&v);
    /* Ranges are checked. */
    char err[TRI_ERRLEN];
    c.char_min = 0;
    assert_int_equal(feat_config_check(&c, err, sizeof err), TRI_EINVAL);
    c.char_min = 2;
    c.char_max = FEAT_MAX_CHARGRAM + 1;
    assert_int_equal(feat_config_check(&c, err, sizeof err), TRI_EINVAL);
    c.char_max = 3;
    c.mode = FEAT_PRESENCE;
    c.idf = 1;
    assert_int_equal(feat_config_check(&c, err, sizeof err), TRI_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_buckets),
        cmocka_unit_test(test_stable_across_calls),
        cmocka_unit_test(test_order_sensitive),
        cmocka_unit_test(test_presence_vs_counts),
        cmocka_unit_test(test_ngram_counts),
        cmocka_unit_test(test_config_check),
        cmocka_unit_test(test_with_tokenizer),
        cmocka_unit_test(test_reuse_then_want_pos),
        cmocka_unit_test(test_char_ngrams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
