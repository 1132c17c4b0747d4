/* feat — word n-grams and character n-grams hashed into 2^bits buckets, and
 * how a record's features are weighted.
 *
 * Each token is hashed once (XXH3, seeded); an n-gram's hash folds its tokens'
 * hashes in order, so "a b" and "b a" differ, and is finished with a 64-bit
 * mixer before taking the low `bits` bits. The hash is part of the model file's
 * contract: FEAT_HASH_VERSION is stored in every model and a model built with
 * another version is refused.
 *
 * Character n-grams (char_min..char_max, 0 = off) are taken within each token
 * padded with one space on each side, in code points, as scikit-learn's
 * analyzer='char_wb' does on words: "fly" with 2-3 gives " f", "fl", "ly",
 * "y ", " fl", "fly", "ly "; a padded token shorter than n gives itself once
 * and ends that token's longer n-grams. With them the bucket space is split:
 * word n-grams hash into the lower half, character n-grams into the upper
 * half, so the two families never share a bucket and the scorer can tell
 * them apart.
 *
 * Weighting (FEAT_SUBLINEAR mode, idf, l2) is applied by the scorer: a feature
 * occurring tf times in a record has value (1 + ln tf) * idf(row), and with l2
 * each family's values (word n-grams, character n-grams) are divided by that
 * family's Euclidean norm over the features the model knows, as
 * scikit-learn's union of two TF-IDF vectorisers does: the many character
 * n-grams do not drown the few words. Presence and counts modes give 1 per feature or per
 * occurrence, unnormalised (the Naive Bayes shape).
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

#define FEAT_MAX_CHARGRAM 8

enum feat_mode { FEAT_PRESENCE = 0, FEAT_COUNTS = 1, FEAT_SUBLINEAR = 2 };

typedef struct feat_config {
    uint32_t ngram_min, ngram_max;  /* 1 <= min <= max <= FEAT_MAX_NGRAM */
    uint32_t bits;                  /* FEAT_MIN_BITS..FEAT_MAX_BITS */
    uint64_t seed;
    uint32_t mode;                  /* enum feat_mode */
    uint32_t char_min, char_max;    /* character n-grams, 0 0 = none; else 1 <= min <= max <= FEAT_MAX_CHARGRAM */
    uint32_t idf;                   /* 1: rows carry an IDF weight (needs FEAT_SUBLINEAR) */
    uint32_t l2;                    /* 1: values L2-normalised per record (needs FEAT_SUBLINEAR) */
} feat_config_t;

typedef struct feat_vec {
    uint32_t *id;        /* bucket per feature; repeated in FEAT_COUNTS mode */
    uint32_t *cnt;       /* FEAT_SUBLINEAR: occurrences of id[k] in the record (ids distinct) */
    uint32_t *pos;       /* with want_pos: first token of the n-gram; for a character
                            n-gram, token << 8 | first code point in the padded token */
    uint8_t *nlen;       /* with want_pos: n of the n-gram; FEAT_CHAR_FLAG set for characters */
    size_t n, cap;
    /* scratch */
    uint64_t *th;        /* token hashes */
    size_t th_cap;
    uint32_t *seen;      /* dedupe set for presence and sublinear modes: generation-stamped */
    uint32_t *seen_k;    /* index in id[] of each seen bucket */
    uint32_t *seen_gen;
    uint32_t gen;
    size_t seen_cap;
} feat_vec_t;

/* "presence", "counts", "sublinear" (or "?"). */
const char *feat_mode_name(uint32_t mode);

/* Checks ranges; returns 0 or TRI_EINVAL with a message. */
int feat_config_check(const feat_config_t *c, char *err, size_t errlen);

#define FEAT_CHAR_FLAG 0x80

/* Extracts the n-gram buckets of toks into out. In presence and sublinear
 * modes each bucket appears once (the first occurrence's position is kept;
 * sublinear counts occurrences in cnt). With want_pos the
 * pos/nlen arrays are filled too (training uses them to name features).
 * Returns 0 or TRI_ENOMEM. */
int feat_extract(const feat_config_t *c, const tok_list_t *toks, feat_vec_t *out, int want_pos);

/* Hash of one token as used for n-grams (exposed for tests). */
uint64_t feat_token_hash(const feat_config_t *c, const char *s, size_t len);

/* Bucket of the n-gram made of the given token strings (for tests, inspect). */
uint32_t feat_bucket_of(const feat_config_t *c, const char *const *toks, size_t n);

/* Bucket of one character n-gram given as its UTF-8 bytes, padding spaces
 * included (" fl"): for tests and inspect. */
uint32_t feat_char_bucket_of(const feat_config_t *c, const char *s, size_t len);

/* 1 when bucket belongs to a character n-gram (only with char n-grams on). */
int feat_is_char(const feat_config_t *c, uint32_t bucket);

/* The value the scorer gives a feature seen tf times (before IDF and norm). */
float feat_tf_weight(const feat_config_t *c, uint32_t tf);

/* Appends the n-gram's text to out: word n-grams as tokens joined by spaces,
 * character n-grams as their characters with the padding shown as '_'
 * (pos and nlen as feat_extract gives them). */
void feat_ngram_text(const tok_list_t *toks, uint32_t pos, uint32_t nlen, buf_t *out);

/* Bytes v's arrays hold. */
size_t feat_vec_memory(const feat_vec_t *v);

void feat_vec_free(feat_vec_t *v);

#endif
