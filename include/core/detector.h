/* alarm — the category-rate and data-quality detector, the math only: the
 * daemon's alarms role and `triage alarms --replay` feed it the same records
 * and get the same alarms.
 *
 * Records are counted per label (and per (account, label) with by_account)
 * in event-time windows of window_ms, aligned to the epoch. A window closes
 * when the watermark (latest event time seen minus lateness_ms) passes its
 * end; records for a closed window are counted as late and dropped.
 *
 * When a window closes, each series' count x is compared with its expected
 * count: an exponentially weighted mean m with an exponentially weighted
 * variance v (overdispersion: real traffic varies more than Poisson). The
 * upper-tail probability is the quasi-Poisson P(X >= x/phi; m/phi) with
 * phi = max(1, v/m) (regularized incomplete gamma). A series alarms
 * (rate_spike) when that probability is below p, x >= min_count and
 * x >= min_ratio * m, and it has min_history windows behind it; it clears
 * after clear_windows normal windows. The baseline learns from every window
 * but an alarming window counts only up to m + 3 sqrt(v), so a spike does not
 * teach the baseline to expect spikes. The total volume is a series too and
 * raises volume_drop on the lower tail (x <= drop_ratio * m).
 *
 * With `seasonal` (windows that divide a day, at most 96 a day), support
 * traffic's daily rhythm is learned from the total volume: each time-of-day
 * slot's share of a typical day, once every slot has been seen on two days.
 * Series levels are then kept without it and a window's expected count is
 * the level times its slot's share, so the morning rush is not a spike.
 *
 * Event times are checked where they enter: a record dated after now plus
 * future_skew_ms, or before ts_floor_ms, is counted in bad_ts and nowhere
 * else; it never moves the watermark (one record dated 9999-12-31 would
 * otherwise turn every later record into a late one). A checkpoint whose
 * watermark lies beyond now plus the skew is refused for the same reason.
 *
 * Data quality per window (at least quality_min records): the share of
 * records with no n-gram known to the model, of low-confidence predictions
 * (score < low_score) and of dead-lettered records raise `quality` alarms
 * above their thresholds; the population stability index of the predicted
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

enum alarm_type { DETECTOR_RAISE = 1, DETECTOR_CLEAR };
enum alarm_kind { DETECTOR_RATE_SPIKE = 1, DETECTOR_VOLUME_DROP, DETECTOR_DRIFT, DETECTOR_QUALITY };

typedef struct detector_opts {
    int64_t window_ms;      /* 3600000 */
    int64_t lateness_ms;    /* 600000 */
    double p;               /* 1e-4 */
    double min_count;       /* 10 */
    double min_ratio;       /* 1.5 */
    int clear_windows;      /* 2 */
    int min_history;        /* 8 */
    double alpha;           /* 0.1: weight of the newest window in the baseline */
    int by_account;         /* also (account, label) series */
    double drop_ratio;      /* 0.5 */
    double quality_min;     /* 50 records in a window before quality figures count */
    double oov_max;         /* 0.25 */
    double low_score;       /* 0.5 */
    double low_max;         /* 0.6 */
    double dlq_max;         /* 0.05 */
    double psi_max;         /* 0.25 */
    size_t max_series;      /* 20000 */
    int seasonal;           /* 1: expected counts follow the time of day */
    int64_t future_skew_ms; /* 3600000: event times beyond now + this are bad */
    int64_t ts_floor_ms;    /* 946684800000 (2000-01-01): event times before this are bad */
    int64_t (*now_ms)(void); /* the wall clock (NULL: tstamp_now_ms); tests set their own */
} detector_opts_t;

typedef struct detector_event {
    int type;               /* enum alarm_type */
    int kind;               /* enum alarm_kind */
    const char *label;      /* the label; quality: the figure ("unknown_text"...); NULL for volume */
    const char *account;    /* NULL: all accounts */
    int64_t window_start, window_end;
    double observed, expected, p_value; /* p_value NAN when not a probability */
    const char *model;      /* NAME@VERSION of the last record seen, or NULL */
} detector_event_t;

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
const char *detector_kind_name(int kind);
detector_t *detector_new(const detector_opts_t *o, detector_emit_fn emit, void *ctx);
void detector_free(detector_t *a);

/* What became of a record. */
enum detector_added { DETECTOR_COUNTED = 0, DETECTOR_LATE, DETECTOR_BAD_TS };

/* One labeled record (account may be NULL; known = n-grams the model knew,
 * < 0 when unknown; score < 0 when unknown). Returns enum detector_added. */
int detector_add(detector_t *a, int64_t ts_ms, const char *label, const char *account, const char *model, int known,
               double score);
/* One dead-lettered record. Returns enum detector_added. */
int detector_add_dead(detector_t *a, int64_t ts_ms);
/* Closes every open window (end of a replay). */
void detector_flush(detector_t *a);

/* The training label mix (shares summing to 1) for the drift figure. */
void detector_set_reference(detector_t *a, const char *const *labels, const double *shares, size_t n);

detector_stats_t detector_stats(const detector_t *a);

/* The event as the JSON object published on the alarms topic:
 *   {"type":"alarm"|"clear","kind":...,"label":...,"account":...|null,
 *    "window_start":RFC3339,"window_end":RFC3339,"observed":...,
 *    "expected":...,"p_value":...|null,"model":...|null} */
json_t *detector_event_json(const detector_event_t *ev);

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
