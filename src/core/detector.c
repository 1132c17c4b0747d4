#include "core/detector.h"
#include "core/tri_err.h"
#include "core/tstamp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define NPOINTS 48
#define MAX_OPEN 64         /* open windows at once (lateness / window + 2 is enough) */
#define MAX_GAP 10000       /* empty windows evaluated across a gap before skipping ahead */
#define DAY_MS 86400000LL
#define MAX_SLOTS 96        /* seasonal slots a day (15-minute windows) */
#define PROFILE_DAYS 2      /* days every slot must have seen before the profile counts */
#define TOTAL_LABEL "(all records)"

enum { S_LABEL, S_TOTAL };
enum { Q_OOV, Q_LOW, Q_DLQ, Q_PSI, NQ };
static const char *const qnames[NQ] = {"unknown_text", "low_confidence", "dead_letter_rate", "label_mix"};

typedef struct point {
    int64_t start;
    float observed, expected, lo, hi;
    uint8_t alarm;
} point_t;

typedef struct series {
    char *label, *account;
    int kind;
    double mean, var;
    uint32_t n;             /* windows in the baseline */
    int alarming, streak;
    int64_t raised_start;
    double raised_observed, raised_expected, raised_p;
    point_t pts[NPOINTS];
    uint32_t npts;          /* points written in all (ring index = npts % NPOINTS) */
    uint64_t recent;        /* records in the last closed windows, for ordering */
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
    qstate_t q[NQ];
    /* Time-of-day profile: support traffic has a daily rhythm, so a series'
     * level is kept deseasonalized and its expected count is the level
     * times the slot's share of a typical day, learned from the total. */
    size_t nslots;          /* 0: off */
    double prof[MAX_SLOTS];
    uint32_t prof_n[MAX_SLOTS];
    detector_stats_t st;
};

void detector_opts_default(detector_opts_t *o)
{
    *o = (detector_opts_t){.window_ms = 3600000,
                        .lateness_ms = 600000,
                        .p = 1e-4,
                        .min_count = 10,
                        .min_ratio = 1.5,
                        .clear_windows = 2,
                        .min_history = 8,
                        .alpha = 0.1,
                        .by_account = 0,
                        .drop_ratio = 0.5,
                        .quality_min = 50,
                        .oov_max = 0.25,
                        .low_score = 0.5,
                        .low_max = 0.6,
                        .dlq_max = 0.05,
                        .psi_max = 0.25,
                        .max_series = 20000,
                        .seasonal = 1,
                        .future_skew_ms = 3600000,
                        .ts_floor_ms = 946684800000LL};
}

const char *detector_kind_name(int kind)
{
    switch (kind) {
    case DETECTOR_RATE_SPIKE: return "rate_spike";
    case DETECTOR_VOLUME_DROP: return "volume_drop";
    case DETECTOR_DRIFT: return "drift";
    case DETECTOR_QUALITY: return "quality";
    default: return "?";
    }
}

/* ---- Poisson tails through the regularized incomplete gamma ---- */

/* P(a, x) = gamma(a, x) / Gamma(a): series for x < a + 1, else 1 - the
 * continued fraction of Q (Lentz's method). */
static double gamma_p(double a, double x)
{
    if (x <= 0)
        return 0;
    double gln = lgamma(a);
    if (x < a + 1) {
        double ap = a, sum = 1.0 / a, del = sum;
        for (int n = 0; n < 1000; n++) {
            ap += 1;
            del *= x / ap;
            sum += del;
            if (fabs(del) < fabs(sum) * 1e-15)
                break;
        }
        return sum * exp(-x + a * log(x) - gln);
    }
    double b = x + 1 - a, c = 1.0 / 1e-300, d = 1.0 / b, h = d;
    for (int i = 1; i < 1000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < 1e-300)
            d = 1e-300;
        c = b + an / c;
        if (fabs(c) < 1e-300)
            c = 1e-300;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-15)
            break;
    }
    return 1 - exp(-x + a * log(x) - gln) * h;
}

double detector_poisson_upper(double x, double lambda)
{
    if (x <= 0)
        return 1;
    if (lambda <= 0)
        return 0;
    /* P(X >= k) = P(k, lambda), continued to real k. */
    double p = gamma_p(x, lambda);
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

double detector_poisson_lower(double x, double lambda)
{
    if (x < 0)
        return 0;
    if (lambda <= 0)
        return 1;
    double p = 1 - gamma_p(x + 1, lambda);
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

/* ---- series ---- */

static uint64_t skey(const char *label, const char *account)
{
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, label, strlen(label) + 1);
    if (account)
        XXH3_64bits_update(&st, account, strlen(account) + 1);
    return XXH3_64bits_digest(&st);
}

static int same(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

static size_t map_slot(const detector_t *a, const char *label, const char *account)
{
    size_t mask = a->mapcap - 1;
    for (size_t i = (size_t)skey(label, account) & mask;; i = (i + 1) & mask) {
        size_t v = a->map[i];
        if (!v)
            return i;
        const series_t *s = a->s[v - 1];
        if (!strcmp(s->label, label) && same(s->account, account))
            return i;
    }
}

static int map_grow(detector_t *a)
{
    size_t cap = a->mapcap ? a->mapcap * 2 : 256;
    size_t *m = calloc(cap, sizeof *m);
    if (!m)
        return -1;
    free(a->map);
    a->map = m;
    a->mapcap = cap;
    for (size_t k = 0; k < a->ns; k++)
        a->map[map_slot(a, a->s[k]->label, a->s[k]->account)] = k + 1;
    return 0;
}

/* Index of a series, created when new (SIZE_MAX when over the limit). */
static size_t series_get(detector_t *a, const char *label, const char *account, int kind)
{
    if ((a->ns + 1) * 2 > a->mapcap && map_grow(a))
        return SIZE_MAX;
    size_t slot = map_slot(a, label, account);
    if (a->map[slot])
        return a->map[slot] - 1;
    if (a->ns >= a->o.max_series + 1)
        return SIZE_MAX;
    if (a->ns == a->caps) {
        size_t cap = a->caps ? a->caps * 2 : 64;
        series_t **v = realloc(a->s, cap * sizeof *v);
        if (!v)
            return SIZE_MAX;
        a->s = v;
        a->caps = cap;
    }
    series_t *s = calloc(1, sizeof *s);
    if (!s || !(s->label = strdup(label)) || (account && !(s->account = strdup(account)))) {
        if (s)
            free(s->label);
        free(s);
        return SIZE_MAX;
    }
    s->kind = kind;
    a->s[a->ns] = s;
    a->map[slot] = a->ns + 1;
    return a->ns++;
}

/* ---- windows ---- */

static window_t *window_get(detector_t *a, int64_t start)
{
    for (size_t i = 0; i < a->nw; i++)
        if (a->w[i].start == start)
            return &a->w[i];
    if (a->nw == MAX_OPEN)
        return NULL;
    /* Keep them sorted by start. */
    size_t i = a->nw;
    while (i > 0 && a->w[i - 1].start > start) {
        a->w[i] = a->w[i - 1];
        i--;
    }
    memset(&a->w[i], 0, sizeof a->w[i]);
    a->w[i].start = start;
    a->nw++;
    return &a->w[i];
}

static void window_count(window_t *w, size_t idx)
{
    if (idx >= w->cap) {
        size_t cap = w->cap ? w->cap : 64;
        while (cap <= idx)
            cap *= 2;
        uint32_t *c = realloc(w->counts, cap * sizeof *c);
        if (!c)
            return;
        memset(c + w->cap, 0, (cap - w->cap) * sizeof *c);
        w->counts = c;
        w->cap = cap;
    }
    w->counts[idx]++;
}

static void emit(detector_t *a, int type, int kind, const char *label, const char *account, int64_t start,
                 double observed, double expected, double p)
{
    if (type == DETECTOR_RAISE)
        a->st.alarms++;
    else
        a->st.clears++;
    if (!a->emit)
        return;
    detector_event_t ev = {type, kind, label, account, start, start + a->o.window_ms, observed, expected, p, a->model};
    a->emit(a->ctx, &ev);
}

static void push_point(series_t *s, int64_t start, double x, double m, double lo, double hi, int alarm)
{
    point_t *p = &s->pts[s->npts % NPOINTS];
    *p = (point_t){start, (float)x, (float)m, (float)lo, (float)hi, (uint8_t)alarm};
    s->npts++;
}

static void learn(detector_t *a, series_t *s, double x)
{
    if (!s->n) {
        s->mean = x;
        s->var = x;
    } else {
        double al = a->o.alpha > 1.0 / (s->n + 1) ? a->o.alpha : 1.0 / (s->n + 1);
        double d = x - s->mean;
        s->mean += al * d;
        s->var = (1 - al) * (s->var + al * d * d);
    }
    s->n++;
}

static void evaluate(detector_t *a, series_t *s, double x, int64_t start, double f)
{
    double m = s->mean * f, v = s->var * f * f > m ? s->var * f * f : m;
    /* The baseline is itself an estimate: widen the variance by its own
     * uncertainty (an EWMA averages about (2 - alpha) / alpha windows). */
    double vt = v * (1 + a->o.alpha / (2 - a->o.alpha));
    double sd = sqrt(vt);
    int ready = s->n >= (uint32_t)a->o.min_history && m > 0;
    int hit = 0;
    double p = NAN;
    if (ready) {
        double phi = vt / m > 1 ? vt / m : 1;
        if (s->kind == S_TOTAL) {
            p = detector_poisson_lower(x / phi, m / phi);
            hit = p < a->o.p && x <= a->o.drop_ratio * m && m >= a->o.min_count;
        } else {
            p = detector_poisson_upper(x / phi, m / phi);
            hit = p < a->o.p && x >= a->o.min_count && x >= a->o.min_ratio * m;
        }
        int kind = s->kind == S_TOTAL ? DETECTOR_VOLUME_DROP : DETECTOR_RATE_SPIKE;
        const char *label = s->kind == S_TOTAL ? NULL : s->label;
        if (hit) {
            s->streak = 0;
            if (!s->alarming) {
                s->alarming = 1;
                s->raised_start = start;
                s->raised_observed = x;
                s->raised_expected = m;
                s->raised_p = p;
                emit(a, DETECTOR_RAISE, kind, label, s->account, start, x, m, p);
            }
        } else if (s->alarming && ++s->streak >= a->o.clear_windows) {
            s->alarming = 0;
            s->streak = 0;
            emit(a, DETECTOR_CLEAR, kind, label, s->account, start, x, m, p);
        }
    }
    push_point(s, start, x, s->n ? m : NAN, s->n ? (m - 2 * sd > 0 ? m - 2 * sd : 0) : NAN, s->n ? m + 2 * sd : NAN,
               hit);
    double xl = x;
    if (hit && s->kind != S_TOTAL && x > m + 3 * sqrt(v))
        xl = m + 3 * sqrt(v);
    if (hit && s->kind == S_TOTAL && x < m - 3 * sqrt(v))
        xl = m - 3 * sqrt(v) > 0 ? m - 3 * sqrt(v) : 0;
    learn(a, s, xl / f); /* the level is kept without the time of day */
}

static size_t slot_of(const detector_t *a, int64_t start)
{
    int64_t t = start % DAY_MS;
    if (t < 0)
        t += DAY_MS;
    return (size_t)(t / a->o.window_ms);
}

/* The slot's share of a typical day relative to the average slot, once
 * every slot has been seen PROFILE_DAYS times; else 1. Floored so that a
 * quiet night slot does not make every record there look like a spike. */
static double season(const detector_t *a, int64_t start)
{
    if (!a->nslots)
        return 1;
    double sum = 0;
    uint32_t days = UINT32_MAX;
    for (size_t i = 0; i < a->nslots; i++) {
        if (a->prof_n[i] < PROFILE_DAYS)
            return 1;
        sum += a->prof[i];
        if (a->prof_n[i] < days)
            days = a->prof_n[i];
    }
    double mean = sum / (double)a->nslots;
    if (mean <= 0)
        return 1;
    double f = a->prof[slot_of(a, start)] / mean;
    if (f < 0.05)
        f = 0.05;
    /* A profile from a few days is noisy: trust it in proportion to the days
     * behind it, fully after a week. */
    double w = days >= 7 ? 1 : (double)days / 7;
    return 1 + w * (f - 1);
}

static void learn_season(detector_t *a, int64_t start, double total)
{
    if (!a->nslots)
        return;
    size_t i = slot_of(a, start);
    a->prof[i] = a->prof_n[i] ? a->prof[i] + 0.3 * (total - a->prof[i]) : total;
    a->prof_n[i]++;
}

static void quality(detector_t *a, int q, int kind, double value, double limit, int64_t start)
{
    qstate_t *s = &a->q[q];
    s->last = value;
    if (value > limit) {
        s->streak = 0;
        if (!s->alarming) {
            s->alarming = 1;
            s->raised_start = start;
            emit(a, DETECTOR_RAISE, kind, qnames[q], NULL, start, value, limit, NAN);
        }
    } else if (s->alarming && ++s->streak >= a->o.clear_windows) {
        s->alarming = 0;
        s->streak = 0;
        emit(a, DETECTOR_CLEAR, kind, qnames[q], NULL, start, value, limit, NAN);
    }
}

/* Population stability index of the window's label mix against the
 * training mix; half a record of smoothing keeps empty labels finite. */
static double psi(detector_t *a, const window_t *w)
{
    double n = 0, v = 0;
    size_t L = a->nref;
    double *c = calloc(L ? L : 1, sizeof *c);
    if (!c)
        return 0;
    for (size_t k = 0; k < a->ns; k++) {
        const series_t *s = a->s[k];
        if (s->kind != S_LABEL || s->account || k >= w->cap)
            continue;
        for (size_t i = 0; i < L; i++)
            if (!strcmp(a->ref_labels[i], s->label)) {
                c[i] += w->counts[k];
                n += w->counts[k];
            }
    }
    for (size_t i = 0; i < L; i++) {
        double p = (c[i] + 0.5) / (n + 0.5 * (double)L), q = a->ref_shares[i] > 1e-6 ? a->ref_shares[i] : 1e-6;
        v += (p - q) * log(p / q);
    }
    free(c);
    return v;
}

static void close_window(detector_t *a, window_t *w)
{
    int64_t start = w->start;
    double f = season(a, start);
    for (size_t k = 0; k < a->ns; k++) {
        series_t *s = a->s[k];
        double x = s->kind == S_TOTAL ? (double)w->n : k < w->cap ? w->counts[k] : 0;
        /* A series starts being evaluated at its first record: a new label is
         * not an alarm about all the windows before it existed. */
        if (!s->n && !x)
            continue;
        evaluate(a, s, x, start, f);
        s->recent = (uint64_t)(0.7 * (double)s->recent + x);
    }
    /* A volume drop is an incident, not the day's rhythm: do not learn it. */
    if (!a->s[a->total]->alarming)
        learn_season(a, start, (double)w->n);
    if (w->known_n >= a->o.quality_min)
        quality(a, Q_OOV, DETECTOR_QUALITY, (double)w->known0 / (double)w->known_n, a->o.oov_max, start);
    if (w->score_n >= a->o.quality_min)
        quality(a, Q_LOW, DETECTOR_QUALITY, (double)w->low / (double)w->score_n, a->o.low_max, start);
    if (w->n + w->dead >= a->o.quality_min)
        quality(a, Q_DLQ, DETECTOR_QUALITY, (double)w->dead / (double)(w->n + w->dead), a->o.dlq_max, start);
    /* Sampling noise alone gives a PSI of about (labels - 1) / n: only a window
     * with 30 records per label measures drift rather than noise. */
    if (a->nref && w->n >= a->o.quality_min && (double)w->n >= 30.0 * (double)a->nref)
        quality(a, Q_PSI, DETECTOR_DRIFT, psi(a, w), a->o.psi_max, start);
    a->st.windows_closed++;
    a->closed_until = start + a->o.window_ms;
    free(w->counts);
}

/* Closes, in order, every window whose end the watermark has passed,
 * including empty ones (a silent hour is data: volume may have dropped). */
static void advance(detector_t *a, int64_t watermark, int flush)
{
    int64_t W = a->o.window_ms;
    for (;;) {
        int64_t next;
        if (a->closed_until == INT64_MIN)
            next = a->nw ? a->w[0].start : INT64_MAX;
        else
            next = a->closed_until;
        if (a->nw && a->w[0].start < next)
            next = a->w[0].start;
        if (next == INT64_MAX)
            return;
        if (flush) {
            if (!a->nw)
                return;
        } else if (next + W > watermark) {
            return;
        }
        if (a->nw && a->w[0].start == next) {
            window_t w = a->w[0];
            memmove(&a->w[0], &a->w[1], (a->nw - 1) * sizeof a->w[0]);
            a->nw--;
            close_window(a, &w);
        } else {
            /* A window nobody wrote to. After a long silence, skip ahead
             * instead of evaluating millions of empty windows. */
            int64_t target = a->nw ? a->w[0].start : (watermark / W) * W - W;
            if ((target - next) / W > MAX_GAP) {
                a->closed_until = target - MAX_GAP * W;
                continue;
            }
            window_t w = {.start = next};
            close_window(a, &w);
        }
    }
}

static int64_t floor_div(int64_t x, int64_t d) { return x >= 0 ? x / d * d : -((-x + d - 1) / d) * d; }

static int64_t now_ms(const detector_t *a) { return a->o.now_ms ? a->o.now_ms() : tstamp_now_ms(); }

/* The latest event time to believe now (saturating: a huge skew means none). */
static int64_t ts_limit(const detector_t *a)
{
    int64_t now = now_ms(a);
    return a->o.future_skew_ms > INT64_MAX - now ? INT64_MAX : now + a->o.future_skew_ms;
}

static window_t *window_for(detector_t *a, int64_t ts, int *res)
{
    /* Checked before anything moves: a clock gone wrong upstream must not
     * drag the watermark (and every later record with it) into the future. */
    if (ts < a->o.ts_floor_ms || ts > ts_limit(a)) {
        a->st.bad_ts++;
        *res = DETECTOR_BAD_TS;
        return NULL;
    }
    if (a->closed_until != INT64_MIN && ts < a->closed_until) {
        a->st.late++;
        *res = DETECTOR_LATE;
        return NULL;
    }
    if (ts > a->max_ts)
        a->max_ts = ts;
    return window_get(a, floor_div(ts, a->o.window_ms));
}

int detector_add(detector_t *a, int64_t ts, const char *label, const char *account, const char *model, int known,
                 double score)
{
    int res = DETECTOR_COUNTED;
    window_t *w = window_for(a, ts, &res);
    if (w) {
        a->st.records++;
        w->n++;
        size_t k = series_get(a, label, NULL, S_LABEL);
        if (k != SIZE_MAX)
            window_count(w, k);
        if (a->o.by_account && account && *account) {
            k = series_get(a, label, account, S_LABEL);
            if (k != SIZE_MAX)
                window_count(w, k);
        }
        if (known >= 0) {
            w->known_n++;
            w->known0 += known == 0;
        }
        if (score >= 0) {
            w->score_n++;
            w->low += score < a->o.low_score;
        }
        if (model && (!a->model || strcmp(a->model, model))) {
            free(a->model);
            a->model = strdup(model);
        }
    }
    int64_t wm = a->max_ts - a->o.lateness_ms;
    if (wm > a->watermark)
        a->watermark = wm;
    advance(a, a->watermark, 0);
    return res;
}

int detector_add_dead(detector_t *a, int64_t ts)
{
    int res = DETECTOR_COUNTED;
    window_t *w = window_for(a, ts, &res);
    if (w) {
        w->dead++;
        a->st.dead++;
    }
    int64_t wm = a->max_ts - a->o.lateness_ms;
    if (wm > a->watermark)
        a->watermark = wm;
    advance(a, a->watermark, 0);
    return res;
}

void detector_flush(detector_t *a) { advance(a, INT64_MAX, 1); }

detector_t *detector_new(const detector_opts_t *o, detector_emit_fn emit_fn, void *ctx)
{
    detector_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->o = *o;
    if (a->o.window_ms <= 0)
        a->o.window_ms = 3600000;
    a->emit = emit_fn;
    a->ctx = ctx;
    if (a->o.seasonal && DAY_MS % a->o.window_ms == 0 && DAY_MS / a->o.window_ms <= MAX_SLOTS &&
        DAY_MS / a->o.window_ms > 1)
        a->nslots = (size_t)(DAY_MS / a->o.window_ms);
    a->watermark = a->closed_until = a->max_ts = INT64_MIN;
    for (int q = 0; q < NQ; q++)
        a->q[q].last = NAN; /* not measured yet */
    a->total = series_get(a, TOTAL_LABEL, NULL, S_TOTAL);
    if (a->total == SIZE_MAX) {
        detector_free(a);
        return NULL;
    }
    return a;
}

void detector_free(detector_t *a)
{
    if (!a)
        return;
    for (size_t k = 0; k < a->ns; k++) {
        free(a->s[k]->label);
        free(a->s[k]->account);
        free(a->s[k]);
    }
    for (size_t i = 0; i < a->nw; i++)
        free(a->w[i].counts);
    for (size_t i = 0; i < a->nref; i++)
        free(a->ref_labels[i]);
    free(a->ref_labels);
    free(a->ref_shares);
    free(a->s);
    free(a->map);
    free(a->model);
    free(a);
}

void detector_set_reference(detector_t *a, const char *const *labels, const double *shares, size_t n)
{
    for (size_t i = 0; i < a->nref; i++)
        free(a->ref_labels[i]);
    free(a->ref_labels);
    free(a->ref_shares);
    a->nref = 0;
    a->ref_labels = calloc(n ? n : 1, sizeof *a->ref_labels);
    a->ref_shares = calloc(n ? n : 1, sizeof *a->ref_shares);
    if (!a->ref_labels || !a->ref_shares)
        return;
    for (size_t i = 0; i < n; i++) {
        a->ref_labels[i] = strdup(labels[i]);
        a->ref_shares[i] = shares[i];
        if (a->ref_labels[i])
            a->nref = i + 1;
    }
}

detector_stats_t detector_stats(const detector_t *a)
{
    detector_stats_t s = a->st;
    s.series = a->ns - 1;
    s.watermark = a->watermark;
    s.active = 0;
    for (size_t k = 0; k < a->ns; k++)
        s.active += a->s[k]->alarming;
    for (int q = 0; q < NQ; q++)
        s.active += a->q[q].alarming;
    return s;
}

/* ---- checkpoint ---- */

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }
static double unnum(json_t *j) { return json_is_number(j) ? json_number_value(j) : NAN; }

json_t *detector_save(const detector_t *a)
{
    json_t *o = json_object(), *ss = json_array(), *ws = json_array(), *qs = json_array();
    json_object_set_new(o, "version", json_integer(1));
    json_object_set_new(o, "window_ms", json_integer(a->o.window_ms));
    json_object_set_new(o, "by_account", json_boolean(a->o.by_account));
    json_object_set_new(o, "watermark", json_integer(a->watermark));
    json_object_set_new(o, "closed_until", json_integer(a->closed_until));
    json_object_set_new(o, "max_ts", json_integer(a->max_ts));
    json_object_set_new(o, "model", a->model ? json_string(a->model) : json_null());
    json_object_set_new(o, "stats", json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "records", (json_int_t)a->st.records,
                                              "dead", (json_int_t)a->st.dead, "late", (json_int_t)a->st.late,
                                              "windows", (json_int_t)a->st.windows_closed, "alarms",
                                              (json_int_t)a->st.alarms, "clears", (json_int_t)a->st.clears, "bad_ts",
                                              (json_int_t)a->st.bad_ts));
    for (size_t k = 0; k < a->ns; k++) {
        const series_t *s = a->s[k];
        json_t *pts = json_array();
        uint32_t n = s->npts < NPOINTS ? s->npts : NPOINTS;
        for (uint32_t i = s->npts - n; i < s->npts; i++) {
            const point_t *p = &s->pts[i % NPOINTS];
            json_array_append_new(pts, json_pack("[I,f,o,o,o,b]", (json_int_t)p->start, (double)p->observed,
                                                 num(p->expected), num(p->lo), num(p->hi), p->alarm));
        }
        json_array_append_new(
            ss, json_pack("{s:s,s:o,s:i,s:f,s:f,s:i,s:b,s:i,s:I,s:o,s:o,s:o,s:I,s:o}", "label", s->label, "account",
                          s->account ? json_string(s->account) : json_null(), "kind", s->kind, "mean", s->mean,
                          "var", s->var, "n", (int)s->n, "alarming", s->alarming, "streak", s->streak,
                          "raised_start", (json_int_t)s->raised_start, "raised_observed", num(s->raised_observed),
                          "raised_expected", num(s->raised_expected), "raised_p", num(s->raised_p), "recent",
                          (json_int_t)s->recent, "points", pts));
    }
    for (size_t i = 0; i < a->nw; i++) {
        const window_t *w = &a->w[i];
        json_t *c = json_array();
        for (size_t k = 0; k < w->cap; k++)
            if (w->counts[k])
                json_array_append_new(c, json_pack("[I,I]", (json_int_t)k, (json_int_t)w->counts[k]));
        json_array_append_new(ws, json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "start", (json_int_t)w->start, "n",
                                            (json_int_t)w->n, "dead", (json_int_t)w->dead, "known_n",
                                            (json_int_t)w->known_n, "known0", (json_int_t)w->known0, "score_n",
                                            (json_int_t)w->score_n, "low", (json_int_t)w->low, "counts", c));
    }
    for (int q = 0; q < NQ; q++)
        json_array_append_new(qs, json_pack("{s:b,s:i,s:o,s:I}", "alarming", a->q[q].alarming, "streak",
                                            a->q[q].streak, "last", num(a->q[q].last), "raised_start",
                                            (json_int_t)a->q[q].raised_start));
    json_object_set_new(o, "series", ss);
    json_object_set_new(o, "windows", ws);
    json_object_set_new(o, "quality", qs);
    json_t *prof = json_array();
    for (size_t i = 0; i < a->nslots; i++)
        json_array_append_new(prof, json_pack("[f,i]", a->prof[i], (int)a->prof_n[i]));
    json_object_set_new(o, "profile", prof);
    return o;
}

static int64_t jint(json_t *o, const char *k) { return (int64_t)json_integer_value(json_object_get(o, k)); }

int detector_load(detector_t *a, const json_t *st, char *err, size_t errlen)
{
    json_t *state = (json_t *)st;
    if (jint(state, "version") != 1)
        return tri_errf(err, errlen, TRI_EFORMAT, "alarm state: unknown version");
    if (jint(state, "window_ms") != a->o.window_ms)
        return tri_errf(err, errlen, TRI_EINVAL, "alarm state was built with %lld ms windows, not %lld: ignoring it",
                        (long long)jint(state, "window_ms"), (long long)a->o.window_ms);
    int64_t lim = ts_limit(a);
    if (jint(state, "max_ts") > lim || jint(state, "watermark") > lim || jint(state, "closed_until") > lim)
        return tri_errf(err, errlen, TRI_EFORMAT,
                        "alarm state has event times beyond now + %lld ms (a record from the future): ignoring it",
                        (long long)a->o.future_skew_ms);
    json_t *ss = json_object_get(state, "series"), *ws = json_object_get(state, "windows");
    if (!json_is_array(ss) || !json_is_array(ws) || json_array_size(ws) > MAX_OPEN)
        return tri_errf(err, errlen, TRI_EFORMAT, "alarm state: malformed");
    size_t i;
    json_t *v;
    /* Map saved series indices to ours (the total already exists). */
    size_t nsaved = json_array_size(ss);
    size_t *idx = calloc(nsaved ? nsaved : 1, sizeof *idx);
    if (!idx)
        return TRI_ENOMEM;
    json_array_foreach(ss, i, v)
    {
        const char *label = json_string_value(json_object_get(v, "label"));
        const char *acc = json_string_value(json_object_get(v, "account"));
        int kind = (int)jint(v, "kind");
        if (!label || (kind != S_LABEL && kind != S_TOTAL)) {
            free(idx);
            return tri_errf(err, errlen, TRI_EFORMAT, "alarm state: malformed series %zu", i);
        }
        size_t k = series_get(a, label, acc, kind);
        idx[i] = k;
        if (k == SIZE_MAX)
            continue;
        series_t *s = a->s[k];
        s->mean = unnum(json_object_get(v, "mean"));
        s->var = unnum(json_object_get(v, "var"));
        if (!isfinite(s->mean) || !isfinite(s->var) || s->mean < 0 || s->var < 0)
            s->mean = s->var = 0, s->n = 0;
        else
            s->n = (uint32_t)jint(v, "n");
        s->alarming = json_is_true(json_object_get(v, "alarming"));
        s->streak = (int)jint(v, "streak");
        s->raised_start = jint(v, "raised_start");
        s->raised_observed = unnum(json_object_get(v, "raised_observed"));
        s->raised_expected = unnum(json_object_get(v, "raised_expected"));
        s->raised_p = unnum(json_object_get(v, "raised_p"));
        s->recent = (uint64_t)jint(v, "recent");
        size_t pi;
        json_t *p;
        s->npts = 0;
        json_array_foreach(json_object_get(v, "points"), pi, p)
            push_point(s, (int64_t)json_integer_value(json_array_get(p, 0)), unnum(json_array_get(p, 1)),
                       unnum(json_array_get(p, 2)), unnum(json_array_get(p, 3)), unnum(json_array_get(p, 4)),
                       json_is_true(json_array_get(p, 5)));
    }
    json_array_foreach(ws, i, v)
    {
        window_t *w = window_get(a, jint(v, "start"));
        if (!w)
            break;
        w->n = (uint64_t)jint(v, "n");
        w->dead = (uint64_t)jint(v, "dead");
        w->known_n = (uint64_t)jint(v, "known_n");
        w->known0 = (uint64_t)jint(v, "known0");
        w->score_n = (uint64_t)jint(v, "score_n");
        w->low = (uint64_t)jint(v, "low");
        size_t ci;
        json_t *c;
        json_array_foreach(json_object_get(v, "counts"), ci, c)
        {
            size_t si = (size_t)json_integer_value(json_array_get(c, 0));
            json_int_t n = json_integer_value(json_array_get(c, 1));
            if (si >= nsaved || idx[si] == SIZE_MAX || n <= 0)
                continue;
            for (json_int_t r = 0; r < n; r++)
                window_count(w, idx[si]);
        }
    }
    free(idx);
    json_t *qs = json_object_get(state, "quality");
    for (int q = 0; q < NQ && json_is_array(qs); q++) {
        json_t *o = json_array_get(qs, (size_t)q);
        a->q[q].alarming = json_is_true(json_object_get(o, "alarming"));
        a->q[q].streak = (int)jint(o, "streak");
        a->q[q].last = unnum(json_object_get(o, "last"));
        a->q[q].raised_start = jint(o, "raised_start");
    }
    json_t *prof = json_object_get(state, "profile");
    if (json_array_size(prof) == a->nslots)
        for (size_t k = 0; k < a->nslots; k++) {
            double pv = unnum(json_array_get(json_array_get(prof, k), 0));
            a->prof[k] = isfinite(pv) && pv >= 0 ? pv : 0;
            a->prof_n[k] = (uint32_t)json_integer_value(json_array_get(json_array_get(prof, k), 1));
        }
    a->watermark = jint(state, "watermark");
    a->closed_until = jint(state, "closed_until");
    a->max_ts = jint(state, "max_ts");
    const char *m = json_string_value(json_object_get(state, "model"));
    if (m) {
        free(a->model);
        a->model = strdup(m);
    }
    json_t *stt = json_object_get(state, "stats");
    a->st.records = (uint64_t)jint(stt, "records");
    a->st.dead = (uint64_t)jint(stt, "dead");
    a->st.late = (uint64_t)jint(stt, "late");
    a->st.windows_closed = (uint64_t)jint(stt, "windows");
    a->st.alarms = (uint64_t)jint(stt, "alarms");
    a->st.clears = (uint64_t)jint(stt, "clears");
    a->st.bad_ts = (uint64_t)jint(stt, "bad_ts");
    return 0;
}

/* ---- status ---- */

static json_t *ts_json(int64_t ms)
{
    char t[40];
    tstamp_format(ms, t, sizeof t);
    return json_string(t);
}

static int cmp_series(const void *x, const void *y)
{
    const series_t *a = *(series_t *const *)x, *b = *(series_t *const *)y;
    if (a->alarming != b->alarming)
        return b->alarming - a->alarming;
    if ((a->kind == S_TOTAL) != (b->kind == S_TOTAL))
        return a->kind == S_TOTAL ? 1 : -1;
    if (a->recent != b->recent)
        return a->recent < b->recent ? 1 : -1;
    return strcmp(a->label, b->label);
}

json_t *detector_event_json(const detector_event_t *ev)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(ev->type == DETECTOR_RAISE ? "alarm" : "clear"));
    json_object_set_new(o, "kind", json_string(detector_kind_name(ev->kind)));
    json_object_set_new(o, "label", ev->label ? json_string(ev->label) : json_null());
    json_object_set_new(o, "account", ev->account ? json_string(ev->account) : json_null());
    json_object_set_new(o, "window_start", ts_json(ev->window_start));
    json_object_set_new(o, "window_end", ts_json(ev->window_end));
    json_object_set_new(o, "observed", num(ev->observed));
    json_object_set_new(o, "expected", num(ev->expected));
    json_object_set_new(o, "p_value", num(ev->p_value));
    json_object_set_new(o, "model", ev->model ? json_string(ev->model) : json_null());
    return o;
}

json_t *detector_status(const detector_t *a, size_t npoints, size_t max_series)
{
    json_t *o = json_object(), *ss = json_array(), *active = json_array(), *q = json_object(), *th = json_object();
    series_t **sorted = malloc((a->ns ? a->ns : 1) * sizeof *sorted);
    if (!o || !sorted) {
        free(sorted);
        return o;
    }
    memcpy(sorted, a->s, a->ns * sizeof *sorted);
    qsort(sorted, a->ns, sizeof *sorted, cmp_series);
    if (npoints > NPOINTS)
        npoints = NPOINTS;
    for (size_t k = 0, shown = 0; k < a->ns; k++) {
        const series_t *s = sorted[k];
        if (s->alarming) {
            json_t *ev = json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "type", "alarm", "kind",
                                   s->kind == S_TOTAL ? "volume_drop" : "rate_spike", "label",
                                   s->kind == S_TOTAL ? json_null() : json_string(s->label), "account",
                                   s->account ? json_string(s->account) : json_null(), "window_start",
                                   ts_json(s->raised_start), "window_end", ts_json(s->raised_start + a->o.window_ms),
                                   "observed", num(s->raised_observed), "expected", num(s->raised_expected), "p_value",
                                   num(s->raised_p));
            json_object_set_new(ev, "model", a->model ? json_string(a->model) : json_null());
            json_array_append_new(active, ev);
        }
        if (shown >= max_series || !s->npts)
            continue;
        shown++;
        json_t *pts = json_array();
        uint32_t n = s->npts < npoints ? s->npts : (uint32_t)npoints;
        for (uint32_t i = s->npts - n; i < s->npts; i++) {
            const point_t *p = &s->pts[i % NPOINTS];
            json_array_append_new(pts, json_pack("{s:o,s:f,s:o,s:o,s:o,s:b}", "start", ts_json(p->start), "observed",
                                                 (double)p->observed, "expected", num(p->expected), "lo", num(p->lo),
                                                 "hi", num(p->hi), "alarm", p->alarm));
        }
        json_array_append_new(ss, json_pack("{s:s,s:o,s:b,s:o}", "label", s->label, "account",
                                            s->account ? json_string(s->account) : json_null(), "alarming",
                                            s->alarming, "points", pts));
    }
    for (int k = 0; k < NQ; k++)
        if (a->q[k].alarming)
            json_array_append_new(active, json_pack("{s:s,s:s,s:s,s:n,s:o,s:o,s:o,s:o,s:n,s:o}", "type", "alarm",
                                                    "kind", k == Q_PSI ? "drift" : "quality", "label", qnames[k],
                                                    "account", "window_start", ts_json(a->q[k].raised_start),
                                                    "window_end", ts_json(a->q[k].raised_start + a->o.window_ms),
                                                    "observed", num(a->q[k].last), "expected",
                                                    num(k == Q_OOV ? a->o.oov_max : k == Q_LOW ? a->o.low_max
                                                                  : k == Q_DLQ ? a->o.dlq_max : a->o.psi_max),
                                                    "p_value", "model",
                                                    a->model ? json_string(a->model) : json_null()));
    json_object_set_new(q, "oov_share", num(a->q[Q_OOV].last));
    json_object_set_new(q, "low_confidence_share", num(a->q[Q_LOW].last));
    json_object_set_new(q, "dead_letter_rate", num(a->q[Q_DLQ].last));
    json_object_set_new(q, "psi", num(a->q[Q_PSI].last));
    json_object_set_new(th, "oov_share", json_real(a->o.oov_max));
    json_object_set_new(th, "low_confidence_share", json_real(a->o.low_max));
    json_object_set_new(th, "dead_letter_rate", json_real(a->o.dlq_max));
    json_object_set_new(th, "psi", json_real(a->o.psi_max));
    json_object_set_new(q, "thresholds", th);
    json_object_set_new(o, "window_ms", json_integer(a->o.window_ms));
    json_object_set_new(o, "series", ss);
    json_object_set_new(o, "active", active);
    json_object_set_new(o, "quality", q);
    json_object_set_new(o, "watermark", a->watermark == INT64_MIN ? json_null() : ts_json(a->watermark));
    free(sorted);
    return o;
}
