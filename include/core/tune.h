/* tune — random search with k-fold cross-validation over the trainer's
 * settings (algorithm, word and character n-gram ranges, bits, C or alpha,
 * S/B threshold, min_df, stemming, stop words, TF/IDF weighting).
 *
 * Deterministic under a seed: trial i's settings depend only on (seed, i),
 * folds only on the seed, and folds are scored in place whatever thread ran
 * them, so the same seed and trial count give the same result on any number
 * of threads. A time budget stops the search between trials, so the trials
 * run are a prefix of the same sequence. Trial 0 is always the caller's base
 * settings (the defaults), so the winner is never worse than them in
 * cross-validation.
 *
 * Ownership: tune_trial_t is plain data (the stop-word text it may point to
 * is the compiled-in list). tune_run borrows the set and options. It starts
 * its own threads and joins them before returning; callbacks run on the
 * calling thread. */
#ifndef TUNE_H
#define TUNE_H
#include "core/train.h"
#include <stddef.h>
#include <stdint.h>

typedef struct tune_trial {
    uint32_t index;
    train_opts_t opts;
    double cv_accuracy, cv_macro_f1;
    double seconds;
    char desc[200];         /* the settings, human-readable */
} tune_trial_t;

typedef void (*tune_progress_fn)(void *ctx, const tune_trial_t *trial, const tune_trial_t *best);

typedef struct tune_opts {
    train_opts_t base;      /* trial 0, and what sampling does not vary (seed, top_features) */
    uint32_t folds;         /* k >= 2 */
    uint32_t trials;        /* stop after this many (0: only the budget stops) */
    double budget_s;        /* stop starting trials after this many seconds (0: none) */
    uint64_t seed;
    uint32_t threads;       /* folds scored in parallel, >= 1 */
    tune_progress_fn progress;
    void *progress_ctx;
} tune_opts_t;

/* Runs the search; *best gets the winner and *ran the number of trials. A
 * trial replaces the best so far only when it beats it by more than noise
 * (tune_beats on their fold predictions): the defaults (trial 0) stay unless
 * some setting is clearly better, since a CV edge of a few records among
 * hundreds of trials is mostly luck and does not carry to new data. */
int tune_run(const tune_opts_t *o, const train_set_t *set, tune_trial_t *best, uint32_t *ran, char *err,
             size_t errlen);

/* 1 when a beats b on the same records (right[i] 1 or 0 each): a is right
 * where b is wrong more often than the reverse by more than one standard
 * error of that paired difference (the square root of the records where
 * they disagree, as in McNemar's test). */
int tune_beats(const uint32_t *a, const uint32_t *b, size_t n);

/* Trial i's settings (i = 0: base). */
void tune_sample(const train_opts_t *base, uint64_t seed, uint32_t i, train_opts_t *out);

/* k-fold cross-validation of one setting: mean accuracy and macro-F1 over
 * the concatenated fold predictions. */
int tune_cv(const train_opts_t *opts, const train_set_t *set, uint32_t folds, uint64_t seed, uint32_t threads,
            double *accuracy, double *macro_f1, char *err, size_t errlen);

/* Writes a one-line description of o into buf. */
void tune_describe(const train_opts_t *o, char *buf, size_t len);

#endif
