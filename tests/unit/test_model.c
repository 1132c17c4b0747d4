/* Unit tests for the model file format, loader and scorer (include/model.h).
 * The hostile-file tests rebuild files with a valid checksum so that the
 * loader's structural checks, not the checksum, must refuse them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/clf.h"
#include "core/model.h"
#include "core/tri_err.h"

/* ---- a small hand-built model ---- */

#define NL 3
#define NR 4
static const char *const LABELS[NL] = {"neg", "pos", "neutral"};
static const float BIAS[NL] = {-1.0f, -0.5f, -2.0f};
static const uint32_t BUCKETS[NR] = {5, 100, 1023, 37};
static const float WEIGHTS[NR * NL] = {
    0.25f, -0.75f, 1.5f,   /* bucket 5 */
    -3.0f, 2.0f, 0.125f,   /* bucket 100 */
    0.5f, 0.5f, -0.5f,     /* bucket 1023 */
    4.0f, -4.0f, 0.0f,     /* bucket 37 */
};
static const char STOP[] = "the\nand\n";
static const char META[] = "{\"trained\":\"2015-02-16\",\"n\":3}";

static model_spec_t small_spec(void)
{
    model_spec_t s;
    memset(&s, 0, sizeof s);
    snprintf(s.tok.stem, sizeof s.tok.stem, "english");
    s.tok.stopwords = STOP;
    s.tok.stopwords_len = sizeof STOP - 1;
    s.feat.ngram_min = 1;
    s.feat.ngram_max = 2;
    s.feat.bits = 10;
    s.feat.seed = 42;
    s.feat.mode = FEAT_COUNTS;
    s.temperature = 1.5f;
    s.nlabels = NL;
    s.labels = LABELS;
    s.bias = BIAS;
    s.nrows = NR;
    s.buckets = BUCKETS;
    s.weights = WEIGHTS;
    s.meta_json = META;
    return s;
}

static void write_small(buf_t *b)
{
    model_spec_t s = small_spec();
    char err[TRI_ERRLEN] = "";
    int rc = model_write(&s, b, err, sizeof err);
    if (rc)
        fail_msg("model_write: %s", err);
}

/* Loads a copy of data in an exactly-sized heap buffer (so ASan sees overreads). */
static int load_exact(const void *data, size_t len, model_t **m, char *err, size_t errlen)
{
    void *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, data, len);
    err[0] = '\0';
    *m = NULL;
    int rc = model_load_mem(copy, len, m, err, errlen);
    free(copy);
    return rc;
}

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static uint32_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static void wr32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

/* XXH64 (seed 0) of the file with bytes 24..31 zeroed, stored at 24. */
static void fix_checksum(unsigned char *f, size_t n)
{
    memset(f + 24, 0, 8);
    uint64_t h = XXH64(f, n, 0);
    wr64(f + 24, h);
}

/* ---- round trip ---- */

static void check_small_model(const model_t *m)
{
    assert_int_equal(model_nlabels(m), NL);
    for (uint32_t i = 0; i < NL; i++) {
        assert_string_equal(model_label(m, i), LABELS[i]);
        assert_int_equal(model_label_index(m, LABELS[i]), (int)i);
    }
    assert_int_equal(model_label_index(m, "nope"), -1);
    assert_string_equal(model_label(m, NL), "?");

    const feat_config_t *fc = model_feat_config(m);
    assert_int_equal(fc->ngram_min, 1);
    assert_int_equal(fc->ngram_max, 2);
    assert_int_equal(fc->bits, 10);
    assert_true(fc->seed == 42);
    assert_int_equal(fc->mode, FEAT_COUNTS);
    const tok_config_t *tc = model_tok_config(m);
    assert_string_equal(tc->stem, "english");
    assert_int_equal(tc->stopwords_len, sizeof STOP - 1);
    assert_memory_equal(tc->stopwords, STOP, sizeof STOP - 1);
    assert_true(model_temperature(m) == 1.5f);

    const float *bias = model_bias(m);
    for (uint32_t i = 0; i < NL; i++)
        assert_true(bias[i] == BIAS[i]);
    assert_int_equal(model_nrows(m), NR);
    /* Every row once, with its bucket and weights (in any row order). */
    int seen[NR] = {0};
    for (uint32_t r = 0; r < NR; r++) {
        uint32_t b = UINT32_MAX;
        float w[NL];
        assert_int_equal(model_row(m, r, &b, w), 0);
        int k = -1;
        for (int j = 0; j < NR; j++)
            if (BUCKETS[j] == b)
                k = j;
        assert_true(k >= 0);
        assert_false(seen[k]);
        seen[k] = 1;
        for (uint32_t c = 0; c < NL; c++)
            assert_true(w[c] == WEIGHTS[k * NL + c]);
    }
    assert_int_equal(model_row(m, NR, NULL, NULL), -1);

    json_t *meta = model_meta(m);
    assert_true(json_is_object(meta));
    assert_string_equal(json_string_value(json_object_get(meta, "trained")), "2015-02-16");
    assert_int_equal(json_integer_value(json_object_get(meta, "n")), 3);

    /* Scores: bias + sum of the rows of known ids; repeats count each time. */
    const uint32_t ids[] = {5, 1023, 999, 5, 0};
    float sc[NL];
    uint32_t known = 99;
    model_score(m, ids, 5, sc, &known);
    assert_int_equal(known, 3);
    assert_true(fabsf(sc[0] - (-1.0f + 0.25f * 2 + 0.5f)) < 1e-6f);
    assert_true(fabsf(sc[1] - (-0.5f - 0.75f * 2 + 0.5f)) < 1e-6f);
    assert_true(fabsf(sc[2] - (-2.0f + 1.5f * 2 - 0.5f)) < 1e-6f);
    model_score(m, ids + 2, 1, sc, &known);
    assert_int_equal(known, 0);
    for (uint32_t c = 0; c < NL; c++)
        assert_true(sc[c] == BIAS[c]);
    const uint32_t all[] = {5, 100, 1023, 37};
    model_score(m, all, 4, sc, NULL);
    assert_true(fabsf(sc[0] - (-1.0f + 0.25f - 3.0f + 0.5f + 4.0f)) < 1e-6f);
    assert_true(fabsf(sc[1] - (-0.5f - 0.75f + 2.0f + 0.5f - 4.0f)) < 1e-6f);
    assert_true(fabsf(sc[2] - (-2.0f + 1.5f + 0.125f - 0.5f + 0.0f)) < 1e-6f);

    /* Probabilities: softmax(score / 1.5). */
    float in[NL] = {1.0f, 2.5f, -0.5f}, p[NL];
    model_probs(m, in, p);
    double z = exp(1.0 / 1.5) + exp(2.5 / 1.5) + exp(-0.5 / 1.5);
    assert_true(fabs(p[0] - exp(1.0 / 1.5) / z) < 1e-6);
    assert_true(fabs(p[1] - exp(2.5 / 1.5) / z) < 1e-6);
    assert_true(fabs(p[2] - exp(-0.5 / 1.5) / z) < 1e-6);
    /* In place. */
    model_probs(m, in, in);
    assert_true(fabs(in[1] - p[1]) < 1e-7);
}

static void test_round_trip(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    write_small(&b);
    const unsigned char *f = (const unsigned char *)b.p;
    assert_memory_equal(f, "TRIAGEMD", 8);
    assert_int_equal(rd32(f + 8), MODEL_FORMAT_VERSION);
    assert_int_equal(rd32(f + 12), 64);
    assert_true(rd64(f + 16) == b.len);

    model_t *m;
    char err[TRI_ERRLEN];
    int rc = load_exact(b.p, b.len, &m, err, sizeof err);
    if (rc)
        fail_msg("load: %s", err);
    check_small_model(m);
    assert_int_equal(model_bytes(m), b.len);
    /* The checksum is XXH64 of the file with its own field zeroed. */
    unsigned char *z = malloc(b.len);
    memcpy(z, b.p, b.len);
    memset(z + 24, 0, 8);
    assert_true(model_checksum(m) == XXH64(z, b.len, 0));
    assert_true(model_checksum(m) == rd64(f + 24));
    free(z);
    model_unref(m);

    /* Writing is deterministic, and appends after existing content. */
    buf_t b2 = BUF_INIT;
    buf_append(&b2, "prefix", 6);
    write_small(&b2);
    assert_int_equal(b2.len, b.len + 6);
    assert_memory_equal(b2.p + 6, b.p, b.len);
    buf_free(&b2);
    buf_free(&b);
}

static void test_round_trip_variants(void **state)
{
    (void)state;
    char err[TRI_ERRLEN];
    /* No rows, no stemmer, no stop words, NULL meta -> {}. */
    model_spec_t s = small_spec();
    memset(&s.tok, 0, sizeof s.tok);
    s.nrows = 0;
    s.meta_json = NULL;
    buf_t b = BUF_INIT;
    assert_int_equal(model_write(&s, &b, err, sizeof err), 0);
    model_t *m;
    assert_int_equal(load_exact(b.p, b.len, &m, err, sizeof err), 0);
    assert_int_equal(model_nrows(m), 0);
    assert_string_equal(model_tok_config(m)->stem, "");
    assert_int_equal(model_tok_config(m)->stopwords_len, 0);
    assert_true(json_is_object(model_meta(m)));
    assert_int_equal(json_object_size(model_meta(m)), 0);
    const uint32_t ids[] = {5};
    float sc[NL];
    uint32_t known = 7;
    model_score(m, ids, 1, sc, &known);
    assert_int_equal(known, 0);
    assert_true(sc[0] == -1.0f);
    model_unref(m);
    buf_free(&b);

    /* Many rows (table growth, collisions in the probe sequence). */
    s = small_spec();
    s.nlabels = 2;
    s.feat.bits = 12;
    uint32_t nb = 1000;
    uint32_t *bk = malloc(nb * sizeof *bk);
    float *w = malloc(nb * 2 * sizeof *w);
    for (uint32_t i = 0; i < nb; i++) {
        bk[i] = (i * 37u) % 4096u; /* distinct: 37 is odd */
        w[2 * i] = (float)i;
        w[2 * i + 1] = -(float)i;
    }
    s.nrows = nb;
    s.buckets = bk;
    s.weights = w;
    assert_int_equal(model_write(&s, &b, err, sizeof err), 0);
    assert_int_equal(load_exact(b.p, b.len, &m, err, sizeof err), 0);
    assert_int_equal(model_nrows(m), nb);
    /* Loaded, the model does not keep the file image (the index has its
     * rows): besides the index it holds a bucket per row and a little more. */
    assert_true(model_memory(m) > model_index_bytes(m));
    assert_true(model_memory(m) - model_index_bytes(m) < b.len / 2);
    for (uint32_t i = 0; i < nb; i += 7) {
        model_score(m, &bk[i], 1, sc, &known);
        assert_int_equal(known, 1);
        assert_true(sc[0] == -1.0f + (float)i);
        assert_true(sc[1] == -0.5f - (float)i);
    }
    model_unref(m);
    buf_free(&b);
    free(bk);
    free(w);
}

/* Weights stored as int8 with one scale per row (max |w| / 127): each
 * loads as the nearest step q * scale, exactly; the file is smaller by
 * nearly 3 bytes a weight; an all-zero row loads as zeros. */
static void test_q8_weights(void **state)
{
    (void)state;
    char err[TRI_ERRLEN];
    model_spec_t s = small_spec();
    buf_t f32 = BUF_INIT, q8 = BUF_INIT;
    assert_int_equal(model_write(&s, &f32, err, sizeof err), 0);
    s.weights_q8 = 1;
    assert_int_equal(model_write(&s, &q8, err, sizeof err), 0);
    model_t *m;
    if (load_exact(q8.p, q8.len, &m, err, sizeof err))
        fail_msg("load: %s", err);
    assert_true(model_weights_q8(m));
    for (uint32_t r = 0; r < NR; r++) {
        float mx = 0;
        for (uint32_t c = 0; c < NL; c++)
            mx = fmaxf(mx, fabsf(WEIGHTS[r * NL + c]));
        float scale = mx / 127.0f;
        uint32_t b;
        float w[NL];
        assert_int_equal(model_row(m, r, &b, w), 0);
        assert_int_equal(b, BUCKETS[r]);
        for (uint32_t c = 0; c < NL; c++) {
            float want = roundf(WEIGHTS[r * NL + c] / scale) * scale;
            if (fabsf(w[c] - want) > 1e-6f * mx)
                fail_msg("row %u label %u: %g, want %g (from %g)", r, c, w[c], want, WEIGHTS[r * NL + c]);
            assert_true(fabsf(w[c] - WEIGHTS[r * NL + c]) <= scale / 2 + 1e-6f);
        }
    }
    /* Each row's largest weight is exact; 0.125 beside 2 and -3 is the
     * nearest step of 3/127, and 0.25 beside 1.5 is one of 1.5/127. */
    float rw[NL];
    model_row(m, 3, NULL, rw);
    assert_true(rw[0] == 4.0f);
    model_row(m, 1, NULL, rw);
    assert_true(rw[0] == -3.0f);
    assert_true(fabsf(rw[2] - 5 * 3.0f / 127) < 1e-6f);
    model_row(m, 0, NULL, rw);
    assert_true(fabsf(rw[0] - 21 * 1.5f / 127) < 1e-6f);
    /* Scores are the expanded weights' sums. */
    float sc[NL];
    uint32_t known;
    const uint32_t ids[] = {5, 37};
    model_score(m, ids, 2, sc, &known);
    assert_int_equal(known, 2);
    assert_true(fabsf(sc[0] - (-1.0f + 21 * 1.5f / 127 + 4.0f)) < 1e-5f);
    size_t nw = (size_t)NR * NL;
    assert_true(q8.len < f32.len && f32.len - q8.len >= 3 * nw - 4 * NR - 8 - 12);
    model_unref(m);
    /* A row whose weights are all zero. */
    float zw[NR * NL];
    memcpy(zw, WEIGHTS, sizeof zw);
    for (uint32_t c = 0; c < NL; c++)
        zw[2 * NL + c] = 0;
    s.weights = zw;
    buf_reset(&q8);
    assert_int_equal(model_write(&s, &q8, err, sizeof err), 0);
    assert_int_equal(load_exact(q8.p, q8.len, &m, err, sizeof err), 0);
    model_row(m, 2, NULL, rw);
    for (uint32_t c = 0; c < NL; c++)
        assert_true(rw[c] == 0.0f);
    model_unref(m);
    /* Float models say so. */
    assert_int_equal(load_exact(f32.p, f32.len, &m, err, sizeof err), 0);
    assert_false(model_weights_q8(m));
    /* The scoring index keeps int8 weights int8: a slot is the key [, the
     * IDF], the row's scale and NL bytes rounded up to 4, not NL floats. */
    size_t key = model_idf(m) ? 8 : 4, f32_index = model_index_bytes(m);
    model_unref(m);
    assert_int_equal(f32_index % (key + 4 * NL), 0);
    assert_int_equal(load_exact(q8.p, q8.len, &m, err, sizeof err), 0);
    assert_int_equal(model_index_bytes(m), f32_index / (key + 4 * NL) * ((key + 4 + NL + 3) & ~(size_t)3));
    model_unref(m);
    buf_free(&f32);
    buf_free(&q8);
}

/* Start of section id in a written file (its table entry's offset). */
static size_t section_at(const unsigned char *f, uint32_t id, size_t *len)
{
    uint32_t n = rd32(f + 32);
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *e = f + 64 + 24 * (size_t)i;
        if (rd32(e) == id) {
            *len = (size_t)rd64(e + 16);
            return (size_t)rd64(e + 8);
        }
    }
    fail_msg("no section %u", id);
    return 0;
}

/* Damaged int8 weights are refused, each for its own reason. */
static void test_q8_refused(void **state)
{
    (void)state;
    char err[TRI_ERRLEN];
    model_spec_t s = small_spec();
    s.weights_q8 = 1;
    buf_t b = BUF_INIT;
    assert_int_equal(model_write(&s, &b, err, sizeof err), 0);
    size_t wlen, wat = section_at((unsigned char *)b.p, 6, &wlen);
    assert_int_equal(wlen, NR * 4 + NR * NL);
    /* Patches (offset from the WGHT start, bytes) and the reason given. */
    static const struct {
        size_t off;
        unsigned char v[4];
        size_t n;
        const char *why;
    } cases[] = {
        {2, {0x80, 0xBF}, 2, "scale of row 0"},           /* row 0's scale becomes -1.0... */
        {4 * 2 + 2, {0xC0, 0x7F}, 2, "scale of row 2"},   /* a quiet NaN */
        {4 * NR + 1, {0x80}, 1, "-128"},
        {0, {0xCA, 0xF2, 0x49, 0x71}, 4, "weight 0 ("},   /* scale 1e30: q * scale out of range */
    };
    model_t *m;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        unsigned char *f = malloc(b.len);
        memcpy(f, b.p, b.len);
        memcpy(f + wat + cases[k].off, cases[k].v, cases[k].n);
        fix_checksum(f, b.len);
        assert_int_equal(load_exact(f, b.len, &m, err, sizeof err), TRI_EFORMAT);
        if (!strstr(err, cases[k].why))
            fail_msg("case %zu: '%s' does not say '%s'", k, err, cases[k].why);
        free(f);
    }
    /* The WQ8 setting carries no bytes. */
    size_t slen, sat = section_at((unsigned char *)b.p, 8, &slen);
    unsigned char *f = malloc(b.len);
    memcpy(f, b.p, b.len);
    size_t at = sat;
    while (rd32(f + at) != 4)
        at += 12 + ((rd32(f + at + 8) + 3) & ~3u);
    wr32(f + at + 8, 4);
    fix_checksum(f, b.len);
    assert_int_equal(load_exact(f, b.len, &m, err, sizeof err), TRI_EFORMAT);
    free(f);
    buf_free(&b);
}

static void test_write_errors(void **state)
{
    (void)state;
    char err[TRI_ERRLEN];
    buf_t b = BUF_INIT;
    model_spec_t s = small_spec();
    uint32_t dup[NR] = {5, 100, 5, 37};
    s.buckets = dup;
    err[0] = '\0';
    assert_int_equal(model_write(&s, &b, err, sizeof err), TRI_EINVAL);
    assert_non_null(strstr(err, "twice"));
    uint32_t big[NR] = {5, 100, 1024, 37}; /* >= 2^10 */
    s.buckets = big;
    assert_int_equal(model_write(&s, &b, err, sizeof err), TRI_EINVAL);
    s = small_spec();
    s.temperature = 0;
    assert_int_equal(model_write(&s, &b, err, sizeof err), TRI_EINVAL);
    s.temperature = NAN;
    assert_int_equal(model_write(&s, &b, err, sizeof err), TRI_EINVAL);
    s = small_spec();
    s.nlabels = 0;
    assert_int_equal(model_write(&s, &b, err, sizeof err), TRI_EINVAL);
    s = small_spec();
    s.feat.bits = 4;
    assert_int_equal(model_write(&s, &b, err, sizeof err), TRI_EINVAL);
    buf_free(&b);
}

/* ---- damaged files ---- */

static void test_every_truncation(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    write_small(&b);
    char err[TRI_ERRLEN];
    for (size_t n = 0; n < b.len; n++) {
        model_t *m = NULL;
        int rc = load_exact(b.p, n, &m, err, sizeof err);
        if (rc != TRI_EFORMAT || err[0] == '\0' || m)
            fail_msg("prefix of %zu/%zu bytes: rc %d, message '%s'", n, b.len, rc, err);
    }
    /* Trailing bytes are refused too. */
    buf_t big = BUF_INIT;
    buf_append(&big, b.p, b.len);
    buf_append(&big, "\0\0\0\0\0\0\0\0", 8);
    model_t *m = NULL;
    assert_int_equal(load_exact(big.p, big.len, &m, err, sizeof err), TRI_EFORMAT);
    assert_true(strlen(err) > 0);
    buf_free(&big);
    buf_free(&b);
}

static void test_every_bit_flip(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    write_small(&b);
    unsigned char *f = malloc(b.len);
    char err[TRI_ERRLEN];
    size_t bits = b.len * 8;
    for (size_t bit = 0; bit < bits; bit++) {
        memcpy(f, b.p, b.len);
        f[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        model_t *m = NULL;
        int rc = load_exact(f, b.len, &m, err, sizeof err);
        if (rc != TRI_EFORMAT || err[0] == '\0' || m)
            fail_msg("bit %zu (byte %zu) flipped: rc %d, message '%s'", bit, bit / 8, rc, err);
    }
    free(f);
    buf_free(&b);
}

/* The same flips with the checksum recomputed: the structural checks see every
 * one. Some are harmless (a weight's low bit) and load; none may crash, and
 * what loads must be usable. */
static void test_bit_flips_with_valid_checksum(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    write_small(&b);
    unsigned char *f = malloc(b.len);
    char err[TRI_ERRLEN];
    size_t loaded = 0;
    for (size_t bit = 0; bit < b.len * 8; bit++) {
        if (bit / 8 >= 24 && bit / 8 < 32)
            continue;
        memcpy(f, b.p, b.len);
        f[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        fix_checksum(f, b.len);
        model_t *m = NULL;
        int rc = load_exact(f, b.len, &m, err, sizeof err);
        if (rc) {
            if (rc != TRI_EFORMAT || !err[0])
                fail_msg("bit %zu: rc %d, message '%s'", bit, rc, err);
            continue;
        }
        loaded++;
        uint32_t L = model_nlabels(m), R = model_nrows(m);
        assert_true(L >= 1 && L <= MODEL_MAX_LABELS);
        for (uint32_t i = 0; i < L; i++)
            assert_non_null(model_label(m, i));
        float *sc = malloc(L * sizeof *sc);
        uint32_t *ids = malloc((R + 1) * sizeof *ids);
        float *w = malloc(L * sizeof *w);
        for (uint32_t r = 0; r < R; r++) {
            assert_int_equal(model_row(m, r, &ids[r], w), 0);
            assert_true(ids[r] < (1u << model_feat_config(m)->bits));
            for (uint32_t c = 0; c < L; c++)
                assert_true(isfinite(w[c]));
        }
        uint32_t known;
        model_score(m, ids, R, sc, &known);
        assert_int_equal(known, R);
        model_probs(m, sc, sc);
        clf_t *cl;
        assert_int_equal(clf_new(m, &cl, err, sizeof err), 0);
        clf_result_t res;
        assert_int_equal(clf_classify(cl, "the flights and delays", 22, &res), 0);
        assert_true(res.label < L);
        clf_free(cl);
        free(sc);
        free(w);
        free(ids);
        model_unref(m);
    }
    /* Flips in the weights at least load. */
    print_message("%zu of %zu flips (checksum fixed) loaded\n", loaded, b.len * 8 - 64);
    assert_true(loaded > 0);
    free(f);
    buf_free(&b);
}

/* Sections of a file, to rebuild hostile variants with valid checksums. */
typedef struct secs {
    unsigned char *p[10];
    size_t n[10];
} secs_t;

static void split(const buf_t *b, secs_t *s)
{
    const unsigned char *f = (const unsigned char *)b->p;
    memset(s, 0, sizeof *s);
    uint32_t nsec = rd32(f + 32);
    assert_int_equal(nsec, 8);
    for (uint32_t i = 0; i < nsec; i++) {
        const unsigned char *e = f + 64 + 24 * i;
        uint32_t id = rd32(e);
        assert_true(id >= 1 && id <= 8);
        size_t off = rd64(e + 8), len = rd64(e + 16);
        s->p[id] = malloc(len ? len : 1);
        memcpy(s->p[id], f + off, len);
        s->n[id] = len;
    }
}

static void secs_free(secs_t *s)
{
    for (int i = 0; i < 10; i++)
        free(s->p[i]);
}

static void set_sec(secs_t *s, int id, const void *data, size_t n)
{
    free(s->p[id]);
    s->p[id] = malloc(n ? n : 1);
    memcpy(s->p[id], data, n);
    s->n[id] = n;
}

/* Lays out the sections like the writer (ids in `order`, nsec of them) with a
 * valid size and checksum. */
static void assemble_version(const secs_t *s, const uint32_t *order, uint32_t nsec, uint32_t v, buf_t *out)
{
    buf_reset(out);
    static const unsigned char z[64];
    buf_append(out, "TRIAGEMD", 8);
    uint32_t h = 64;
    buf_append(out, &v, 4);
    buf_append(out, &h, 4);
    buf_append(out, z, 16);
    buf_append(out, &nsec, 4);
    buf_append(out, z, 28);
    size_t tab = out->len;
    for (uint32_t i = 0; i < nsec; i++)
        buf_append(out, z, 24);
    for (uint32_t i = 0; i < nsec; i++) {
        if (out->len % 8)
            buf_append(out, z, 8 - out->len % 8);
        uint32_t id = order[i];
        uint64_t off = out->len, len = id < 10 ? s->n[id] : 0;
        if (id < 10)
            buf_append(out, s->p[id], s->n[id]);
        unsigned char *e = (unsigned char *)out->p + tab + 24 * i;
        wr32(e, id);
        wr32(e + 4, 0);
        wr64(e + 8, off);
        wr64(e + 16, len);
    }
    assert_false(out->oom);
    wr64((unsigned char *)out->p + 16, out->len);
    fix_checksum((unsigned char *)out->p, out->len);
}

static void assemble_ids(const secs_t *s, const uint32_t *order, uint32_t nsec, buf_t *out)
{
    assemble_version(s, order, nsec, MODEL_FORMAT_VERSION, out);
}

static void assemble(const secs_t *s, buf_t *out)
{
    static const uint32_t order[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assemble_ids(s, order, 8, out);
}

/* Expects the loader to refuse f with TRI_EFORMAT and a message containing needle. */
static void expect_refused(const buf_t *f, const char *needle, const char *what)
{
    char err[TRI_ERRLEN];
    model_t *m = NULL;
    int rc = load_exact(f->p, f->len, &m, err, sizeof err);
    if (rc == 0) {
        model_unref(m);
        fail_msg("%s: accepted", what);
    }
    if (rc != TRI_EFORMAT || !err[0] || m)
        fail_msg("%s: rc %d, message '%s'", what, rc, err);
    if (needle && !strstr(err, needle))
        fail_msg("%s: message '%s' does not mention '%s'", what, err, needle);
}

static void test_assembler_matches_writer(void **state)
{
    (void)state;
    buf_t b = BUF_INIT, a = BUF_INIT;
    write_small(&b);
    secs_t s;
    split(&b, &s);
    assemble(&s, &a);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.p, b.p, b.len);
    secs_free(&s);
    buf_free(&a);
    buf_free(&b);
}

enum { S_CONF = 1, S_STOP, S_LABL, S_BIAS, S_TABL, S_WGHT, S_META };

/* A header or section-table field changed, checksum recomputed. */
static void hostile_header(void **state)
{
    (void)state;
    buf_t b = BUF_INIT, h = BUF_INIT;
    write_small(&b);
    unsigned char *f;
    size_t size = b.len;
#define VARIANT(what, needle, ...)                                              \
    do {                                                                        \
        buf_reset(&h);                                                          \
        buf_append(&h, b.p, b.len);                                             \
        f = (unsigned char *)h.p;                                               \
        __VA_ARGS__;                                                            \
        fix_checksum(f, h.len);                                                 \
        expect_refused(&h, needle, what);                                       \
    } while (0)
    /* Entry i of the section table is at 64 + 24 i; the writer orders by id. */
#define ENTRY(id) (f + 64 + 24 * ((id) - 1))
    VARIANT("format version 3", "upgrade triage", wr32(f + 8, 3));
    VARIANT("version 1 with a SETT section", "unknown section id 8", wr32(f + 8, 1));
    VARIANT("format version 0", "version", wr32(f + 8, 0));
    VARIANT("bad magic", NULL, f[0] = 'X');
    VARIANT("header size", NULL, wr32(f + 12, 72));
    VARIANT("section count 0", NULL, wr32(f + 32, 0));
    VARIANT("section count 17", NULL, wr32(f + 32, 17));
    VARIANT("section count 7", "section SETT missing", wr32(f + 32, 7));
    VARIANT("section count 9", NULL, wr32(f + 32, 9));
    VARIANT("reserved header byte", NULL, f[40] = 1);
    VARIANT("META offset past the end", NULL, wr64(ENTRY(S_META) + 8, size + 8));
    VARIANT("META offset far past the end", NULL, wr64(ENTRY(S_META) + 8, UINT64_MAX - 7));
    VARIANT("META length past the end", NULL, wr64(ENTRY(S_META) + 16, size));
    VARIANT("META huge length", NULL, wr64(ENTRY(S_META) + 16, UINT64_MAX));
    VARIANT("WGHT offset unaligned", NULL, wr64(ENTRY(S_WGHT) + 8, rd64(ENTRY(S_WGHT) + 8) + 4));
    VARIANT("CONF offset in the header", NULL, wr64(ENTRY(S_CONF) + 8, 0));
    VARIANT("CONF offset in the section table", NULL, wr64(ENTRY(S_CONF) + 8, 64));
    VARIANT("unknown section id", NULL, wr32(ENTRY(S_META), 9));
    VARIANT("section id 0", NULL, wr32(ENTRY(S_META), 0));
    VARIANT("duplicate section id", NULL, wr32(ENTRY(S_META), S_WGHT));
    VARIANT("section reserved field", NULL, wr32(ENTRY(S_BIAS) + 4, 1));
    VARIANT("BIAS section too short", NULL, wr64(ENTRY(S_BIAS) + 16, 8));
    VARIANT("WGHT section too short", NULL, wr64(ENTRY(S_WGHT) + 16, 44));
    VARIANT("CONF section too short", NULL, wr64(ENTRY(S_CONF) + 16, 120));
    VARIANT("STOP longer than CONF says", NULL, wr64(ENTRY(S_STOP) + 16, 9));
    VARIANT("TABL section shorter than capacity", NULL, wr64(ENTRY(S_TABL) + 16, 128));
    VARIANT("file size field too big", NULL, wr64(f + 16, size + 8));
    VARIANT("file size field too small", NULL, wr64(f + 16, size - 8));
#undef ENTRY
#undef VARIANT
    buf_free(&h);
    buf_free(&b);
}

/* Offsets inside the CONF section. */
enum { C_TOKV = 0, C_FEATV = 4, C_NMIN = 8, C_NMAX = 12, C_BITS = 16, C_MODE = 20, C_SEED = 24, C_NLAB = 32,
       C_TEMP = 36, C_STOPLEN = 40, C_RES = 44, C_STEM = 48 };

static void hostile_conf(void **state)
{
    (void)state;
    buf_t b = BUF_INIT, h = BUF_INIT;
    write_small(&b);
    secs_t s0;
    split(&b, &s0);
    unsigned char conf[128];
    assert_int_equal(s0.n[S_CONF], 128);
#define CONF_VARIANT(what, needle, ...)                 \
    do {                                                \
        memcpy(conf, s0.p[S_CONF], 128);                \
        __VA_ARGS__;                                    \
        secs_t s = s0;                                  \
        s.p[S_CONF] = conf;                             \
        assemble(&s, &h);                               \
        expect_refused(&h, needle, what);               \
    } while (0)
    CONF_VARIANT("tokenizer version 2", "version", wr32(conf + C_TOKV, 2));
    CONF_VARIANT("feature hash version 2", "version", wr32(conf + C_FEATV, 2));
    CONF_VARIANT("ngram_min 0", NULL, wr32(conf + C_NMIN, 0));
    CONF_VARIANT("ngram_max 6", NULL, wr32(conf + C_NMAX, 6));
    CONF_VARIANT("ngram_min > max", NULL, wr32(conf + C_NMIN, 3));
    CONF_VARIANT("bits 40", NULL, wr32(conf + C_BITS, 40));
    CONF_VARIANT("bits 7", NULL, wr32(conf + C_BITS, 7));
    CONF_VARIANT("bits 9 (bucket 1023 too big)", NULL, wr32(conf + C_BITS, 9));
    CONF_VARIANT("mode 3", NULL, wr32(conf + C_MODE, 3));
    CONF_VARIANT("nlabels 0", NULL, wr32(conf + C_NLAB, 0));
    CONF_VARIANT("nlabels 2 (LABL has 3)", NULL, wr32(conf + C_NLAB, 2));
    CONF_VARIANT("nlabels 4 (LABL has 3)", NULL, wr32(conf + C_NLAB, 4));
    CONF_VARIANT("nlabels huge", NULL, wr32(conf + C_NLAB, 0xFFFFFFFFu));
    CONF_VARIANT("temperature NaN", NULL, { float t = NAN; memcpy(conf + C_TEMP, &t, 4); });
    CONF_VARIANT("temperature inf", NULL, { float t = INFINITY; memcpy(conf + C_TEMP, &t, 4); });
    CONF_VARIANT("temperature 0", NULL, { float t = 0; memcpy(conf + C_TEMP, &t, 4); });
    CONF_VARIANT("temperature negative", NULL, { float t = -1; memcpy(conf + C_TEMP, &t, 4); });
    CONF_VARIANT("stop length mismatch", NULL, wr32(conf + C_STOPLEN, 7));
    CONF_VARIANT("stop length huge", NULL, wr32(conf + C_STOPLEN, 0xFFFFFFFFu));
    CONF_VARIANT("CONF reserved field", NULL, wr32(conf + C_RES, 1));
    CONF_VARIANT("stem not terminated", NULL, memset(conf + C_STEM, 'a', 32));
    CONF_VARIANT("unknown stemmer", NULL, memcpy(conf + C_STEM, "klingon", 8));
    CONF_VARIANT("CONF reserved tail", NULL, conf[127] = 1);
#undef CONF_VARIANT
    /* STOP with a NUL and with invalid UTF-8 (same length as the original). */
    secs_t s = s0;
    s.p[S_STOP] = (unsigned char *)"the\nan\0\n";
    assemble(&s, &h);
    expect_refused(&h, NULL, "NUL in stop words");
    s.p[S_STOP] = (unsigned char *)"the\n\xFF\xFEnd\n";
    assemble(&s, &h);
    expect_refused(&h, NULL, "invalid UTF-8 in stop words");
    secs_free(&s0);
    buf_free(&h);
    buf_free(&b);
}

static void put_labels(secs_t *s, const char *const *names, size_t n, size_t extra)
{
    buf_t l = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        uint32_t len = (uint32_t)strlen(names[i]);
        buf_append(&l, &len, 4);
        buf_append(&l, names[i], len);
    }
    for (size_t i = 0; i < extra; i++)
        buf_putc(&l, 'x');
    set_sec(s, S_LABL, l.p ? l.p : "", l.len);
    buf_free(&l);
}

static void hostile_labels(void **state)
{
    (void)state;
    buf_t b = BUF_INIT, h = BUF_INIT;
    write_small(&b);
    secs_t s;
    split(&b, &s);
    char err[TRI_ERRLEN];
    model_t *m;

    /* Control: rewriting the same labels loads. */
    put_labels(&s, LABELS, 3, 0);
    assemble(&s, &h);
    assert_int_equal(load_exact(h.p, h.len, &m, err, sizeof err), 0);
    model_unref(m);

    put_labels(&s, (const char *const[]){"neg", "pos", "neg"}, 3, 0);
    assemble(&s, &h);
    expect_refused(&h, "twice", "duplicate label");
    put_labels(&s, (const char *const[]){"neg", "", "neutral"}, 3, 0);
    assemble(&s, &h);
    expect_refused(&h, NULL, "empty label");
    put_labels(&s, (const char *const[]){"neg", "p\nos", "neutral"}, 3, 0);
    assemble(&s, &h);
    expect_refused(&h, NULL, "control character in label");
    put_labels(&s, (const char *const[]){"neg", "p\xFFs", "neutral"}, 3, 0);
    assemble(&s, &h);
    expect_refused(&h, NULL, "invalid UTF-8 in label");
    put_labels(&s, (const char *const[]){"neg", "pos\xC3", "neutral"}, 3, 0);
    assemble(&s, &h);
    expect_refused(&h, NULL, "truncated UTF-8 in label");
    char longl[300];
    memset(longl, 'a', 257);
    longl[257] = '\0';
    put_labels(&s, (const char *const[]){"neg", longl, "neutral"}, 3, 0);
    assemble(&s, &h);
    expect_refused(&h, NULL, "257-byte label");
    put_labels(&s, LABELS, 3, 1);
    assemble(&s, &h);
    expect_refused(&h, NULL, "trailing byte in LABL");
    put_labels(&s, LABELS, 2, 0);
    assemble(&s, &h);
    expect_refused(&h, NULL, "LABL with 2 labels of 3");
    /* A length running past the section. */
    put_labels(&s, LABELS, 3, 0);
    wr32(s.p[S_LABL] + s.n[S_LABL] - 11, 0xFFFFFFF0u);
    assemble(&s, &h);
    expect_refused(&h, NULL, "label length past the section");

    secs_free(&s);
    buf_free(&h);
    buf_free(&b);
}

/* Builds a TABL section: cap slots, nrows, and (bucket, row) pairs placed by
 * linear probing unless `raw` gives the slots directly. */
static void put_table(secs_t *s, uint32_t cap, uint32_t nrows, const uint32_t *raw_slots)
{
    size_t n = 8 + (size_t)cap * 8;
    unsigned char *t = calloc(1, n);
    wr32(t, cap);
    wr32(t + 4, nrows);
    memcpy(t + 8, raw_slots, (size_t)cap * 8);
    free(s->p[S_TABL]);
    s->p[S_TABL] = t;
    s->n[S_TABL] = n;
}

static void put_weights(secs_t *s, uint32_t nrows, float value)
{
    size_t n = (size_t)nrows * NL;
    float *w = malloc(n * sizeof *w + 1);
    for (size_t i = 0; i < n; i++)
        w[i] = value;
    set_sec(s, S_WGHT, w, n * sizeof *w);
    free(w);
}

static void hostile_table_and_values(void **state)
{
    (void)state;
    buf_t b = BUF_INIT, h = BUF_INIT;
    write_small(&b);
    secs_t s0, s;
    split(&b, &s0);
    char err[TRI_ERRLEN];
    model_t *m;
    uint32_t cap0 = rd32(s0.p[S_TABL]);
    assert_int_equal(cap0, 16);
    assert_int_equal(rd32(s0.p[S_TABL] + 4), NR);
    uint32_t slots[2 * 64];

    /* Control: a table we build ourselves (4 rows, buckets 5, 100, 1023, 37) loads. */
    memset(slots, 0, sizeof slots);
    /* Home slots with mask 15: 5 -> 5, 100 -> 4, 1023 -> 15, 37 -> 5 (probes to 6). */
    slots[2 * 5] = 6, slots[2 * 5 + 1] = 0;
    slots[2 * 4] = 101, slots[2 * 4 + 1] = 1;
    slots[2 * 15] = 1024, slots[2 * 15 + 1] = 2;
    slots[2 * 6] = 38, slots[2 * 6 + 1] = 3;
    s = s0;
    s.p[S_TABL] = NULL;
    put_table(&s, 16, 4, slots);
    assemble(&s, &h);
    assert_int_equal(load_exact(h.p, h.len, &m, err, sizeof err), 0);
    check_small_model(m);
    model_unref(m);
    uint32_t good[2 * 16];
    memcpy(good, s.p[S_TABL] + 8, sizeof good);

#define TABLE_VARIANT(what, cap, nrows, ...)                 \
    do {                                                     \
        memcpy(slots, good, sizeof good);                    \
        __VA_ARGS__;                                         \
        put_table(&s, (cap), (nrows), slots);                \
        assemble(&s, &h);                                    \
        expect_refused(&h, NULL, what);                      \
    } while (0)
    TABLE_VARIANT("huge nrows", 16, 0xFFFFFFFFu, (void)0);
    TABLE_VARIANT("nrows = capacity", 16, 16, (void)0);
    TABLE_VARIANT("nrows 5, 4 slots used", 16, 5, (void)0);
    TABLE_VARIANT("nrows 3, 4 slots used", 16, 3, (void)0);
    TABLE_VARIANT("row index out of range", 16, 4, slots[2 * 6 + 1] = 4);
    TABLE_VARIANT("row index huge", 16, 4, slots[2 * 6 + 1] = 0xFFFFFFFFu);
    TABLE_VARIANT("row used twice", 16, 4, slots[2 * 6 + 1] = 0);
    TABLE_VARIANT("bucket >= 2^bits", 16, 4, slots[2 * 6] = 1025);
    TABLE_VARIANT("bucket huge", 16, 4, slots[2 * 6] = 0xFFFFFFFFu);
    TABLE_VARIANT("empty slot with a row", 16, 4, slots[2 * 0 + 1] = 2);
    TABLE_VARIANT("capacity not a power of two", 15, 4, (void)0);
    TABLE_VARIANT("capacity 0", 0, 0, (void)0);
#undef TABLE_VARIANT
    {
        /* nrows 5 with WGHT sized for 5 rows, but only 4 slots used: row 4
         * would have no bucket. */
        put_table(&s, 16, 5, good);
        put_weights(&s, 5, 0.5f);
        assemble(&s, &h);
        expect_refused(&h, NULL, "5 rows, 4 used slots, WGHT for 5");
        put_weights(&s, NR, 0.5f);
    }
    {
        /* Capacity field larger than the section. */
        put_table(&s, 16, 4, good);
        wr32(s.p[S_TABL], 32);
        assemble(&s, &h);
        expect_refused(&h, NULL, "capacity larger than the section");
    }
    {
        /* A full table: 16 slots, 16 rows, no empty slot (lookups of an absent
         * bucket would never stop); WGHT sized to match. */
        uint32_t full[2 * 16];
        for (uint32_t i = 0; i < 16; i++) {
            full[2 * i] = i + 1; /* bucket i at its home slot */
            full[2 * i + 1] = i;
        }
        put_table(&s, 16, 16, full);
        put_weights(&s, 16, 0.5f);
        assemble(&s, &h);
        expect_refused(&h, NULL, "table without an empty slot");
        put_weights(&s, NR, 0.5f);
    }
    put_table(&s, 16, 4, good);

    /* Values. */
    float w[NR * NL];
    memcpy(w, WEIGHTS, sizeof w);
    w[7] = NAN;
    set_sec(&s, S_WGHT, w, sizeof w);
    assemble(&s, &h);
    expect_refused(&h, NULL, "NaN weight");
    w[7] = -INFINITY;
    set_sec(&s, S_WGHT, w, sizeof w);
    assemble(&s, &h);
    expect_refused(&h, NULL, "infinite weight");
    set_sec(&s, S_WGHT, WEIGHTS, sizeof WEIGHTS);
    float bb[NL] = {0, INFINITY, 0};
    set_sec(&s, S_BIAS, bb, sizeof bb);
    assemble(&s, &h);
    expect_refused(&h, NULL, "infinite bias");
    bb[1] = NAN;
    set_sec(&s, S_BIAS, bb, sizeof bb);
    assemble(&s, &h);
    expect_refused(&h, NULL, "NaN bias");
    set_sec(&s, S_BIAS, BIAS, sizeof BIAS);

    /* Metadata. */
    static const char *const bad_meta[] = {"", "[1,2]", "{\"a\":", "{\"a\":1,\"a\":2}", "null", "{} x",
                                           "{\"a\":\"\xFF\"}"};
    for (size_t i = 0; i < sizeof bad_meta / sizeof *bad_meta; i++) {
        set_sec(&s, S_META, bad_meta[i], strlen(bad_meta[i]));
        assemble(&s, &h);
        expect_refused(&h, NULL, bad_meta[i]);
    }
    set_sec(&s, S_META, META, strlen(META));

    /* Control after all edits: the restored sections load again. */
    assemble(&s, &h);
    assert_int_equal(load_exact(h.p, h.len, &m, err, sizeof err), 0);
    model_unref(m);

    /* Section order does not matter, but each must be present once. */
    const uint32_t rev[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    assemble_ids(&s, rev, 8, &h);
    assert_int_equal(load_exact(h.p, h.len, &m, err, sizeof err), 0);
    check_small_model(m);
    model_unref(m);
    const uint32_t missing[7] = {1, 2, 3, 4, 5, 6, 8};
    assemble_ids(&s, missing, 7, &h);
    expect_refused(&h, "META", "META missing");
    const uint32_t twice[9] = {1, 2, 3, 4, 5, 6, 7, 7, 8};
    assemble_ids(&s, twice, 9, &h);
    expect_refused(&h, NULL, "META twice");

    /* s shares the sections it did not replace with s0; s0's table is its own. */
    secs_free(&s);
    free(s0.p[S_TABL]);
    buf_free(&h);
    buf_free(&b);
}

/* Two slots holding the same bucket (rows 0 and 3 both claim bucket 5). The
 * writer refuses such a table ("bucket appears twice"), the format describes a
 * linear-probing table of distinct buckets, and the result is ambiguous:
 * scoring uses one row while model_row (and so `triage inspect`) lists both.
 * The loader must refuse it. */
static void hostile_duplicate_bucket(void **state)
{
    (void)state;
    buf_t b = BUF_INIT, h = BUF_INIT;
    write_small(&b);
    secs_t s;
    split(&b, &s);
    uint32_t slots[2 * 16];
    memset(slots, 0, sizeof slots);
    slots[2 * 5] = 6, slots[2 * 5 + 1] = 0;      /* bucket 5, row 0 */
    slots[2 * 4] = 101, slots[2 * 4 + 1] = 1;    /* bucket 100, row 1 */
    slots[2 * 15] = 1024, slots[2 * 15 + 1] = 2; /* bucket 1023, row 2 */
    slots[2 * 6] = 6, slots[2 * 6 + 1] = 3;      /* bucket 5 again (instead of 37), row 3 */
    put_table(&s, 16, 4, slots);
    assemble(&s, &h);
    secs_free(&s);
    buf_free(&b);
    char err[TRI_ERRLEN];
    model_t *m = NULL;
    int rc = load_exact(h.p, h.len, &m, err, sizeof err);
    buf_free(&h);
    if (rc == 0) {
        uint32_t b0 = 0, b3 = 0;
        model_row(m, 0, &b0, NULL);
        model_row(m, 3, &b3, NULL);
        model_unref(m);
        fail_msg("the same bucket in two slots: accepted (rows 0 and 3 both have bucket %u/%u)", b0, b3);
    }
    assert_int_equal(rc, TRI_EFORMAT);
    assert_true(strlen(err) > 0);
}

/* s0's file with the CONF temperature replaced by t, into h. */
static void assemble_with_temperature(const secs_t *s0, float t, buf_t *h)
{
    unsigned char conf[128];
    memcpy(conf, s0->p[S_CONF], 128);
    memcpy(conf + C_TEMP, &t, 4);
    secs_t s = *s0;
    s.p[S_CONF] = conf;
    assemble(&s, h);
}

/* Issue 9, defect 13: values that are finite but hostile. A temperature of
 * 1.4e-45 (a denormal) or weights whose sum overflows to infinity passed the
 * loader and made every record score 0 with label 0. */
static void hostile_value_ranges(void **state)
{
    (void)state;
    buf_t b = BUF_INIT, h = BUF_INIT;
    write_small(&b);
    secs_t s0;
    split(&b, &s0);
    model_t *m;
    char err[TRI_ERRLEN];
    const float temps_bad[] = {1.4e-45f, 1e-6f, MODEL_MIN_TEMPERATURE / 2, MODEL_MAX_TEMPERATURE * 2, 3e38f};
    for (size_t i = 0; i < sizeof temps_bad / sizeof *temps_bad; i++) {
        assemble_with_temperature(&s0, temps_bad[i], &h);
        expect_refused(&h, "temperature", "hostile temperature");
    }
    /* The trainers' whole range loads. */
    const float temps_ok[] = {0.05f, 1.0f, 200.0f};
    for (size_t i = 0; i < sizeof temps_ok / sizeof *temps_ok; i++) {
        assemble_with_temperature(&s0, temps_ok[i], &h);
        assert_int_equal(load_exact(h.p, h.len, &m, err, sizeof err), 0);
        model_unref(m);
    }
    /* Every weight finite, but two of them already sum to infinity. */
    secs_t s = s0;
    s.p[S_WGHT] = NULL;
    put_weights(&s, NR, 3e38f);
    assemble(&s, &h);
    expect_refused(&h, "weight", "weights summing to infinity");
    put_weights(&s, NR, -2 * MODEL_MAX_ABS_WEIGHT);
    assemble(&s, &h);
    expect_refused(&h, "weight", "weight below the range");
    put_weights(&s, NR, MODEL_MAX_ABS_WEIGHT);
    assemble(&s, &h);
    assert_int_equal(load_exact(h.p, h.len, &m, err, sizeof err), 0);
    model_unref(m);
    free(s.p[S_WGHT]);
    s.p[S_WGHT] = s0.p[S_WGHT];
    const float bias[NL] = {-1.0f, 1e30f, 0.0f};
    s.p[S_BIAS] = (unsigned char *)bias;
    assemble(&s, &h);
    expect_refused(&h, "bias", "huge bias");
    /* The writer refuses what the loader would. */
    model_spec_t sp = small_spec();
    sp.temperature = 1.4e-45f;
    assert_int_equal(model_write(&sp, &h, err, sizeof err), TRI_EINVAL);
    sp = small_spec();
    float w[NR * NL];
    for (size_t i = 0; i < NR * NL; i++)
        w[i] = 3e38f;
    sp.weights = w;
    assert_int_equal(model_write(&sp, &h, err, sizeof err), TRI_EINVAL);
    sp = small_spec();
    const char *const nul_labels[NL] = {"neg", "pos", "a\x01b"};
    sp.labels = nul_labels;
    assert_int_equal(model_write(&sp, &h, err, sizeof err), TRI_EINVAL);
    assert_true(model_label_ok("a b", 3));
    assert_false(model_label_ok("a\0b", 3));
    assert_false(model_label_ok("a\x1b[31m", 7));
    assert_false(model_label_ok("", 0));
    secs_free(&s0);
    buf_free(&h);
    buf_free(&b);
}

/* ---- files and references ---- */

static void test_file_round_trip(void **state)
{
    (void)state;
    char dir[] = "/tmp/triage-test-model-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], err[TRI_ERRLEN];
    snprintf(path, sizeof path, "%s/m.triage", dir);
    buf_t b = BUF_INIT;
    write_small(&b);
    assert_int_equal(model_save_file(path, b.p, b.len, err, sizeof err), 0);
    /* Saving again replaces the file atomically; no temporary is left. */
    assert_int_equal(model_save_file(path, b.p, b.len, err, sizeof err), 0);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            files++;
    closedir(d);
    assert_int_equal(files, 1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((size_t)st.st_size, b.len);

    model_t *m = NULL;
    assert_int_equal(model_load_file(path, &m, err, sizeof err), 0);
    check_small_model(m);
    model_t *mm;
    assert_int_equal(model_load_mem(b.p, b.len, &mm, err, sizeof err), 0);
    assert_true(model_checksum(m) == model_checksum(mm));
    assert_int_equal(model_bytes(m), b.len);
    model_unref(mm);
    model_unref(m);

    /* A damaged file: the message names the path. */
    b.p[100] ^= 1;
    assert_int_equal(model_save_file(path, b.p, b.len, err, sizeof err), 0);
    err[0] = '\0';
    assert_int_equal(model_load_file(path, &m, err, sizeof err), TRI_EFORMAT);
    assert_non_null(strstr(err, path));
    /* Empty file. */
    assert_int_equal(model_save_file(path, "", 0, err, sizeof err), 0);
    assert_int_equal(model_load_file(path, &m, err, sizeof err), TRI_EFORMAT);
    assert_true(strlen(err) > 0);
    unlink(path);
    /* Missing file, a directory, an unwritable destination. */
    assert_int_equal(model_load_file(path, &m, err, sizeof err), TRI_ENOENT);
    assert_int_equal(model_load_file(dir, &m, err, sizeof err), TRI_EINVAL);
    char bad[300];
    snprintf(bad, sizeof bad, "%s/no/such/dir/m", dir);
    assert_int_equal(model_save_file(bad, b.p, b.len, err, sizeof err), TRI_EIO);
    assert_int_equal(rmdir(dir), 0);
    buf_free(&b);
}

/* Issue 9, defect 2: the served file changed in place after loading. With
 * the file mapped, truncating it made the next score fault (SIGBUS), and a
 * smaller model copied over it scored with a mix of old and new. */
static void test_file_changed_in_place(void **state)
{
    (void)state;
    char dir[] = "/tmp/triage-test-model-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], err[TRI_ERRLEN];
    snprintf(path, sizeof path, "%s/m.triage", dir);
    buf_t b = BUF_INIT, other = BUF_INIT;
    write_small(&b);
    assert_int_equal(model_save_file(path, b.p, b.len, err, sizeof err), 0);
    model_t *m = NULL;
    assert_int_equal(model_load_file(path, &m, err, sizeof err), 0);

    assert_int_equal(truncate(path, 0), 0);
    check_small_model(m);
    const uint32_t ids[] = {5, 100, 37};
    float sc[NL];
    uint32_t known;
    model_score(m, ids, 3, sc, &known);
    assert_int_equal(known, 3);
    assert_true(sc[0] == BIAS[0] + 0.25f - 3.0f + 4.0f);

    /* A different, smaller model written over the same inode. */
    model_spec_t sp = small_spec();
    sp.nrows = 1;
    sp.meta_json = "{}";
    sp.tok.stopwords = NULL;
    assert_int_equal(model_write(&sp, &other, err, sizeof err), 0);
    assert_true(other.len < b.len);
    FILE *f = fopen(path, "r+");
    assert_non_null(f);
    assert_int_equal(fwrite(other.p, 1, other.len, f), other.len);
    assert_int_equal(fclose(f), 0);
    model_score(m, ids, 3, sc, &known);
    assert_int_equal(known, 3);
    assert_true(sc[1] == BIAS[1] - 0.75f + 2.0f - 4.0f);
    check_small_model(m);
    model_unref(m);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
    buf_free(&other);
    buf_free(&b);
}

#define REF_THREADS 4
#define REF_ITERS 20000
static void *ref_worker(void *arg)
{
    model_t *m = arg;
    for (int i = 0; i < REF_ITERS; i++) {
        model_t *r = model_ref(m);
        if (r != m)
            abort();
        model_unref(r);
    }
    return NULL;
}

static void test_refcounting(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    write_small(&b);
    char err[TRI_ERRLEN];
    model_t *m;
    assert_int_equal(model_load_mem(b.p, b.len, &m, err, sizeof err), 0);
    buf_free(&b); /* the model owns a copy */
    assert_ptr_equal(model_ref(m), m);
    model_unref(m); /* back to one reference: still usable (ASan would see a use after free) */
    assert_string_equal(model_label(m, 1), "pos");

    /* A classifier holds its own reference: the model outlives our unref. */
    clf_t *c;
    assert_int_equal(clf_new(m, &c, err, sizeof err), 0);
    assert_ptr_equal(clf_model(c), m);
    pthread_t th[REF_THREADS];
    for (int i = 0; i < REF_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, ref_worker, m), 0);
    for (int i = 0; i < REF_THREADS; i++)
        pthread_join(th[i], NULL);
    model_unref(m);
    clf_result_t r;
    assert_int_equal(clf_classify(c, "the", 3, &r), 0);
    assert_int_equal(r.ntokens, 0); /* "the" is a stop word of this model */
    assert_int_equal(r.nknown, 0);
    assert_int_equal(r.ntop, 3);
    /* Scores are the biases: pos (-0.5) > neg (-1) > neutral (-2). */
    assert_int_equal(r.label, 1);
    assert_int_equal(r.top[1], 0);
    assert_int_equal(r.top[2], 2);
    clf_free(c); /* last reference: freed here (LeakSanitizer checks) */
    model_unref(NULL);
}

/* Equal scores: the lower label index ranks first. */
static void test_classify_ties(void **state)
{
    (void)state;
    model_spec_t s = small_spec();
    static const float zero[NL] = {0, 0, 0};
    s.bias = zero;
    memset(&s.tok, 0, sizeof s.tok);
    buf_t b = BUF_INIT;
    char err[TRI_ERRLEN];
    assert_int_equal(model_write(&s, &b, err, sizeof err), 0);
    model_t *m;
    assert_int_equal(model_load_mem(b.p, b.len, &m, err, sizeof err), 0);
    clf_t *c;
    assert_int_equal(clf_new(m, &c, err, sizeof err), 0);
    model_unref(m);
    clf_result_t r;
    assert_int_equal(clf_classify(c, "nothing known here", 18, &r), 0);
    assert_int_equal(r.ntokens, 3);
    assert_int_equal(r.nfeatures, 3 + 2);
    assert_int_equal(r.nknown, 0);
    assert_int_equal(r.label, 0);
    assert_int_equal(r.top[0], 0);
    assert_int_equal(r.top[1], 1);
    assert_int_equal(r.top[2], 2);
    assert_true(fabsf(r.score - 1.0f / 3) < 1e-6f);
    assert_true(fabsf(r.top_score[2] - 1.0f / 3) < 1e-6f);
    clf_free(c);
    buf_free(&b);
}

/* Version 2 settings: TF-IDF with per-family L2 norm, review threshold and
 * decision offsets survive the round trip, and the scorer applies them
 * exactly: checked against a hand computation. */
static void test_tfidf_round_trip(void **state)
{
    (void)state;
    model_spec_t s = small_spec();
    s.feat.mode = FEAT_SUBLINEAR;
    s.feat.char_min = 2;
    s.feat.char_max = 3;
    s.feat.idf = 1;
    s.feat.l2 = 1;
    /* bits 10: buckets >= 512 are character n-grams. */
    static const uint32_t bk[NR] = {5, 100, 1023, 600};
    static const float idf[NR] = {1.0f, 2.0f, 0.5f, 3.0f};
    static const float dec[NL] = {0.0f, 0.5f, -0.25f};
    s.buckets = bk;
    s.idf = idf;
    s.review_below = 0.7f;
    s.decision = dec;
    buf_t b = BUF_INIT;
    char err[TRI_ERRLEN];
    assert_int_equal(model_write(&s, &b, err, sizeof err), 0);
    model_t *m;
    assert_int_equal(load_exact(b.p, b.len, &m, err, sizeof err), 0);
    assert_int_equal(model_format_version(m), MODEL_FORMAT_VERSION);
    const feat_config_t *fc = model_feat_config(m);
    assert_int_equal(fc->mode, FEAT_SUBLINEAR);
    assert_int_equal(fc->char_min, 2);
    assert_int_equal(fc->char_max, 3);
    assert_int_equal(fc->idf, 1);
    assert_int_equal(fc->l2, 1);
    assert_true(model_review_below(m) == 0.7f);
    assert_memory_equal(model_decision(m), dec, sizeof dec);
    for (uint32_t r = 0; r < NR; r++) {
        uint32_t bucket;
        model_row(m, r, &bucket, NULL);
        assert_true(model_idf(m)[r] == idf[r]);
        assert_int_equal(bucket, bk[r]);
    }
    /* Words 5 (tf 3) and 100 (tf 1), unknown word 7, characters 1023 (tf 1)
     * and 600 (tf 2). Word values: (1+ln 3)*1, 1*2; characters: 1*0.5,
     * (1+ln 2)*3; each family divided by its own norm. */
    uint32_t ids[] = {5, 100, 7, 1023, 600}, cnt[] = {3, 1, 4, 1, 2};
    feat_vec_t fv = {.id = ids, .cnt = cnt, .n = 5};
    float sc[NL];
    uint32_t known;
    model_score_vec(m, &fv, sc, &known);
    assert_int_equal(known, 4);
    double w5 = 1 + log(3.0), w100 = 2, c1023 = 0.5, c600 = (1 + log(2.0)) * 3;
    double nw = sqrt(w5 * w5 + w100 * w100), nc = sqrt(c1023 * c1023 + c600 * c600);
    for (uint32_t c = 0; c < NL; c++) {
        double want = BIAS[c] + (w5 * WEIGHTS[0 * NL + c] + w100 * WEIGHTS[1 * NL + c]) / nw +
                      (c1023 * WEIGHTS[2 * NL + c] + c600 * WEIGHTS[3 * NL + c]) / nc;
        if (fabs(sc[c] - want) > 1e-4)
            fail_msg("label %u: score %g, expected %g", c, sc[c], want);
    }
    /* Settings the scorer cannot honour are refused at write time. */
    s.idf = NULL;
    buf_reset(&b);
    assert_int_equal(model_write(&s, &b, err, sizeof err), TRI_EINVAL);
    model_unref(m);
    buf_free(&b);
}

/* A version 1 file (no SETT) still loads and scores as before; a SETT entry
 * this build does not know is refused when required, skipped otherwise. */
static void test_version1_and_settings(void **state)
{
    (void)state;
    buf_t b = BUF_INIT, h = BUF_INIT;
    write_small(&b);
    secs_t s;
    split(&b, &s);
    static const uint32_t v1[7] = {1, 2, 3, 4, 5, 6, 7};
    assemble_version(&s, v1, 7, 1, &h);
    model_t *m;
    char err[TRI_ERRLEN];
    assert_int_equal(load_exact(h.p, h.len, &m, err, sizeof err), 0);
    assert_int_equal(model_format_version(m), 1);
    check_small_model(m);
    assert_int_equal(model_feat_config(m)->char_max, 0);
    assert_true(model_review_below(m) == 0);
    model_unref(m);
    /* SETT = FEAT (as written) + an entry with key 99. */
    unsigned char sett[64];
    memcpy(sett, s.p[8], s.n[8]);
    size_t n = s.n[8];
    uint32_t extra[4] = {99, 0, 4, 0x3f800000};
    memcpy(sett + n, extra, 16);
    unsigned char *orig = s.p[8];
    size_t orig_n = s.n[8];
    s.p[8] = sett;
    s.n[8] = n + 16;
    assemble(&s, &h);
    assert_int_equal(load_exact(h.p, h.len, &m, err, sizeof err), 0);
    model_unref(m);
    extra[1] = 1; /* required */
    memcpy(sett + n, extra, 16);
    assemble(&s, &h);
    expect_refused(&h, "upgrade triage", "unknown required setting");
    /* Out of order, truncated, bad review threshold. */
    uint32_t review[4] = {2, 0, 4, 0};
    float two = 2.0f;
    memcpy(&review[3], &two, 4);
    memcpy(sett + n, review, 16);
    assemble(&s, &h);
    expect_refused(&h, "review", "review threshold 2");
    uint32_t early[4] = {1, 1, 4, 0};
    memcpy(sett + n, early, 16);
    assemble(&s, &h);
    expect_refused(&h, "order", "FEAT twice");
    s.n[8] = n + 8;
    assemble(&s, &h);
    expect_refused(&h, "truncated", "SETT truncated");
    s.n[8] = 0;
    assemble(&s, &h);
    expect_refused(&h, "FEAT", "no FEAT");
    s.p[8] = orig;
    s.n[8] = orig_n;
    secs_free(&s);
    buf_free(&h);
    buf_free(&b);
}

/* The loader says why it refused a file (model_load_file_why), so the
 * registry counts refusals by reason without reading messages: a path that
 * happens to contain "probe" or "checksum" changes nothing. */
static model_fault_t fault_of(const char *dir, const char *name, const void *data, size_t len)
{
    char path[512], err[TRI_ERRLEN];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(model_save_file(path, data, len, err, sizeof err), 0);
    model_t *m = NULL;
    model_fault_t f = MODEL_FAULT_NONE;
    int rc = model_load_file_why(path, &m, &f, err, sizeof err);
    unlink(path);
    if (!rc) {
        model_unref(m);
        return MODEL_FAULT_NONE;
    }
    assert_null(m);
    return f;
}

static void test_load_fault_codes(void **state)
{
    (void)state;
    char dir[] = "/tmp/triage-test-probe-checksum-XXXXXX";
    assert_non_null(mkdtemp(dir));
    buf_t b = BUF_INIT;
    write_small(&b);
    unsigned char *f = malloc(b.len + 8);
    assert_non_null(f);
    assert_int_equal(fault_of(dir, "ok", b.p, b.len), MODEL_FAULT_NONE);
    assert_int_equal(fault_of(dir, "short", b.p, 10), MODEL_FAULT_TRUNCATED);
    assert_int_equal(fault_of(dir, "cut", b.p, b.len - 1), MODEL_FAULT_TRUNCATED);
    memcpy(f, b.p, b.len);
    memset(f + b.len, 0, 8);
    assert_int_equal(fault_of(dir, "long", f, b.len + 8), MODEL_FAULT_TRUNCATED);
    f[0] ^= 1;
    assert_int_equal(fault_of(dir, "magic", f, b.len), MODEL_FAULT_NOT_A_MODEL);
    f[0] ^= 1;
    f[b.len - 1] ^= 0x40;
    assert_int_equal(fault_of(dir, "flip", f, b.len), MODEL_FAULT_CHECKSUM);
    f[b.len - 1] ^= 0x40;
    wr32(f + 8, MODEL_FORMAT_VERSION + 1);
    fix_checksum(f, b.len);
    assert_int_equal(fault_of(dir, "future", f, b.len), MODEL_FAULT_VERSION);
    /* A missing file is not a fault of its content. */
    model_t *m = NULL;
    model_fault_t fl = MODEL_FAULT_INVALID;
    char path[512], err[TRI_ERRLEN];
    snprintf(path, sizeof path, "%s/none", dir);
    assert_int_equal(model_load_file_why(path, &m, &fl, err, sizeof err), TRI_ENOENT);
    assert_int_equal(fl, MODEL_FAULT_NONE);
    assert_string_equal(model_fault_name(MODEL_FAULT_CHECKSUM), "checksum");
    assert_string_equal(model_fault_name(MODEL_FAULT_NOT_A_MODEL), "not_a_model");
    free(f);
    buf_free(&b);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_fault_codes),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_variants),
        cmocka_unit_test(test_q8_weights),
        cmocka_unit_test(test_q8_refused),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_every_bit_flip),
        cmocka_unit_test(test_bit_flips_with_valid_checksum),
        cmocka_unit_test(test_assembler_matches_writer),
        cmocka_unit_test(hostile_header),
        cmocka_unit_test(hostile_conf),
        cmocka_unit_test(hostile_labels),
        cmocka_unit_test(hostile_table_and_values),
        cmocka_unit_test(hostile_duplicate_bucket),
        cmocka_unit_test(hostile_value_ranges),
        cmocka_unit_test(test_file_round_trip),
        cmocka_unit_test(test_file_changed_in_place),
        cmocka_unit_test(test_refcounting),
        cmocka_unit_test(test_classify_ties),
        cmocka_unit_test(test_tfidf_round_trip),
        cmocka_unit_test(test_version1_and_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
