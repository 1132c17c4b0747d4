#include "daemon/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct series_ent {
    char *values[METRICS_MAX_LABELS];
    metrics_series_t s;
} series_ent_t;

struct metrics_family {
    int kind;
    char *name, *help;
    char *label_names[METRICS_MAX_LABELS];
    size_t nlabels;
    double bounds[METRICS_MAX_BUCKETS];
    size_t nbounds;
    series_ent_t **series;  /* individually allocated: callers keep pointers */
    size_t nseries, cap;
    series_ent_t *other;   /* overflow series */
};

struct met {
    metrics_family_t **fam;
    size_t n, cap;
};

metrics_t *metrics_new(void) { return calloc(1, sizeof(metrics_t)); }

static void free_ent(series_ent_t *e, size_t nl)
{
    for (size_t i = 0; i < nl; i++)
        free(e->values[i]);
}

void metrics_reset_family(metrics_family_t *f)
{
    for (size_t i = 0; i < f->nseries; i++) {
        free_ent(f->series[i], f->nlabels);
        free(f->series[i]);
    }
    f->nseries = 0;
    if (f->other) {
        free_ent(f->other, f->nlabels);
        free(f->other);
        f->other = NULL;
    }
}

void metrics_free(metrics_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        metrics_family_t *f = m->fam[i];
        metrics_reset_family(f);
        free(f->series);
        for (size_t k = 0; k < f->nlabels; k++)
            free(f->label_names[k]);
        free(f->name);
        free(f->help);
        free(f);
    }
    free(m->fam);
    free(m);
}

metrics_family_t *metrics_family(metrics_t *m, int kind, const char *name, const char *help, const char *labels,
                         const double *bounds, size_t nbounds)
{
    if (nbounds > METRICS_MAX_BUCKETS)
        return NULL;
    /* Two modules may count the same thing (each output's delivery
     * failures): one family, so the exposition never repeats a name. */
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->fam[i]->name, name))
            return m->fam[i]->kind == kind ? m->fam[i] : NULL;
    metrics_family_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->kind = kind;
    f->name = strdup(name);
    f->help = strdup(help);
    if (labels && *labels) {
        const char *p = labels;
        while (*p && f->nlabels < METRICS_MAX_LABELS) {
            const char *e = strchr(p, ',');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            f->label_names[f->nlabels++] = strndup(p, l);
            p += l + (e ? 1 : 0);
        }
    }
    if (bounds) {
        memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
        f->nbounds = nbounds;
    }
    if (m->n == m->cap) {
        metrics_family_t **v = buf_grow(m->fam, &m->cap, sizeof *v, 32);
        if (!v) {
            free(f->name);
            free(f->help);
            free(f);
            return NULL;
        }
        m->fam = v;
    }
    m->fam[m->n++] = f;
    return f;
}

metrics_series_t *metrics_series(metrics_family_t *f, const char *const *values)
{
    for (size_t i = 0; i < f->nseries; i++) {
        size_t k = 0;
        while (k < f->nlabels && !strcmp(f->series[i]->values[k], values[k] ? values[k] : ""))
            k++;
        if (k == f->nlabels)
            return &f->series[i]->s;
    }
    if (f->nseries >= METRICS_MAX_SERIES) {
        if (!f->other) {
            f->other = calloc(1, sizeof *f->other);
            if (!f->other)
                return NULL;
            for (size_t k = 0; k < f->nlabels; k++)
                f->other->values[k] = strdup("_other");
        }
        return &f->other->s;
    }
    if (f->nseries == f->cap) {
        series_ent_t **v = buf_grow(f->series, &f->cap, sizeof *v, 8);
        if (!v)
            return NULL;
        f->series = v;
    }
    series_ent_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    for (size_t k = 0; k < f->nlabels; k++) {
        e->values[k] = strdup(values[k] ? values[k] : "");
        if (!e->values[k]) {
            free_ent(e, k);
            free(e);
            return NULL;
        }
    }
    f->series[f->nseries++] = e;
    return &e->s;
}

metrics_series_t *metrics_series0(metrics_family_t *f) { return metrics_series(f, NULL); }
metrics_series_t *metrics_series1(metrics_family_t *f, const char *v) { return metrics_series(f, &v); }

void metrics_observe(metrics_family_t *f, metrics_series_t *s, double v)
{
    if (!s)
        return;
    size_t i = 0;
    while (i < f->nbounds && v > f->bounds[i])
        i++;
    if (i < f->nbounds)
        s->buckets[i]++;
    s->sum += v;
    s->count++;
}

/* Label values are escaped per the exposition format (\\, \", \n). */
static void put_labels(buf_t *b, const metrics_family_t *f, char *const *values, const char *extra_k, const char *extra_v)
{
    if (!f->nlabels && !extra_k)
        return;
    buf_putc(b, '{');
    for (size_t k = 0; k < f->nlabels; k++) {
        if (k)
            buf_putc(b, ',');
        buf_puts(b, f->label_names[k]);
        buf_puts(b, "=\"");
        for (const char *p = values[k]; *p; p++) {
            if (*p == '\\' || *p == '"')
                buf_putc(b, '\\');
            if (*p == '\n') {
                buf_puts(b, "\\n");
                continue;
            }
            buf_putc(b, *p);
        }
        buf_putc(b, '"');
    }
    if (extra_k) {
        if (f->nlabels)
            buf_putc(b, ',');
        buf_printf(b, "%s=\"%s\"", extra_k, extra_v);
    }
    buf_putc(b, '}');
}

static void put_num(buf_t *b, double v)
{
    if (isnan(v))
        buf_puts(b, "NaN");
    else if (isinf(v))
        buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        buf_printf(b, "%.0f", v);
    else
        buf_printf(b, "%.9g", v);
}

static void render_series(buf_t *b, const metrics_family_t *f, const series_ent_t *e)
{
    if (f->kind != METRICS_HISTOGRAM) {
        buf_puts(b, f->name);
        put_labels(b, f, e->values, NULL, NULL);
        buf_putc(b, ' ');
        put_num(b, e->s.value);
        buf_putc(b, '\n');
        return;
    }
    uint64_t cum = 0;
    for (size_t i = 0; i < f->nbounds; i++) {
        char le[32];
        cum += e->s.buckets[i];
        snprintf(le, sizeof le, "%g", f->bounds[i]);
        buf_printf(b, "%s_bucket", f->name);
        put_labels(b, f, e->values, "le", le);
        buf_printf(b, " %llu\n", (unsigned long long)cum);
    }
    buf_printf(b, "%s_bucket", f->name);
    put_labels(b, f, e->values, "le", "+Inf");
    buf_printf(b, " %llu\n", (unsigned long long)e->s.count);
    buf_printf(b, "%s_sum", f->name);
    put_labels(b, f, e->values, NULL, NULL);
    buf_putc(b, ' ');
    put_num(b, e->s.sum);
    buf_printf(b, "\n%s_count", f->name);
    put_labels(b, f, e->values, NULL, NULL);
    buf_printf(b, " %llu\n", (unsigned long long)e->s.count);
}

void metrics_render(const metrics_t *m, buf_t *b)
{
    static const char *const kinds[] = {"counter", "gauge", "histogram"};
    for (size_t i = 0; i < m->n; i++) {
        const metrics_family_t *f = m->fam[i];
        buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, kinds[f->kind]);
        /* A family without labels always shows its one series, even at zero. */
        if (!f->nlabels && !f->nseries) {
            series_ent_t z = {0};
            render_series(b, f, &z);
            continue;
        }
        for (size_t k = 0; k < f->nseries; k++)
            render_series(b, f, f->series[k]);
        if (f->other)
            render_series(b, f, f->other);
    }
}
