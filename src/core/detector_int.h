/* detector_int — the detector's private state, shared by its modules:
 * detector.c (series, windows, volume and quality), detector_rate.c (label
 * shares at several scales, incidents), detector_state.c (checkpoint, status,
 * event JSON) and detector_math.c (tail probabilities).
 *
 * Ownership: everything hangs off struct alarm, owned by detector_new /
 * detector_free; one thread at a time. */
#ifndef DETECTOR_INT_H
#define DETECTOR_INT_H
#include "core/detector.h"
#include "core/explain.h"

#define NPOINTS 48
#define MAX_OPEN 64         /* open windows at once (lateness / window + 2 is enough) */
#define RING 64             /* base-window counts kept per series: the longest scale + 1 */
#define TOTAL_LABEL "(all records)"

enum { S_LABEL, S_TOTAL, S_GROUP }; /* S_GROUP: one account's total, the denominator of its shares */
enum { Q_OOV, Q_LOW, Q_DLQ, Q_PSI, NQ };

typedef struct point {
    int64_t start;
    float observed, expected, lo, hi;
    uint8_t alarm;
} point_t;

/* One series at one scale: the baseline share is learned from base windows
 * as they leave the scale's window, so the window under test is never part
 * of its own baseline. */
typedef struct scale_state {
    double bx, bn;          /* EWMA of the label's and its group's counts per base window */
    uint32_t nb;            /* base windows learned */
    double disp;            /* EWMA of the squared standardized residual: over-dispersion */
    uint32_t nd;
    int alarming, streak;
    int64_t raised_end;
    double x, n, p0, p;     /* the last evaluation */
} scale_state_t;

/* A label series' share by hour of day and by hour of weekday
 * (detector_profile.c). */
typedef struct profile {
    float x[24], n[24];     /* EWMA of the label's and the group's counts per window, per hour of day */
    uint16_t d[24];         /* windows learned per hour */
    float wx[168], wn[168]; /* the same per hour of weekday */
    uint16_t wd[168];
} profile_t;

typedef struct series {
    char *label, *account;
    int kind;
    size_t group;           /* S_LABEL: index of its group's total (S_TOTAL or S_GROUP) */
    int64_t born;           /* base window index of its first record */
    double mean, var;       /* S_TOTAL: the volume baseline */
    uint32_t n;             /* windows in that baseline */
    int alarming, streak, vkind;
    int64_t raised_start;
    double raised_observed, raised_expected, raised_p;
    uint32_t ring[RING];    /* counts of the last base windows, by window index % RING */
    scale_state_t sc[DETECTOR_MAX_SCALES];
    point_t pts[NPOINTS];
    uint32_t npts;          /* points written in all (ring index = npts % NPOINTS) */
    uint64_t recent;        /* records in the last closed windows, for ordering */
    profile_t *prof;        /* S_LABEL: its share profile, from its first learned window; or NULL */
} series_t;

typedef struct window {
    int64_t start;
    uint32_t *counts;       /* per series index */
    size_t cap;
    uint64_t n, dead, known_n, known0, score_n, low;
} window_t;

typedef struct qstate {
    int alarming, streak;
    double last;
    int64_t raised_start;
} qstate_t;

typedef struct incident {
    char *label;
    char *id;
    int64_t opened;         /* window end when it opened */
    size_t members;         /* at the last update */
    explain_result_t *why;  /* the explanation at the last alarm or update, or NULL */
} incident_t;

struct alarm {
    detector_opts_t o;
    detector_emit_fn emit;
    void *ctx;
    series_t **s;
    size_t ns, caps;
    size_t *map;            /* open addressing: index + 1 */
    size_t mapcap;
    size_t total;           /* index of the volume series */
    window_t w[MAX_OPEN];
    size_t nw;
    int64_t watermark, closed_until, max_ts;
    char *model;
    char **ref_labels;
    double *ref_shares;
    size_t nref;
    double low_base;        /* NAN: no model baseline (detector_set_low_baseline) */
    qstate_t q[NQ];
    size_t nslots;          /* time-of-day slots of the volume profile; 0: off */
    double prof[96];
    uint32_t prof_n[96];
    incident_t *inc;
    size_t ninc, capinc;
    explain_t *ex;          /* n-grams and examples per label */
    detector_stats_t st;
};

/* detector.c */
extern const char *const detector_qnames[NQ];
/* The latest event time believed now (now + future_skew_ms). */
int64_t detector_ts_limit(const detector_t *a);
size_t detector_series_get(detector_t *a, const char *label, const char *account, int kind);
void detector_emit(detector_t *a, detector_event_t *ev);
window_t *detector_window_get(detector_t *a, int64_t start);
void detector_window_count(window_t *w, size_t idx);
void detector_push_point(series_t *s, int64_t start, double x, double m, double lo, double hi, int alarm);

/* detector_rate.c: the label shares of the base window that just closed
 * (window index t, counts already in the rings). */
void detector_rates(detector_t *a, int64_t start);
/* Calls fn with an "alarm" event for every open incident, as it stands. */
void detector_incident_events(const detector_t *a, detector_emit_fn fn, void *ctx);
int detector_incident_restore(detector_t *a, const char *label, const char *id, int64_t opened);
/* Whether the label has an open incident (its explanation baseline then waits). */
int detector_incident_open(void *a, const char *label);

/* detector_profile.c: the share factor of base window t (1: none yet), and
 * learning window t's counts; checkpoint form. */
double detector_profile_factor(const detector_t *a, const series_t *s, int64_t t);
void detector_profile_learn(detector_t *a, series_t *s, int64_t t, double x, double n);
json_t *detector_profile_save(const series_t *s);
void detector_profile_load(series_t *s, const json_t *v);

/* detector_math.c */
double detector_binom_upper(double x, double n, double p);
double detector_bh_threshold(double *p, size_t m, double q);

#endif
