/* eval — evaluation metrics from a confusion matrix: accuracy, per-label
 * precision/recall/F1/support, macro-F1 (averaged over labels that occur in
 * the truth or the predictions, as scikit-learn does), and the per-period
 * accuracy projection for a changing label mix.
 *
 * Ownership: eval_t is created by eval_new and freed by eval_free. */
#ifndef EVAL_H
#define EVAL_H
#include <stddef.h>
#include <stdint.h>

typedef struct evalm {
    uint32_t n;        /* labels */
    uint64_t *cm;      /* n x n, cm[truth * n + pred] */
    uint64_t total;
} eval_t;

typedef struct eval_label {
    double precision, recall, f1;
    uint64_t support;  /* true count */
    uint64_t predicted;
} eval_label_t;

typedef struct eval_report {
    double accuracy, macro_f1;
    eval_label_t *labels;  /* n, owned by the report */
} eval_report_t;

eval_t *eval_new(uint32_t nlabels);
void eval_free(eval_t *e);
void eval_add(eval_t *e, uint32_t truth, uint32_t pred);
/* Returns 0 or TRI_ENOMEM. */
int eval_compute(const eval_t *e, eval_report_t *r);
void eval_report_free(eval_report_t *r);

/* The report as the JSON object `triage eval --json` prints: records,
 * accuracy, macro_f1, per-label metrics, confusion. NULL when out of memory. */
struct json_t;
struct json_t *eval_report_json(const eval_t *e, const char *const *labels);

/* Projection: for each period m, a_m = sum_i p_i * n_im / sum_i n_im, where p_i
 * is label i's precision and n_im the number of records predicted as label i
 * in period m (what an operator knows without ground truth). counts is
 * nperiods x nlabels. Periods without records are skipped. Outputs the mean of
 * a_m and its 34.1% and 65.9% quantiles (linear interpolation); also writes
 * each a_m to per_period (nperiods, NaN for empty periods) when not NULL. */
int eval_projection(const double *precision, const uint64_t *counts, size_t nperiods, uint32_t nlabels,
                     double *mean, double *q_lo, double *q_hi, double *per_period);

/* The projection per day (month = 0) or month of event time: records
 * (truth[i], pred[i], ts[i]; INT64_MIN = no time, counted in *no_ts and left
 * out) grouped by period, each period's accuracy projected from e's
 * per-label precision (eval_projection) and measured. Returns the object
 * `triage eval --by` reports: {period: by, mean, band: [lo, hi],
 * records_without_ts, periods: [{start, records, projected_accuracy,
 * actual_accuracy}] in time order}; NULL when out of memory. */
struct json_t *eval_by_period(const eval_t *e, const uint32_t *truth, const uint32_t *pred, const int64_t *ts,
                              size_t n, const char *by, size_t *no_ts);

/* Expected calibration error: records binned by confidence (conf[i], the
 * probability of the chosen label, into nbins equal-width bins); the
 * record-weighted mean over bins of |accuracy - mean confidence|. When bins
 * is not NULL it gets, per bin, {count, mean confidence, accuracy}
 * (nbins x 3). */
#define EVAL_ECE_BINS 10
double eval_ece(const float *conf, const uint8_t *correct, size_t n, uint32_t nbins, double *bins);

/* Accuracy over the `coverage` fraction (0..1] of records most confident. */
double eval_accuracy_at_coverage(const float *conf, const uint8_t *correct, size_t n, double coverage);

/* Quantile q in [0,1] of v[0..n) (sorted in place), linear interpolation. */
double eval_quantile(double *v, size_t n, double q);

#endif
