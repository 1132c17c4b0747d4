/* metrics — a small metrics registry rendered in the Prometheus text format.
 *
 * Families (counter, gauge, histogram) have fixed label names; series are
 * created on first use. Label values come from outside (model labels, topic
 * names), so each family holds at most METRICS_MAX_SERIES series: later ones are
 * folded into one series whose label values are all "_other", keeping the
 * exposition bounded whatever the input.
 *
 * Threads: only one thread (the daemon's loop) may touch a registry; other
 * threads read the text that metrics_render produced (admin serves a snapshot).
 *
 * Ownership: metrics_t is created by metrics_new and freed by metrics_free; families and
 * series belong to it and are valid until metrics_free (or metrics_reset_family). */
#ifndef METRICS_H
#define METRICS_H
#include "core/buf.h"
#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_SERIES 256
#define METRICS_MAX_LABELS 4
#define METRICS_MAX_BUCKETS 24

enum metrics_kind { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

typedef struct met metrics_t;
typedef struct metrics_family metrics_family_t;

typedef struct metrics_series {
    double value;                      /* counter / gauge */
    double sum;                        /* histogram */
    uint64_t count;
    uint64_t buckets[METRICS_MAX_BUCKETS]; /* histogram: non-cumulative counts */
} metrics_series_t;

metrics_t *metrics_new(void);
void metrics_free(metrics_t *m);

/* labels: comma-separated label names ("topic,partition") or NULL. For
 * histograms, bounds are the bucket upper bounds (ascending, at most
 * METRICS_MAX_BUCKETS). Returns NULL on allocation failure. */
metrics_family_t *metrics_family(metrics_t *m, int kind, const char *name, const char *help, const char *labels,
                         const double *bounds, size_t nbounds);

/* The series for these label values (as many as the family's label names;
 * NULL for none). Never NULL unless out of memory. */
metrics_series_t *metrics_series(metrics_family_t *f, const char *const *values);
/* Shorthand for families with no labels or one label. */
metrics_series_t *metrics_series0(metrics_family_t *f);
metrics_series_t *metrics_series1(metrics_family_t *f, const char *v);

static inline void metrics_inc(metrics_series_t *s, double v) { if (s) s->value += v; }
static inline void metrics_set(metrics_series_t *s, double v) { if (s) s->value = v; }
void metrics_observe(metrics_family_t *f, metrics_series_t *s, double v);

/* Drops every series of a family (for gauges that track a changing set,
 * such as per-partition lag). */
void metrics_reset_family(metrics_family_t *f);

/* Appends the exposition text of every family to out. */
void metrics_render(const metrics_t *m, buf_t *out);

#endif
