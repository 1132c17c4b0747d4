/* train — trainers that produce the linear model shape of model.h.
 *
 * Multinomial, Bernoulli and complement Naive Bayes with Lidstone smoothing
 * (alpha), over hashed n-grams, after feature selection by document count
 * and by the signal-to-background ratio: for label A and n-gram t, S/B =
 * docs(t, A) / docs(t, not A); t is kept when some label has S/B > sb (sb <= 0
 * disables the test) and docs(t) >= min_df.
 *
 * Discriminative trainers through LIBLINEAR (the library scikit-learn's
 * LinearSVC and LogisticRegression(liblinear) wrap): "svm" is the L2-loss
 * linear SVM (dual solver), "lr" L2-regularised logistic regression, both
 * one-vs-rest with a bias term, over the features with docs(t) >= min_df,
 * valued as feat.h says (sublinear TF, IDF = ln((1+N)/(1+df)) + 1, L2 norm).
 * LIBLINEAR's weight vectors become the rows of the linear scorer unchanged
 * (for two labels, w and -w), so the scorer's decisions are LIBLINEAR's.
 *
 * train_run is the whole of `triage train` as a library call (seeded holdout,
 * measurement and temperature there, refit, metadata, probe texts, model
 * bytes): the CLI, `triage tune`, the per-account trainer and the tests all
 * call it, so a model means the same whichever of them built it.
 *
 * Ownership: train_out_t and train_result_t own their arrays, JSON, bytes and
 * model (train_out_free, train_result_free). The training set and options are
 * borrowed. Every function here is reentrant: separate calls may run on
 * separate threads. */
#ifndef TRAIN_H
#define TRAIN_H
#include "core/buf.h"
#include "core/eval.h"
#include "core/feat.h"
#include "core/model.h"
#include "core/tok.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum train_algo { TRAIN_NB = 0, TRAIN_BNB, TRAIN_CNB, TRAIN_LR, TRAIN_SVM };

typedef struct train_opts {
    int algo;               /* enum train_algo */
    double alpha;           /* Lidstone smoothing, > 0 (Naive Bayes) */
    double C;               /* inverse regularisation, > 0 (lr, svm) */
    double sb;              /* signal/background threshold; <= 0: off */
    uint32_t min_df;        /* minimum document count of a kept n-gram */
    tok_config_t tok;
    feat_config_t feat;
    uint32_t top_features;  /* n-grams named per label for `triage inspect` */
    uint32_t weights_q8;    /* lr and svm: store weights as int8 with a scale per label
                               (a quarter of the size; the holdout and calibration see them so) */
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
    float *idf;             /* nrows when feat.idf, else NULL */
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

/* Name of an algorithm ("nb", "bnb", "cnb", "lr", "svm") and back (-1 when unknown). */
const char *train_algo_name(int algo);
int train_algo_parse(const char *s);

/* Fits the softmax temperature minimizing the negative log-likelihood of the
 * true labels given raw scores (n x nlabels). Returns 1 when n == 0. */
float train_fit_temperature(const float *raw, const uint32_t *truth, size_t n, uint32_t nlabels);

/* Options of train_run: the fit, plus what surrounds it. */
typedef struct train_run_opts {
    train_opts_t fit;
    double holdout;         /* fraction held out to measure and calibrate, [0,1); 0: none */
    uint32_t seed;          /* of the holdout split */
    int refit;              /* refit on every record after measuring (else keep the fit without the holdout) */
    const json_t *meta;     /* caller's metadata merged into the model's (name, data provenance); borrowed */
    double review_below;    /* review threshold stored in the model; 0: none */
    double review_precision;/* else: the lowest threshold whose held-out non-review records reach this
                               precision (needs a holdout); 0: none */
    double cost[2];         /* two-label tasks: cost of an error on a record of label 0, of label 1;
                               both 0: plain argmax */
} train_run_opts_t;

typedef struct train_calib {
    float temperature;      /* softmax temperature */
    float review_below;     /* review threshold, 0: none */
    const float *decision;  /* nlabels decision offsets, or NULL */
} train_calib_t;

#define TRAIN_CONF_BINS 20

typedef struct train_result {
    buf_t bytes;            /* the model file, ready for model_save_file or the store */
    model_t *model;         /* those bytes loaded */
    eval_t *holdout;        /* truth x prediction on the held-out records; NULL without holdout */
    size_t nhold, nfit;     /* records held out; records the final model was fitted on */
    float temperature;
    double holdout_ece;     /* expected calibration error of the held-out scores */
    float review_below;     /* review threshold stored (given or chosen), 0: none */
    double review_share;    /* share of held-out records below it (when chosen) */
    uint32_t conf_hist[TRAIN_CONF_BINS]; /* held-out top scores in bins of 1/TRAIN_CONF_BINS: the model's normal
                                            confidence, so the daemon judges low confidence against it */
    float decision[2];      /* log costs when has_decision */
    int has_decision;
    train_calib_t calib;    /* what the model file got */
    uint32_t nrows;         /* feature rows kept */
    size_t candidates;      /* distinct features seen */
} train_result_t;

/* Trains a model on set as `triage train` does. Returns 0 or an error. */
int train_run(const train_run_opts_t *o, const train_set_t *set, train_result_t *res, char *err, size_t errlen);
/* The train_run options m was trained with (train_settings.c): its tokenizer
 * and features as stored in the file, the trainer, holdout, review and cost
 * settings from its metadata (o->meta NULL). Borrowed pointers (stop words)
 * point into m, which must outlive their use. 0 or TRI_EINVAL. */
int train_opts_from_model(const model_t *m, train_run_opts_t *o, char *err, size_t errlen);
void train_result_free(train_result_t *r);

/* Classifies set->text[idx[i]] (i < n; idx NULL: the first n) with m:
 * pred[i] the label index, raw (n x nlabels) the raw scores, conf[i] the
 * chosen label's probability; any of the three may be NULL. */
int train_predict(model_t *m, const train_set_t *set, const size_t *idx, size_t n, uint32_t *pred, float *raw,
                  float *conf, char *err, size_t errlen);

/* Writes fit as model bytes (spec of train_out_spec, metadata meta) and
 * loads them into *loaded (the loader's checks are the writer's test). */
int train_build_model(const train_out_t *fit, const train_opts_t *to, const train_set_t *set, const train_calib_t *cal,
                      const json_t *meta, buf_t *bytes, model_t **loaded, char *err, size_t errlen);

/* The review threshold for a wanted precision: the lowest score t such that
 * the records scoring >= t (score[i]: probability of the chosen label,
 * correct[i]: it was right) are right at least `precision` of the time.
 * *share gets the fraction below t. 1 when no such t. */
float train_review_threshold(const float *score, const uint8_t *correct, size_t n, double precision, double *share);

/* The seeded permutation train_run holds out from (Fisher-Yates, splitmix64). */
void train_shuffle(size_t *idx, size_t n, uint64_t seed);
uint64_t train_splitmix(uint64_t *state);

/* LIBLINEAR's dual solvers draw their visiting order from rand(); triage
 * defines rand() per thread (train_linear.c) and reseeds it before every
 * training. This reseeds the calling thread's sequence the same way, so a
 * test can run LIBLINEAR's train() on the same problem and get the same model. */
void train_linear_reseed(void);

/* The LIBLINEAR solver and stopping tolerance lr and svm train with. */
int train_linear_solver(int algo);
double train_linear_eps(void);

#endif
