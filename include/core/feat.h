/* feat — word n-grams hashed into 2^bits buckets.
 *
 * Each token is hashed once (XXH3, seeded); an n-gram's hash folds its tokens'
 * hashes in order, so "a b" and "b a" differ, and is finished with a 64-bit
 * mixer before taking the low `bits` bits. The hash is part of the model file's
 * contract: FEAT_HASH_VERSION is stored in every model and a model built with
 * another version is refused.
 *
 * Ownership: feat_vec_t is caller-owned, reused across calls, freed with
 * feat_vec_free. */
#ifndef FEAT_H
#define FEAT_H
#include "core/tok.h"
#include <stddef.h>
#include <stdint.h>

#define FEAT_HASH_VERSION 1
#define FEAT_MAX_NGRAM 5
#define FEAT_MIN_BITS 8
#define FEAT_MAX_BITS 30

enum feat_mode { FEAT_PRESENCE = 0, FEAT_COUNTS = 1 };

typedef struct feat_config {
    uint32_t ngram_min, ngram_max;  /* 1 <= min <= max <= FEAT_MAX_NGRAM */
    uint32_t bits;                  /* FEAT_MIN_BITS..FEAT_MAX_BITS */
    uint64_t seed;
    uint32_t mode;                  /* enum feat_mode */
} feat_config_t;

typedef struct feat_vec {
    uint32_t *id;        /* bucket per feature; repeated in FEAT_COUNTS mode */
    uint32_t *pos;       /* with want_pos: first token of the n-gram */
    uint8_t *nlen;       /* with want_pos: n of the n-gram */
    size_t n, cap;
    /* scratch */
    uint64_t *th;        /* token hashes */
    size_t th_cap;
    uint32_t *seen;      /* dedupe set for presence mode: generation-stamped */
    uint32_t *seen_gen;
    uint32_t gen;
    size_t seen_cap;
} feat_vec_t;

/* Checks ranges; returns 0 or TRI_EINVAL with a message. */
int feat_config_check(const feat_config_t *c, char *err, size_t errlen);

/* Extracts the n-gram buckets of toks into out. In presence mode each bucket
 * appears once (the first occurrence's position is kept). With want_pos the
 * pos/nlen arrays are filled too (training uses them to name features).
 * Returns 0 or TRI_ENOMEM. */
int feat_extract(const feat_config_t *c, const tok_list_t *toks, feat_vec_t *out, int want_pos);

/* Hash of one token as used for n-grams (exposed for tests). */
uint64_t feat_token_hash(const feat_config_t *c, const char *s, size_t len);

/* Bucket of the n-gram made of the given token strings (for tests, inspect). */
uint32_t feat_bucket_of(const feat_config_t *c, const char *const *toks, size_t n);

/* Appends the n-gram's text (tokens joined by spaces) to out. */
void feat_ngram_text(const tok_list_t *toks, uint32_t pos, uint32_t n, buf_t *out);

void feat_vec_free(feat_vec_t *v);

#endif
