#include "core/feat.h"
#include "core/tri_err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

const char *feat_mode_name(uint32_t mode)
{
    static const char *const names[] = {"presence", "counts", "sublinear"};
    return mode <= FEAT_SUBLINEAR ? names[mode] : "?";
}

int feat_config_check(const feat_config_t *c, char *err, size_t errlen)
{
    if (c->ngram_min < 1 || c->ngram_max < c->ngram_min || c->ngram_max > FEAT_MAX_NGRAM)
        return tri_errf(err, errlen, TRI_EINVAL, "n-gram range %u-%u invalid (need 1 <= min <= max <= %d)",
                        c->ngram_min, c->ngram_max, FEAT_MAX_NGRAM);
    if (c->bits < FEAT_MIN_BITS || c->bits > FEAT_MAX_BITS)
        return tri_errf(err, errlen, TRI_EINVAL, "bits %u out of range %d-%d", c->bits, FEAT_MIN_BITS,
                        FEAT_MAX_BITS);
    if (c->mode > FEAT_SUBLINEAR)
        return tri_errf(err, errlen, TRI_EINVAL, "unknown feature mode %u", c->mode);
    if ((c->char_min || c->char_max) &&
        (c->char_min < 1 || c->char_max < c->char_min || c->char_max > FEAT_MAX_CHARGRAM))
        return tri_errf(err, errlen, TRI_EINVAL, "character n-gram range %u-%u invalid (need 1 <= min <= max <= %d)",
                        c->char_min, c->char_max, FEAT_MAX_CHARGRAM);
    if (c->idf > 1 || c->l2 > 1)
        return tri_errf(err, errlen, TRI_EINVAL, "idf and l2 are flags (0 or 1)");
    if ((c->idf || c->l2) && c->mode != FEAT_SUBLINEAR)
        return tri_errf(err, errlen, TRI_EINVAL, "idf and l2 need sublinear term frequency");
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

static inline uint32_t word_mask(const feat_config_t *c)
{
    uint32_t mask = (uint32_t)((1ULL << c->bits) - 1);
    return c->char_max ? mask >> 1 : mask;
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
    return ngram_bucket(th, n, word_mask(c));
}

/* Salt of character n-gram hashes (the low bits of pi): keeps them apart from
 * word n-grams, whose hashes are finished with n * 0xD6E8... instead. */
#define CHAR_SALT 0x243F6A8885A308D3ULL

/* With character n-grams the bucket space is split: words in the lower
 * half, characters in the upper, so the scorer knows a bucket's family. */
static inline uint32_t char_bucket(const char *s, size_t len, uint64_t seed, uint32_t mask)
{
    return (uint32_t)(mix64(XXH3_64bits_withSeed(s, len, seed ^ CHAR_SALT)) & (mask >> 1)) | ((mask >> 1) + 1);
}

uint32_t feat_char_bucket_of(const feat_config_t *c, const char *s, size_t len)
{
    return char_bucket(s, len, c->seed, (uint32_t)((1ULL << c->bits) - 1));
}

int feat_is_char(const feat_config_t *c, uint32_t bucket) { return c->char_max && (bucket >> (c->bits - 1)) & 1; }

float feat_tf_weight(const feat_config_t *c, uint32_t tf)
{
    if (c->mode == FEAT_SUBLINEAR)
        return tf > 1 ? 1.0f + logf((float)tf) : 1.0f;
    return 1.0f;
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
    uint32_t *cnt = realloc(v->cnt, cap * sizeof *cnt);
    if (!cnt)
        return TRI_ENOMEM;
    v->cnt = cnt;
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
        free(v->seen_k);
        free(v->seen_gen);
        v->seen = malloc(want * sizeof *v->seen);
        v->seen_k = malloc(want * sizeof *v->seen_k);
        v->seen_gen = calloc(want, sizeof *v->seen_gen);
        if (!v->seen || !v->seen_k || !v->seen_gen) {
            free(v->seen);
            free(v->seen_k);
            free(v->seen_gen);
            v->seen = v->seen_gen = v->seen_k = NULL;
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

/* Adds bucket b (to become id[k]); returns 1 when new, else 0 and the index
 * of its first occurrence in *first. */
static inline int seen_add(feat_vec_t *v, uint32_t b, size_t k, size_t *first)
{
    size_t mask = v->seen_cap - 1;
    for (size_t i = (b * 2654435761u) & mask;; i = (i + 1) & mask) {
        if (v->seen_gen[i] != v->gen) {
            v->seen_gen[i] = v->gen;
            v->seen[i] = b;
            v->seen_k[i] = (uint32_t)k;
            return 1;
        }
        if (v->seen[i] == b) {
            *first = v->seen_k[i];
            return 0;
        }
    }
}

/* Appends bucket b at out->id[*k] unless deduplicated. */
static inline void emit(feat_vec_t *out, int dedupe, uint32_t b, uint32_t pos, uint8_t nlen, int want_pos,
                        size_t *k)
{
    size_t first;
    if (dedupe && !seen_add(out, b, *k, &first)) {
        out->cnt[first]++;
        return;
    }
    out->id[*k] = b;
    out->cnt[*k] = 1;
    if (want_pos) {
        out->pos[*k] = pos;
        out->nlen[*k] = nlen;
    }
    (*k)++;
}

/* Character n-grams of one token, padded with a space on each side. */
static void char_ngrams(const feat_config_t *c, const char *t, size_t len, uint32_t ti, feat_vec_t *out,
                        int dedupe, int want_pos, uint32_t mask, size_t *k)
{
    char pad[TOK_MAX_BYTES + 8];
    uint8_t cp[TOK_MAX_BYTES + 8]; /* byte offset of each code point, and the end */
    if (len > TOK_MAX_BYTES + 4)
        len = TOK_MAX_BYTES + 4;
    pad[0] = ' ';
    memcpy(pad + 1, t, len);
    pad[len + 1] = ' ';
    size_t nb = len + 2, ncp = 0;
    for (size_t i = 0; i < nb; i++)
        if (((unsigned char)pad[i] & 0xC0) != 0x80)
            cp[ncp++] = (uint8_t)i;
    cp[ncp] = (uint8_t)nb;
    for (uint32_t n = c->char_min; n <= c->char_max; n++) {
        if (ncp <= n) {
            emit(out, dedupe, char_bucket(pad, nb, c->seed, mask), ti << 8, (uint8_t)(FEAT_CHAR_FLAG | ncp),
                 want_pos, k);
            break;
        }
        for (size_t i = 0; i + n <= ncp; i++)
            emit(out, dedupe, char_bucket(pad + cp[i], (size_t)(cp[i + n] - cp[i]), c->seed, mask),
                 ti << 8 | (uint32_t)i, (uint8_t)(FEAT_CHAR_FLAG | n), want_pos, k);
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
    /* A padded token of m code points gives at most m + 1 n-grams per n. */
    if (c->char_max)
        maxf += (toks->text.len + 3 * nt) * (c->char_max - c->char_min + 1);
    if (grow(out, maxf, want_pos))
        return TRI_ENOMEM;
    int dedupe = c->mode != FEAT_COUNTS;
    if (dedupe && seen_prepare(out, maxf))
        return TRI_ENOMEM;
    uint32_t mask = (uint32_t)((1ULL << c->bits) - 1);
    size_t k = 0;
    uint32_t wmask = word_mask(c);
    for (size_t i = 0; i < nt; i++)
        for (uint32_t n = c->ngram_min; n <= c->ngram_max && i + n <= nt; n++)
            emit(out, dedupe, ngram_bucket(out->th + i, n, wmask), (uint32_t)i, (uint8_t)n, want_pos, &k);
    if (c->char_max)
        for (size_t i = 0; i < nt; i++)
            char_ngrams(c, toks->text.p + toks->v[i].off, toks->v[i].len, (uint32_t)i, out, dedupe, want_pos, mask,
                        &k);
    out->n = k;
    return 0;
}

void feat_ngram_text(const tok_list_t *toks, uint32_t pos, uint32_t nlen, buf_t *out)
{
    if (nlen & FEAT_CHAR_FLAG) {
        uint32_t ti = pos >> 8, first = pos & 0xFF, n = nlen & ~FEAT_CHAR_FLAG, cpi = 0;
        if (ti >= toks->n)
            return;
        const tok_span_t *t = &toks->v[ti];
        /* Walk the padded token " t " code point by code point. */
        size_t nb = (size_t)t->len + 2;
        for (size_t i = 0; i < nb; i++) {
            char ch = i == 0 || i == nb - 1 ? ' ' : toks->text.p[t->off + i - 1];
            if (((unsigned char)ch & 0xC0) != 0x80)
                cpi++;
            if (cpi > first && cpi <= first + n)
                buf_putc(out, ch == ' ' ? '_' : ch);
        }
        return;
    }
    uint32_t n = nlen;
    for (uint32_t k = 0; k < n && pos + k < toks->n; k++) {
        if (k)
            buf_putc(out, ' ');
        const tok_span_t *t = &toks->v[pos + k];
        buf_append(out, toks->text.p + t->off, t->len);
    }
}

size_t feat_vec_memory(const feat_vec_t *v)
{
    return v->cap * (sizeof *v->id + sizeof *v->cnt) + (v->pos ? v->cap * (sizeof *v->pos + sizeof *v->nlen) : 0) +
           v->th_cap * sizeof *v->th + v->seen_cap * (sizeof *v->seen + sizeof *v->seen_k + sizeof *v->seen_gen);
}

void feat_vec_free(feat_vec_t *v)
{
    free(v->id);
    free(v->pos);
    free(v->nlen);
    free(v->th);
    free(v->cnt);
    free(v->seen);
    free(v->seen_k);
    free(v->seen_gen);
    memset(v, 0, sizeof *v);
}
