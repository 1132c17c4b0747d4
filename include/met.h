/* met — a small metrics registry rendered in the Prometheus text format.
 *
 * Families (counter, gauge, histogram) have fixed label names; series are
 * created on first use. Label values come from outside (model labels, topic
 * names), so each family holds at most MET_MAX_SERIES series: later ones are
 * folded into one series whose label values are all "_other", keeping the
 * exposition bounded whatever the input.
 *
 * Threads: only one thread (the daemon's loop) may touch a registry; other
 * threads read the text that met_render produced (admin serves a snapshot).
 *
 * Ownership: met_t is created by met_new and freed by met_free; families and
 * series belong to it and are valid until met_free (or met_reset_family). */
#ifndef MET_H
#define MET_H
#include "buf.h"
#include <stddef.h>
#include <stdint.h>

#define MET_MAX_SERIES 256
#define MET_MAX_LABELS 4
#define MET_MAX_BUCKETS 24

enum met_kind { MET_COUNTER, MET_GAUGE, MET_HISTOGRAM };

typedef struct met met_t;
typedef struct met_family met_family_t;

typedef struct met_series {
    double value;                      /* counter / gauge */
    double sum;                        /* histogram */
    uint64_t count;
    uint64_t buckets[MET_MAX_BUCKETS]; /* histogram: non-cumulative counts */
} met_series_t;

met_t *met_new(void);
void met_free(met_t *m);

/* labels: comma-separated label names ("topic,partition") or NULL. For
 * histograms, bounds are the bucket upper bounds (ascending, at most
 * MET_MAX_BUCKETS). Returns NULL on allocation failure. */
met_family_t *met_family(met_t *m, int kind, const char *name, const char *help, const char *labels,
                         const double *bounds, size_t nbounds);

/* The series for these label values (as many as the family's label names;
 * NULL for none). Never NULL unless out of memory. */
met_series_t *met_series(met_family_t *f, const char *const *values);
/* Shorthand for families with no labels or one label. */
met_series_t *met_series0(met_family_t *f);
met_series_t *met_series1(met_family_t *f, const char *v);

static inline void met_inc(met_series_t *s, double v) { if (s) s->value += v; }
static inline void met_set(met_series_t *s, double v) { if (s) s->value = v; }
void met_observe(met_family_t *f, met_series_t *s, double v);

/* Drops every series of a family (for gauges that track a changing set,
 * such as per-partition lag). */
void met_reset_family(met_family_t *f);

/* Appends the exposition text of every family to out. */
void met_render(const met_t *m, buf_t *out);

#endif
