/* accuracy — live accuracy from feedback: per model version (NAME@VERSION)
 * and per final label, how many predictions the agents confirmed and how many
 * they corrected, over everything counted and over the model's last `window`
 * feedback records; and the quality judgement of the recent accuracy against
 * the model's held-out accuracy (stored in the model by `triage train`).
 *
 * Judgement: a model alarms when it has at least min_records in its window
 * and the upper end of the 95% Wilson interval of its recent accuracy lies
 * below holdout - margin (so a few unlucky records in a small window do not
 * alarm); it clears when the recent accuracy itself is back at or above
 * holdout - margin. Without a held-out accuracy nothing is judged.
 *
 * Memory is bounded: at most max_models models (the least recently counted
 * is forgotten beyond it, counted in `evicted`) and max_labels labels per
 * model (further labels count in the model's totals and in `other`), the
 * window one bit per record.
 *
 * Ownership: acc_t is created by acc_new and freed by acc_free; names returned
 * belong to it. Not thread-safe. */
#ifndef ACCURACY_H
#define ACCURACY_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct acc_opts {
    size_t max_models;    /* 16 */
    size_t max_labels;    /* 64 per model */
    size_t window;        /* 1000 records of recent accuracy per model */
    size_t min_records;   /* 200 in the window before judging */
    double margin;        /* 0.1 below the held-out accuracy */
} acc_opts_t;

typedef struct acc_label {
    char *name;
    uint64_t n, right;    /* feedback records with this final label; predicted right */
} acc_label_t;

typedef struct acc_model {
    char *name;           /* NAME@VERSION */
    uint64_t n, right;    /* every feedback record counted */
    uint64_t win_n, win_right; /* the last min(n, window) */
    uint8_t *bits;        /* window outcomes, a ring */
    size_t pos;
    acc_label_t *labels;
    size_t nlabels;
    uint64_t other_n, other_right; /* labels beyond max_labels */
    double holdout;       /* held-out accuracy, NAN when unknown */
    int alarm;            /* judged below its held-out accuracy */
    uint64_t last_use;
} acc_model_t;

typedef struct acc acc_t;

/* What a tally did to its model's judgement. */
enum acc_change { ACC_SAME = 0, ACC_RAISE, ACC_CLEAR };

void acc_opts_default(acc_opts_t *o);
acc_t *acc_new(const acc_opts_t *o);
void acc_free(acc_t *a);

/* Counts one feedback record: the model's prediction against the final
 * label. Returns enum acc_change, or -1 out of memory; *out (may be NULL)
 * gets the model's tally. */
int acc_tally(acc_t *a, const char *model, const char *label, const char *predicted, const acc_model_t **out);
/* Sets a model's held-out accuracy (NAN: unknown), creating its entry, and
 * judges it again. Returns enum acc_change or -1. */
int acc_set_holdout(acc_t *a, const char *model, double holdout, const acc_model_t **out);

/* The model's tally, or NULL. */
const acc_model_t *acc_get(const acc_t *a, const char *model);
size_t acc_count(const acc_t *a);
const acc_model_t *acc_at(const acc_t *a, size_t i);
uint64_t acc_evicted(const acc_t *a);

/* right / n, NAN for n == 0. */
double acc_ratio(uint64_t right, uint64_t n);
/* Upper end of the 95% Wilson score interval of right / n (1 for n == 0). */
double acc_wilson_upper(uint64_t right, uint64_t n);

/* The state as JSON for the status page: [{"model","records","right",
 * "accuracy","recent":{"records","right","accuracy"},"holdout_accuracy",
 * "alarm","labels":[{"label","records","right","accuracy"}...]}...]. */
json_t *acc_json(const acc_t *a);

#endif
