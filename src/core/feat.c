#include "core/feat.h"
#include "core/tri_err.h"

#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

int feat_config_check(const feat_config_t *c, char *err, size_t errlen)
{
    if (c->ngram_min < 1 || c->ngram_max < c->ngram_min || c->ngram_max > FEAT_MAX_NGRAM)
        return tri_errf(err, errlen, TRI_EINVAL, "n-gram range %u-%u invalid (need 1 <= min <= max <= %d)",
                        c->ngram_min, c->ngram_max, FEAT_MAX_NGRAM);
    if (c->bits < FEAT_MIN_BITS || c->bits > FEAT_MAX_BITS)
        return tri_errf(err, errlen, TRI_EINVAL, "bits %u out of range %d-%d", c->bits, FEAT_MIN_BITS,
                        FEAT_MAX_BITS);
    if (c->mode != FEAT_PRESENCE && c->mode != FEAT_COUNTS)
        return tri_errf(err, errlen, TRI_EINVAL, "unknown feature mode %u", c->mode);
    return 0;
}

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

uint64_t feat_token_hash(const feat_config_t *c, const char *s, size_t len)
{
    return XXH3_64bits_withSeed(s, len, c->seed);
}

/* h(t1..tn) = mix(fold(t1..tn) + n*K): order-sensitive, length-separated. */
static inline uint32_t ngram_bucket(const uint64_t *th, size_t n, uint32_t mask)
{
    uint64_t h = th[0];
    for (size_t k = 1; k < n; k++)
        h = rotl(h, 23) * 0x9E3779B97F4A7C15ULL + th[k];
    return (uint32_t)(mix64(h + n * 0xD6E8FEB86659FD93ULL) & mask);
}

uint32_t feat_bucket_of(const feat_config_t *c, const char *const *toks, size_t n)
{
    uint64_t th[FEAT_MAX_NGRAM] = {0};
    if (n > FEAT_MAX_NGRAM)
        n = FEAT_MAX_NGRAM;
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++)
        th[i] = feat_token_hash(c, toks[i], strlen(toks[i]));
    return ngram_bucket(th, n, (uint32_t)((1ULL << c->bits) - 1));
}

static int grow(feat_vec_t *v, size_t need, int want_pos)
{
    /* A vector first used without positions may be reused with them. */
    if (need <= v->cap && (!want_pos || v->pos))
        return 0;
    size_t cap = v->cap ? v->cap : 256;
    while (cap < need)
        cap *= 2;
    uint32_t *id = realloc(v->id, cap * sizeof *id);
    if (!id)
        return TRI_ENOMEM;
    v->id = id;
    if (want_pos || v->pos) {
        uint32_t *pos = realloc(v->pos, cap * sizeof *pos);
        if (!pos)
            return TRI_ENOMEM;
        v->pos = pos;
        uint8_t *nl = realloc(v->nlen, cap);
        if (!nl)
            return TRI_ENOMEM;
        v->nlen = nl;
    }
    v->cap = cap;
    return 0;
}

/* Presence-mode dedupe: a generation-stamped open-addressing set, so clearing
 * it between records costs one increment. */
static int seen_prepare(feat_vec_t *v, size_t n)
{
    size_t want = 64;
    while (want < n * 2)
        want *= 2;
    if (want > v->seen_cap) {
        free(v->seen);
        free(v->seen_gen);
        v->seen = malloc(want * sizeof *v->seen);
        v->seen_gen = calloc(want, sizeof *v->seen_gen);
        if (!v->seen || !v->seen_gen) {
            free(v->seen);
            free(v->seen_gen);
            v->seen = v->seen_gen = NULL;
            v->seen_cap = 0;
            return TRI_ENOMEM;
        }
        v->seen_cap = want;
        v->gen = 0;
    }
    if (++v->gen == 0) {
        memset(v->seen_gen, 0, v->seen_cap * sizeof *v->seen_gen);
        v->gen = 1;
    }
    return 0;
}

static inline int seen_add(feat_vec_t *v, uint32_t b)
{
    size_t mask = v->seen_cap - 1;
    for (size_t i = (b * 2654435761u) & mask;; i = (i + 1) & mask) {
        if (v->seen_gen[i] != v->gen) {
            v->seen_gen[i] = v->gen;
            v->seen[i] = b;
            return 1;
        }
        if (v->seen[i] == b)
            return 0;
    }
}

int feat_extract(const feat_config_t *c, const tok_list_t *toks, feat_vec_t *out, int want_pos)
{
    size_t nt = toks->n;
    out->n = 0;
    if (!nt)
        return 0;
    if (nt > out->th_cap) {
        size_t cap = out->th_cap ? out->th_cap : 128;
        while (cap < nt)
            cap *= 2;
        uint64_t *th = realloc(out->th, cap * sizeof *th);
        if (!th)
            return TRI_ENOMEM;
        out->th = th;
        out->th_cap = cap;
    }
    for (size_t i = 0; i < nt; i++)
        out->th[i] = XXH3_64bits_withSeed(toks->text.p + toks->v[i].off, toks->v[i].len, c->seed);
    size_t span = c->ngram_max - c->ngram_min + 1;
    size_t maxf = nt * span;
    if (grow(out, maxf, want_pos))
        return TRI_ENOMEM;
    int dedupe = c->mode == FEAT_PRESENCE;
    if (dedupe && seen_prepare(out, maxf))
        return TRI_ENOMEM;
    uint32_t mask = (uint32_t)((1ULL << c->bits) - 1);
    size_t k = 0;
    for (size_t i = 0; i < nt; i++) {
        for (uint32_t n = c->ngram_min; n <= c->ngram_max && i + n <= nt; n++) {
            uint32_t b = ngram_bucket(out->th + i, n, mask);
            if (dedupe && !seen_add(out, b))
                continue;
            out->id[k] = b;
            if (want_pos) {
                out->pos[k] = (uint32_t)i;
                out->nlen[k] = (uint8_t)n;
            }
            k++;
        }
    }
    out->n = k;
    return 0;
}

void feat_ngram_text(const tok_list_t *toks, uint32_t pos, uint32_t n, buf_t *out)
{
    for (uint32_t k = 0; k < n && pos + k < toks->n; k++) {
        if (k)
            buf_putc(out, ' ');
        const tok_span_t *t = &toks->v[pos + k];
        buf_append(out, toks->text.p + t->off, t->len);
    }
}

void feat_vec_free(feat_vec_t *v)
{
    free(v->id);
    free(v->pos);
    free(v->nlen);
    free(v->th);
    free(v->seen);
    free(v->seen_gen);
    memset(v, 0, sizeof *v);
}
