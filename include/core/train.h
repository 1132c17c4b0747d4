/* train — trainers that produce the linear model shape of model.h.
 *
 * Now: multinomial, Bernoulli and complement Naive Bayes with Lidstone
 * smoothing (alpha), over hashed n-grams, after feature selection by
 * document count and by the signal-to-background ratio: for label A and
 * n-gram t, S/B = docs(t, A) / docs(t, not A); t is kept when some label has
 * S/B > sb (sb <= 0 disables the test) and docs(t) >= min_df.
 *
 * Ownership: train_out_t owns its arrays and JSON (train_out_free). The
 * training set is borrowed. */
#ifndef TRAIN_H
#define TRAIN_H
#include "core/feat.h"
#include "core/model.h"
#include "core/tok.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum train_algo { TRAIN_NB = 0, TRAIN_BNB, TRAIN_CNB };

typedef struct train_opts {
    int algo;               /* enum train_algo */
    double alpha;           /* Lidstone smoothing, > 0 */
    double sb;              /* signal/background threshold; <= 0: off */
    uint32_t min_df;        /* minimum document count of a kept n-gram */
    tok_config_t tok;
    feat_config_t feat;
    uint32_t top_features;  /* n-grams named per label for `triage inspect` */
} train_opts_t;

typedef struct train_set {
    size_t n;
    const char *const *text;
    const size_t *len;
    const uint32_t *label;  /* < nlabels */
    uint32_t nlabels;
    const char *const *labels;
} train_set_t;

typedef struct train_out {
    uint32_t nlabels;
    float *bias;            /* nlabels */
    uint32_t nrows;
    uint32_t *buckets;      /* nrows */
    float *weights;         /* nrows * nlabels */
    uint64_t *label_docs;   /* documents per label */
    size_t ndocs;
    size_t candidates;      /* distinct buckets seen before selection */
    json_t *top_features;   /* {label: [{"ngram", "weight", "docs"}...]} */
} train_out_t;

/* Trains on the documents set->text[idx[i]] (all of them when idx is NULL). */
int train_fit(const train_opts_t *o, const train_set_t *set, const size_t *idx, size_t nidx,
              train_out_t *out, char *err, size_t errlen);
void train_out_free(train_out_t *o);

/* The spec model_write needs (arrays borrowed from o). */
void train_out_spec(const train_out_t *o, const train_opts_t *opts, const train_set_t *set, float temperature,
                    const char *meta_json, model_spec_t *spec);

/* Name of an algorithm ("nb", "bnb", "cnb") and back (-1 when unknown). */
const char *train_algo_name(int algo);
int train_algo_parse(const char *s);

/* Fits the softmax temperature minimizing the negative log-likelihood of the
 * true labels given raw scores (n x nlabels). Returns 1 when n == 0. */
float train_fit_temperature(const float *raw, const uint32_t *truth, size_t n, uint32_t nlabels);

#endif
