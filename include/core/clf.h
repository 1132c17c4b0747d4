/* clf — classify one text with one model: prepare, tokenize, extract
 * features, score.
 *
 * A clf_t binds the text preparation and the tokenizer built from the model's
 * own stored configuration to that model, so text is always prepared and
 * tokenized the way the model was trained. clf_new refuses a model whose
 * stored preparation mode this build does not know.
 *
 * Ownership: clf_new takes its own reference on the model (released by
 * clf_free). A clf_t holds scratch buffers and a stemmer: one per thread. */
#ifndef CLF_H
#define CLF_H
#include "core/lang.h"
#include "core/model.h"
#include "core/prep.h"
#include <stddef.h>
#include <stdint.h>

#define CLF_TOP 3

typedef struct clf_result {
    uint32_t label;               /* chosen label index (best probability, or best cost-weighted) */
    float score;                  /* its probability in [0,1] */
    int review;                   /* score is below the model's review threshold */
    int review_lang;              /* its language is one the model was not trained on (lang.h) */
    char lang[LANG_CODE_MAX];     /* language of the prepared text ("und": undetermined) */
    int lang_reliable;            /* CLD2 called the language reliable */
    uint32_t ntop;                /* min(CLF_TOP, nlabels) */
    uint32_t top[CLF_TOP];
    float top_score[CLF_TOP];
    uint32_t ntokens, nfeatures, nknown;  /* nknown == 0: no feature known to the model */
    const float *raw;             /* raw scores, valid until the next call */
} clf_result_t;

/* Whether a text is one the model does not know: fewer than CLF_KNOWN_MIN_SHARE
 * of its features have a row in the model (features < 0: count not available,
 * then only "none known" counts). Features are hashed, so a text in a language
 * the model never saw still lands a few of its n-grams on kept rows by
 * collision (a model keeping ~100,000 rows of 2^22 buckets: ~2.4% of any
 * text's n-grams); "no feature known" alone would call such text known. */
#define CLF_KNOWN_MIN_SHARE 0.05
static inline int clf_text_unknown(long long known, long long features)
{
    return known == 0 || (features > 0 && (double)known < CLF_KNOWN_MIN_SHARE * (double)features);
}

typedef struct clf clf_t;

int clf_new(model_t *m, clf_t **out, char *err, size_t errlen);
void clf_free(clf_t *c);
model_t *clf_model(const clf_t *c);
/* Bytes a scorer holds besides its model (tokenizer caches, scratch). */
size_t clf_memory(const clf_t *c);

/* Classifies text that is already prepared (no language detection: lang is
 * "und"). Returns 0 or TRI_ENOMEM. */
int clf_classify(clf_t *c, const char *text, size_t len, clf_result_t *r);

/* Returned by clf_classify_fields when nothing is left after preparation. */
#define CLF_NO_TEXT 1

/* Prepares a record's text fields with the model's stored mode (prep.h),
 * classifies, and detects the prepared text's language, marking the record
 * for review (review_lang) when the model's training mix says it was not
 * trained on it. Returns 0, CLF_NO_TEXT or TRI_ENOMEM. */
int clf_classify_fields(clf_t *c, const prep_field_t *f, size_t n, clf_result_t *r);

/* Turns language detection in clf_classify_fields off (on = 0) or on (the
 * default): off, lang stays "und" and no record is marked for its language.
 * CLD2 costs about 6 us a short text, more than scoring one. */
void clf_set_lang(clf_t *c, int on);

/* The model's text preparation mode (enum prep_mode). */
int clf_prep_mode(const clf_t *c);

/* The model's training language mix (present = 0 when it stores none). */
const lang_mix_t *clf_lang_mix(const clf_t *c);

/* The text the last clf_classify_fields call prepared (valid until the next). */
const char *clf_prepared(const clf_t *c, size_t *len);

/* The smoke test of a loaded model: every probe text stored in its metadata
 * at training time must get its expected label. Catches a damaged or
 * mismatched model that still parses. Returns 0 or TRI_EINVAL with the first
 * mismatch in err. Uses its own scorer (thread-safe). */
int clf_probe(model_t *m, char *err, size_t errlen);

/* Fills r from raw scores (used by trainers that score without text). */
void clf_result_from_scores(const model_t *m, const float *raw, float *probs, clf_result_t *r);

#endif
