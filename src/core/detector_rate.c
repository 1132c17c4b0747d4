/* Label shares at several time scales, Benjamini-Hochberg across one
 * evaluation's tests, and incidents (see detector.h for the model). */
#include "detector_int.h"
#include "core/tstamp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MIN_DISP_EVALS 12   /* evaluations of dispersion before a series may alarm */
#define MIN_BASE_RECORDS 50 /* records of the group behind a baseline share */
#define Z2_CAP 16           /* one wild window moves the dispersion estimate at most this much */
#define DISP_FROM 24        /* base windows of baseline before residuals teach the dispersion */
#define CALM_P 0.01         /* an alarm clears after windows above this p (or halfway below min_ratio) */

typedef struct test {
    size_t s, j;
    double p;
} test_t;

static uint32_t ring_at(const series_t *s, int64_t t) { return s->ring[(uint64_t)t % RING]; }

static double ring_sum(const series_t *s, int64_t t, int64_t k)
{
    double v = 0;
    for (int64_t i = 0; i < k; i++)
        v += ring_at(s, t - i);
    return v;
}

static int64_t scale_windows(const detector_t *a, size_t j) { return a->o.scales_ms[j] / a->o.window_ms; }

/* Windows' worth of records behind a baseline (an EWMA remembers about 1/alpha). */
static double base_windows(const detector_t *a, const scale_state_t *c)
{
    double w = 1 / a->o.alpha_share;
    return c->nb < w ? c->nb : w;
}

/* The baseline share, with half a record of prior so a label never seen is
 * not infinitely surprising. */
static double base_share(const detector_t *a, const scale_state_t *c)
{
    double w = base_windows(a, c);
    return (c->bx * w + 0.5) / (c->bn * w + 1);
}

static double disp_of(const scale_state_t *c) { return c->disp > 1 ? c->disp : 1; }

/* The share profile's weight over the scale's window: sum of n_i f_i / n,
 * so the window expects n x baseline x this many of the label. */
static double window_factor(const detector_t *a, const series_t *s, int64_t t, int64_t k)
{
    double nf = 0, n = 0;
    for (int64_t i = 0; i < k; i++) {
        double ni = ring_at(a->s[s->group], t - i);
        nf += ni * detector_profile_factor(a, s, t - i);
        n += ni;
    }
    return n > 0 ? nf / n : 1;
}

/* Learns the base window leaving the scale's window (index t - k), clipped
 * when the baseline is established so an incident does not become normal,
 * and divided by its hour's factor so the baseline is the rhythm's level. */
static void learn_share(detector_t *a, series_t *s, scale_state_t *c, int64_t t, int64_t k)
{
    int64_t h = t - k;
    if (h < s->born)
        return;
    double f = detector_profile_factor(a, s, h);
    double xh = ring_at(s, h), nh = ring_at(a->s[s->group], h);
    if (c->nb >= (uint32_t)a->o.min_history) {
        double p0 = fmin(0.999, base_share(a, c) * f);
        double cap = nh * p0 + 4 * sqrt(disp_of(c) * nh * p0 * (1 - p0)) + 2;
        if (xh > cap)
            xh = cap;
    }
    xh /= f;
    c->nb++;
    double al = a->o.alpha_share > 1.0 / c->nb ? a->o.alpha_share : 1.0 / c->nb;
    c->bx += al * (xh - c->bx);
    c->bn += al * (nh - c->bn);
}

/* Evaluates one series at one scale: 1 when it is tested (p set). */
static int evaluate_share(detector_t *a, series_t *s, scale_state_t *c, int64_t t, int64_t k)
{
    c->x = ring_sum(s, t, k);
    c->n = ring_sum(a->s[s->group], t, k);
    c->p = NAN;
    c->p0 = NAN;
    int tested = 0;
    /* Over-dispersion comes from the base scale: its windows do not overlap,
     * so a week of them estimates it; overlapping 24 h windows would need
     * months. The same extra variance per base window carries over to sums
     * of them. */
    const scale_state_t *c0 = &s->sc[0];
    /* A baseline covers at least one window of its own scale. */
    uint32_t need = (uint32_t)(a->o.min_history > k ? a->o.min_history : k);
    if (c->nb >= need && c->bn * base_windows(a, c) >= MIN_BASE_RECORDS && c->n > 0) {
        double p0 = fmin(0.999, base_share(a, c) * window_factor(a, s, t, k)), phi = disp_of(c0);
        c->p0 = p0;
        if (c0->nd >= MIN_DISP_EVALS) {
            c->p = detector_binom_upper(c->x / phi, c->n / phi, p0);
            tested = 1;
        }
        /* Residuals against a baseline of a few windows say more about the
         * baseline than about the series: dispersion is learned after a day. */
        if (c->nb >= DISP_FROM) {
            double d = c->x - c->n * p0, z2 = d * d / (c->n * p0 * (1 - p0));
            c->nd++;
            double al = 1.0 / 48 > 1.0 / c->nd ? 1.0 / 48 : 1.0 / c->nd;
            c->disp += al * ((z2 < Z2_CAP ? z2 : Z2_CAP) - c->disp);
        }
    }
    learn_share(a, s, c, t, k);
    return tested;
}

/* ---- incidents ---- */

static incident_t *incident_find(detector_t *a, const char *label)
{
    for (size_t i = 0; i < a->ninc; i++)
        if (!strcmp(a->inc[i].label, label))
            return &a->inc[i];
    return NULL;
}

static incident_t *incident_add(detector_t *a, const char *label, const char *id, int64_t opened)
{
    if (a->ninc == a->capinc) {
        size_t cap = a->capinc ? a->capinc * 2 : 8;
        incident_t *v = realloc(a->inc, cap * sizeof *v);
        if (!v)
            return NULL;
        a->inc = v;
        a->capinc = cap;
    }
    incident_t *in = &a->inc[a->ninc];
    in->label = strdup(label);
    in->id = strdup(id);
    in->opened = opened;
    in->members = 0;
    in->why = NULL;
    if (!in->label || !in->id) {
        free(in->label);
        free(in->id);
        return NULL;
    }
    a->ninc++;
    return in;
}

int detector_incident_open(void *a, const char *label) { return incident_find(a, label) != NULL; }

int detector_incident_restore(detector_t *a, const char *label, const char *id, int64_t opened)
{
    return incident_find(a, label) || incident_add(a, label, id, opened) ? 0 : -1;
}

static void member_of(const detector_t *a, const series_t *s, size_t j, int64_t end, detector_member_t *m)
{
    const scale_state_t *c = &s->sc[j];
    *m = (detector_member_t){s->account, a->o.scales_ms[j], end - a->o.scales_ms[j], end, c->x, c->n,
                             c->n > 0 ? c->x / c->n : NAN, c->p0, c->n > 0 ? c->x / c->n / c->p0 : NAN, c->p};
}

/* The event of an incident: its strongest member's figures, every member. */
static void incident_event(const incident_t *in, int type, const detector_member_t *mem, size_t nm,
                           const detector_member_t *top, detector_event_t *out)
{
    *out = (detector_event_t){.type = type,
                           .kind = DETECTOR_RATE_SPIKE,
                           .label = in->label,
                           .account = top->account,
                           .window_start = top->window_start,
                           .window_end = top->window_end,
                           .observed = top->observed,
                           .expected = top->total * top->baseline_share,
                           .p_value = top->p_value,
                           .scale_ms = top->scale_ms,
                           .total = top->total,
                           .share = top->share,
                           .baseline_share = top->baseline_share,
                           .ratio = top->ratio,
                           .incident = in->id,
                           .members = mem,
                           .nmembers = nm,
                           .explain = in->why};
}

/* The incident's explanation at its strongest member's scale and window. */
static void incident_explain(const detector_t *a, incident_t *in, const detector_member_t *top)
{
    size_t j = 0;
    while (j + 1 < a->o.nscales && a->o.scales_ms[j] != top->scale_ms)
        j++;
    if (!in->why && !(in->why = malloc(sizeof *in->why)))
        return;
    if (explain_get(a->ex, in->label, top->account, j, top->window_start, in->why)) {
        free(in->why);
        in->why = NULL;
    }
}

static void incident_emit(detector_t *a, int type, const incident_t *in, const detector_member_t *mem, size_t nm,
                          const detector_member_t *top)
{
    detector_event_t ev;
    incident_event(in, type, mem, nm, top, &ev);
    detector_emit(a, &ev);
}

/* Every alarming (series, scale) of a label, as members (caller frees). */
static detector_member_t *collect_members(const detector_t *a, const char *label, int64_t end, size_t *nm,
                                          size_t *top)
{
    size_t cap = 0;
    detector_member_t *mem = NULL;
    *nm = *top = 0;
    for (size_t k = 0; k < a->ns; k++) {
        const series_t *s = a->s[k];
        if (s->kind != S_LABEL || strcmp(s->label, label))
            continue;
        for (size_t j = 0; j < a->o.nscales; j++) {
            if (!s->sc[j].alarming)
                continue;
            if (*nm == cap) {
                cap = cap ? cap * 2 : 8;
                detector_member_t *v = realloc(mem, cap * sizeof *v);
                if (!v)
                    return mem;
                mem = v;
            }
            member_of(a, s, j, end, &mem[(*nm)++]);
        }
    }
    for (size_t i = 1; i < *nm; i++)
        if (mem[i].p_value < mem[*top].p_value)
            *top = i;
    return mem;
}

void detector_incident_events(const detector_t *a, detector_emit_fn fn, void *ctx)
{
    for (size_t i = 0; i < a->ninc; i++) {
        size_t nm, top;
        detector_member_t *mem = collect_members(a, a->inc[i].label, a->closed_until, &nm, &top);
        if (nm) {
            detector_event_t ev;
            incident_event(&a->inc[i], DETECTOR_RAISE, mem, nm, &mem[top], &ev);
            ev.model = a->model;
            fn(ctx, &ev);
        }
        free(mem);
    }
}

/* Brings the label's incident up to date after an evaluation in which one of
 * its (series, scale) pairs was raised (raised) or cleared (last: that one). */
static void incident_update(detector_t *a, const char *label, int raised, const series_t *last, size_t lastj,
                            int64_t end)
{
    size_t nm, top;
    detector_member_t *mem = collect_members(a, label, end, &nm, &top);
    incident_t *in = incident_find(a, label);
    if (!in && nm) {
        char id[300], t[40];
        tstamp_format(end, t, sizeof t);
        snprintf(id, sizeof id, "%.200s@%s", label, t);
        if ((in = incident_add(a, label, id, end))) {
            incident_explain(a, in, &mem[top]);
            incident_emit(a, DETECTOR_RAISE, in, mem, nm, &mem[top]);
        }
    } else if (in && !nm) {
        detector_member_t m;
        member_of(a, last, lastj, end, &m);
        free(in->why);
        in->why = NULL;
        incident_emit(a, DETECTOR_CLEAR, in, NULL, 0, &m);
        free(in->label);
        free(in->id);
        *in = a->inc[--a->ninc];
        in = NULL;
    } else if (in && raised) {
        incident_explain(a, in, &mem[top]);
        incident_emit(a, DETECTOR_UPDATE, in, mem, nm, &mem[top]);
    }
    if (in)
        in->members = nm;
    free(mem);
}

/* ---- one evaluation ---- */

/* Whether an alarming pair stays up: 1 raised now, -1 cleared now, 0 no change. */
static int transition(const detector_t *a, scale_state_t *c, int hit)
{
    if (hit) {
        c->streak = 0;
        if (c->alarming)
            return 0;
        c->alarming = 1;
        return 1;
    }
    if (!c->alarming)
        return 0;
    /* Hysteresis: a share that hovers at min_ratio does not flap. */
    int calm = !(c->p < CALM_P && c->x / c->n >= (1 + (a->o.min_ratio - 1) / 2) * c->p0);
    if (!calm) {
        c->streak = 0;
        return 0;
    }
    if (++c->streak < a->o.clear_windows)
        return 0;
    c->alarming = 0;
    c->streak = 0;
    return -1;
}

void detector_rates(detector_t *a, int64_t start)
{
    int64_t W = a->o.window_ms, t = start / W, end = start + W;
    size_t nt = 0, cap = 0;
    test_t *tests = NULL;
    double *ps = NULL;
    for (size_t k = 0; k < a->ns; k++) {
        series_t *s = a->s[k];
        if (s->kind != S_LABEL || t < s->born)
            continue;
        for (size_t j = 0; j < a->o.nscales; j++) {
            scale_state_t *c = &s->sc[j];
            if (!evaluate_share(a, s, c, t, scale_windows(a, j)))
                continue;
            if (nt == cap) {
                cap = cap ? cap * 2 : 256;
                test_t *v = realloc(tests, cap * sizeof *v);
                if (!v)
                    goto out;
                tests = v;
            }
            tests[nt++] = (test_t){k, j, c->p};
        }
        scale_state_t *c0 = &s->sc[0];
        /* After its evaluation, the window teaches the share profile. */
        detector_profile_learn(a, s, t, ring_at(s, t), ring_at(a->s[s->group], t));
        double sd = sqrt(disp_of(c0) * c0->n * c0->p0 * (1 - c0->p0));
        detector_push_point(s, start, ring_at(s, t), c0->n * c0->p0, fmax(0, c0->n * c0->p0 - 2 * sd),
                            c0->n * c0->p0 + 2 * sd, c0->alarming);
    }
    if (nt && !(ps = malloc(nt * sizeof *ps)))
        goto out;
    for (size_t i = 0; i < nt; i++)
        ps[i] = tests[i].p;
    double thr = nt ? detector_bh_threshold(ps, nt, a->o.fdr) : 0;
    /* Every alarming pair moves, tested or not (a group gone silent calms down). */
    size_t ti = 0;
    for (size_t k = 0; k < a->ns; k++) {
        series_t *s = a->s[k];
        if (s->kind != S_LABEL)
            continue;
        for (size_t j = 0; j < a->o.nscales; j++) {
            scale_state_t *c = &s->sc[j];
            int tested = ti < nt && tests[ti].s == k && tests[ti].j == j;
            ti += tested;
            int hit = tested && thr > 0 && c->p <= thr && c->x >= a->o.min_count &&
                      c->x / c->n >= a->o.min_ratio * c->p0;
            if (!tested && !c->alarming)
                continue;
            int tr = transition(a, c, hit);
            if (tr)
                incident_update(a, s->label, tr > 0, s, j, end);
        }
        s->alarming = 0;
        for (size_t j = 0; j < a->o.nscales; j++)
            s->alarming |= s->sc[j].alarming;
    }
out:
    free(tests);
    free(ps);
}
