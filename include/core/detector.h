/* detector — the category-rate and data-quality detector, the math only: the
 * daemon's alarms role and `triage alarms --replay` feed it the same records
 * and get the same alarms.
 *
 * Records are counted per label (and per (account, label) with by_account)
 * in event-time windows of window_ms, aligned to the epoch. A window closes
 * when the watermark (latest event time seen minus lateness_ms) passes its
 * end; records for a closed window are counted as late and dropped.
 *
 * Rates are shares. When a base window closes, each label series (all
 * accounts, and each account with by_account) is tested at every scale
 * (default 1 h, 6 h, 24 h: sliding windows of whole base windows, updated at
 * each base window): x records of the label among the n records of its group
 * (all, or the account) in the scale's window, against the series' baseline
 * share p0 at that scale. The baseline is an exponentially weighted ratio of
 * the label's and the group's counts (alpha_share per base window), learned
 * from base windows as they leave the scale's window, so a window is never
 * tested against itself and a ramp that takes a day shows at 24 h. The
 * upper tail is the quasi-binomial P(X >= x/phi; n/phi, p0) (regularized
 * incomplete beta), phi the over-dispersion learned from the series' own
 * history (mean squared standardized residual, at least 1). Traffic that
 * doubles with the same mix leaves every share, hence every rate test, alone.
 * With profiles, the expected share of a window is the baseline times the
 * series' share profile for the window's hour of day, and once two weeks
 * are seen its hour of weekday (detector_profile.c): the baseline learns
 * shares divided by their hour's factor, so it holds the level and the
 * profile the rhythm; a window teaches its slot at most twice the slot's
 * expected share, so a burst is not learned as the rhythm, while a label
 * that doubles every night is. Events' baseline_share is the expected share
 * of the window, profile included.
 * A series (a new account, a new label) is tested only once it has
 * min_history base windows of its own baseline and 12 evaluations of
 * dispersion behind it: until then it learns silently.
 *
 * False alarms: all the tests of one evaluation (labels x groups x scales)
 * go through Benjamini-Hochberg at level fdr; under a steady stream that
 * bounds the chance of any rate alarm in an evaluation by fdr, so the
 * expected false alarms per day are at most fdr x evaluations a day
 * (1e-3 x 24 = 0.024 with the defaults). A test also needs x >= min_count and
 * a share at least min_ratio times the baseline. A (series, scale) clears
 * after clear_windows evaluations without p < 0.01 at min_ratio.
 *
 * Incidents: alarming (series, scale) pairs of the same label are one
 * incident, whatever the accounts and scales: an "alarm" event when it
 * opens, an "update" when a member joins, one "clear" when the last member
 * has cleared. The event's top-level fields are those of its strongest
 * member (the smallest p); every member is listed.
 *
 * Volume is a separate signal on the total of all records per base window:
 * an exponentially weighted mean m and variance v (alpha), the quasi-Poisson
 * tails with phi = max(1, v/m) (regularized incomplete gamma);
 * volume_drop below drop_ratio x m, volume_spike above spike_ratio x m,
 * both at p. With `seasonal` (windows that divide a day) the daily rhythm of
 * the volume is learned per time-of-day slot once every slot has been seen
 * on two days, so the morning rush is not a spike.
 *
 * Event times are checked where they enter: a record dated after now plus
 * future_skew_ms, or before ts_floor_ms, is counted in bad_ts and nowhere
 * else; it never moves the watermark (one record dated 9999-12-31 would
 * otherwise turn every later record into a late one). A checkpoint whose
 * watermark lies beyond now plus the skew is refused for the same reason.
 *
 * Data quality per window (at least quality_min records): the share of
 * records the model does not know (clf_text_unknown: under 5% of n-grams known), of low-confidence predictions
 * (score < low_score) and of dead-lettered records raise `quality` alarms
 * when above their thresholds with 95% confidence (so a small window's noise
 * does not); the low-confidence threshold follows the model's own held-out
 * share when it carries one (detector_set_low_baseline); the population stability index of the predicted
 * label mix against the training mix raises `drift` above psi_max (in
 * windows with at least 30 records per label, below which the index mostly
 * measures sampling noise).
 *
 * Ownership: detector_t is created by detector_new and freed by detector_free; event
 * fields passed to the emit callback are valid during the call only. */
#ifndef DETECTOR_H
#define DETECTOR_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum alarm_type { DETECTOR_RAISE = 1, DETECTOR_CLEAR, DETECTOR_UPDATE };
enum alarm_kind { DETECTOR_RATE_SPIKE = 1, DETECTOR_VOLUME_DROP, DETECTOR_DRIFT, DETECTOR_QUALITY, DETECTOR_VOLUME_SPIKE };

#define DETECTOR_MAX_SCALES 4

typedef struct detector_opts {
    int64_t window_ms;      /* 3600000 */
    int64_t lateness_ms;    /* 600000 */
    double p;               /* 1e-4 */
    double min_count;       /* 10 */
    double min_ratio;       /* 1.5: share at least this multiple of the baseline share */
    double fdr;             /* 1e-3: Benjamini-Hochberg level of each evaluation's rate tests */
    double alpha_share;     /* 1/72: weight of the newest base window in a baseline share */
    int64_t scales_ms[DETECTOR_MAX_SCALES]; /* 1h, 6h, 24h: multiples of window_ms, at most 63 of them */
    size_t nscales;         /* 3 */
    double spike_ratio;     /* 2: volume_spike above this multiple of the expected volume */
    int clear_windows;      /* 2 */
    int min_history;        /* 8 */
    double alpha;           /* 0.1: weight of the newest window in the baseline */
    int by_account;         /* also (account, label) series */
    double drop_ratio;      /* 0.5 */
    double quality_min;     /* 50 records in a window before quality figures count */
    double oov_max;         /* 0.25 */
    double low_score;       /* 0.5 */
    double low_max;         /* 0.6: without a model baseline */
    double low_margin;      /* 0.15: with one, the limit is the model's held-out low share + this */
    double dlq_max;         /* 0.05 */
    double psi_max;         /* 0.25 */
    size_t max_series;      /* 20000 */
    int seasonal;           /* 1: expected counts follow the time of day */
    int profiles;           /* 1: expected shares follow the hour of day, and of weekday once two weeks are seen */
    int64_t future_skew_ms; /* 3600000: event times beyond now + this are bad */
    int64_t ts_floor_ms;    /* 946684800000 (2000-01-01): event times before this are bad */
    int64_t (*now_ms)(void); /* the wall clock (NULL: tstamp_now_ms); tests set their own */
} detector_opts_t;

/* One (series, scale) of a rate incident. */
typedef struct detector_member {
    const char *account;    /* NULL: all accounts */
    int64_t scale_ms, window_start, window_end;
    double observed, total, share, baseline_share, ratio, p_value;
} detector_member_t;

struct explain_result;

typedef struct detector_event {
    int type;               /* enum alarm_type */
    int kind;               /* enum alarm_kind */
    const char *label;      /* the label; quality: the figure ("unknown_text"...); NULL for volume */
    const char *account;    /* NULL: all accounts */
    int64_t window_start, window_end;
    double observed, expected, p_value; /* p_value NAN when not a probability */
    const char *model;      /* NAME@VERSION of the last record seen, or NULL */
    int64_t scale_ms;       /* the scale that saw it (volume, quality: the window) */
    double total, share, baseline_share, ratio; /* rate: the group's records, shares; NAN otherwise */
    const char *incident;   /* rate: the incident's id; NULL otherwise */
    const detector_member_t *members; /* rate: every alarming (account, scale) of the label */
    size_t nmembers;
    /* rate alarm and update: the n-grams over-represented in the label's
     * records at the strongest member's scale, and examples (core/explain.h);
     * NULL when there is nothing to say (no texts, clears, other kinds) */
    const struct explain_result *explain;
} detector_event_t;

/* The label of the quality alarm the feedback consumer raises (daemon/feedback.h)
 * when a model version's live accuracy falls well below its held-out one: one
 * alarm per model version, so its identity includes `model`; total is the
 * number of recent feedback records judged. */
#define DETECTOR_FEEDBACK_LABEL "feedback_accuracy"
static inline int detector_event_per_model(const detector_event_t *ev)
{
    return ev->kind == DETECTOR_QUALITY && ev->label && ev->model && !strcmp(ev->label, DETECTOR_FEEDBACK_LABEL);
}

typedef void (*detector_emit_fn)(void *ctx, const detector_event_t *ev);

typedef struct detector_stats {
    uint64_t records, dead, late, windows_closed, alarms, clears;
    uint64_t bad_ts;        /* records with an event time beyond now + skew or before the floor */
    size_t series;
    int64_t watermark;      /* INT64_MIN before the first record */
    size_t active;          /* alarms raised and not cleared */
} detector_stats_t;

typedef struct alarm detector_t;

void detector_opts_default(detector_opts_t *o);
/* Sets o->scales_ms from a list such as "1h,6h,24h" (units m, h, d). */
int detector_parse_scales(detector_opts_t *o, const char *list, char *err, size_t errlen);
const char *detector_kind_name(int kind);
/* What detector_new refuses (scales that are not whole windows...). */
int detector_check_opts(const detector_opts_t *o, char *err, size_t errlen);
detector_t *detector_new(const detector_opts_t *o, detector_emit_fn emit, void *ctx);
void detector_free(detector_t *a);

/* What became of a record. */
enum detector_added { DETECTOR_COUNTED = 0, DETECTOR_LATE, DETECTOR_BAD_TS };

/* One labeled record (account may be NULL; known = n-grams the model knew,
 * < 0 when unknown; score < 0 when unknown). Returns enum detector_added. */
int detector_add(detector_t *a, int64_t ts_ms, const char *label, const char *account, const char *model, int known,
               double score);
/* The same with the record's id and text (the labeled record's excerpt),
 * from which alarms are explained; id and text may be NULL. */
typedef struct detector_rec {
    int64_t ts_ms;
    const char *label, *account, *model;
    int known;
    double score;
    const char *id, *text;
    size_t text_len;
    int features;           /* the record's n-grams; <= 0 when unknown (then only known == 0 is "unknown text") */
} detector_rec_t;
int detector_add_rec(detector_t *a, const detector_rec_t *r);
/* One dead-lettered record. Returns enum detector_added. */
int detector_add_dead(detector_t *a, int64_t ts_ms);
/* Closes every open window (end of a replay). */
void detector_flush(detector_t *a);

/* The model's own share of predictions scoring below low_score on its held-out
 * records (NAN: unknown). A model that is often unsure by nature is judged
 * against that, not against the absolute low_max, so its normal state raises
 * nothing; the limit becomes baseline + low_margin. */
void detector_set_low_baseline(detector_t *a, double share);
/* The training label mix (shares summing to 1) for the drift figure. */
void detector_set_reference(detector_t *a, const char *const *labels, const double *shares, size_t n);

detector_stats_t detector_stats(const detector_t *a);

/* The event as the JSON object published on the alarms topic:
 *   {"type":"alarm"|"update"|"clear","kind":...,"label":...,"account":...|null,
 *    "window_start":RFC3339,"window_end":RFC3339,"observed":...,
 *    "expected":...,"p_value":...|null,"model":...|null,"scale":"6h",
 *    and for rates "total","share","baseline_share","ratio",
 *    "incident":{"id":...,"members":[{"account","scale","window_start",
 *    "window_end","observed","total","share","baseline_share","ratio",
 *    "p_value"}...]},
 *    and when explained "explanation":{"scale":"6h","records":N,
 *    "ngrams":[{"ngram","records","share","baseline_share","ratio"}...],
 *    "examples":[{"id","ts","text"}...]}} */
json_t *detector_event_json(const detector_event_t *ev);

/* A scale as people write it: "1h", "6h", "24h", "30m". */
void detector_scale_name(int64_t ms, char *out, size_t n);

/* Checkpoint: the whole state as JSON (baselines, open windows, active
 * alarms, recent points) and back. */
json_t *detector_save(const detector_t *a);
int detector_load(detector_t *a, const json_t *state, char *err, size_t errlen);

/* For the status page: series (the alarming first), each with its last
 * npoints closed windows {start, observed, expected, lo, hi, alarm}, plus
 * the latest quality figures. */
json_t *detector_status(const detector_t *a, size_t npoints, size_t max_series);

/* Upper and lower Poisson tails for real-valued x (exposed for tests):
 * P(X >= x) and P(X <= x) for X ~ Poisson(lambda). */
double detector_poisson_upper(double x, double lambda);
double detector_poisson_lower(double x, double lambda);

#endif
