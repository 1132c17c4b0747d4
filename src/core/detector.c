#include "detector_int.h"
#include "core/tri_err.h"
#include "core/tstamp.h"
#include "core/clf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define MAX_GAP 10000       /* empty windows evaluated across a gap before skipping ahead */
#define DAY_MS 86400000LL
#define MAX_SLOTS 96        /* seasonal slots a day (15-minute windows) */
#define PROFILE_DAYS 2      /* days every slot must have seen before the profile counts */

const char *const detector_qnames[NQ] = {"unknown_text", "low_confidence", "dead_letter_rate", "label_mix"};

void detector_opts_default(detector_opts_t *o)
{
    *o = (detector_opts_t){.window_ms = 3600000,
                        .lateness_ms = 600000,
                        .p = 1e-4,
                        .min_count = 10,
                        .min_ratio = 1.5,
                        .fdr = 1e-3,
                        .alpha_share = 1.0 / 72,
                        .scales_ms = {3600000, 6 * 3600000, 24 * 3600000},
                        .nscales = 3,
                        .spike_ratio = 2,
                        .clear_windows = 2,
                        .min_history = 8,
                        .alpha = 0.1,
                        .by_account = 0,
                        .drop_ratio = 0.5,
                        .quality_min = 50,
                        .oov_max = 0.25,
                        .low_score = 0.5,
                        .low_max = 0.6,
                        .low_margin = 0.15,
                        .dlq_max = 0.05,
                        .psi_max = 0.25,
                        .max_series = 20000,
                        .seasonal = 1,
                        .profiles = 1,
                        .future_skew_ms = 3600000,
                        .ts_floor_ms = 946684800000LL};
}

const char *detector_kind_name(int kind)
{
    switch (kind) {
    case DETECTOR_RATE_SPIKE: return "rate_spike";
    case DETECTOR_VOLUME_DROP: return "volume_drop";
    case DETECTOR_VOLUME_SPIKE: return "volume_spike";
    case DETECTOR_DRIFT: return "drift";
    case DETECTOR_QUALITY: return "quality";
    default: return "?";
    }
}

int detector_parse_scales(detector_opts_t *o, const char *list, char *err, size_t errlen)
{
    size_t n = 0;
    const char *p = list;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        double mul = *end == 'm' ? 60000 : *end == 'h' ? 3600000 : *end == 'd' ? 86400000 : 0;
        if (end == p || !(v > 0) || !mul || (end[1] && end[1] != ','))
            return tri_errf(err, errlen, TRI_EINVAL, "scales: '%s' is not a list of durations such as 1h,6h,24h", list);
        if (n == DETECTOR_MAX_SCALES)
            return tri_errf(err, errlen, TRI_EINVAL, "scales: at most %d", DETECTOR_MAX_SCALES);
        o->scales_ms[n++] = (int64_t)(v * mul);
        p = end + 1 + (end[1] == ',');
        if (!end[1])
            break;
    }
    if (!n)
        return tri_errf(err, errlen, TRI_EINVAL, "scales: empty list");
    o->nscales = n;
    return 0;
}

int detector_check_opts(const detector_opts_t *o, char *err, size_t errlen)
{
    if (o->window_ms <= 0 || o->nscales < 1 || o->nscales > DETECTOR_MAX_SCALES)
        return tri_errf(err, errlen, TRI_EINVAL, "a positive window and 1 to %d scales", DETECTOR_MAX_SCALES);
    /* Scales are sums of whole base windows, kept in the rings. */
    for (size_t j = 0; j < o->nscales; j++)
        if (o->scales_ms[j] % o->window_ms || o->scales_ms[j] / o->window_ms < 1 ||
            o->scales_ms[j] / o->window_ms >= RING)
            return tri_errf(err, errlen, TRI_EINVAL, "scale %lld ms is not 1 to %d windows of %lld ms",
                            (long long)o->scales_ms[j], RING - 1, (long long)o->window_ms);
    return 0;
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
size_t detector_series_get(detector_t *a, const char *label, const char *account, int kind)
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
    s->born = INT64_MAX; /* set by the first record */
    s->group = a->total;
    a->s[a->ns] = s;
    a->map[slot] = a->ns + 1;
    return a->ns++;
}

/* ---- windows ---- */

window_t *detector_window_get(detector_t *a, int64_t start)
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

void detector_window_count(window_t *w, size_t idx)
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

void detector_emit(detector_t *a, detector_event_t *ev)
{
    if (ev->type == DETECTOR_RAISE)
        a->st.alarms++;
    else if (ev->type == DETECTOR_CLEAR)
        a->st.clears++;
    ev->model = a->model;
    if (a->emit)
        a->emit(a->ctx, ev);
}

static void emit(detector_t *a, int type, int kind, const char *label, int64_t start, double observed,
                 double expected, double p)
{
    detector_event_t ev = {.type = type,
                           .kind = kind,
                           .label = label,
                           .window_start = start,
                           .window_end = start + a->o.window_ms,
                           .observed = observed,
                           .expected = expected,
                           .p_value = p,
                           .scale_ms = a->o.window_ms,
                           .total = NAN,
                           .share = NAN,
                           .baseline_share = NAN,
                           .ratio = NAN};
    detector_emit(a, &ev);
}

void detector_push_point(series_t *s, int64_t start, double x, double m, double lo, double hi, int alarm)
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

/* The volume of all records against its baseline, both tails. */
static void evaluate_volume(detector_t *a, series_t *s, double x, int64_t start, double f)
{
    double m = s->mean * f, v = s->var * f * f > m ? s->var * f * f : m;
    /* The baseline is itself an estimate: widen the variance by its own
     * uncertainty (an EWMA averages about (2 - alpha) / alpha windows). */
    double vt = v * (1 + a->o.alpha / (2 - a->o.alpha));
    double sd = sqrt(vt);
    int ready = s->n >= (uint32_t)a->o.min_history && m > 0 && m >= a->o.min_count;
    int hit = 0, kind = 0;
    double p = NAN;
    if (ready) {
        double phi = vt / m > 1 ? vt / m : 1;
        double lo = detector_poisson_lower(x / phi, m / phi), hi = detector_poisson_upper(x / phi, m / phi);
        if (lo < a->o.p && x <= a->o.drop_ratio * m)
            hit = 1, kind = DETECTOR_VOLUME_DROP, p = lo;
        else if (hi < a->o.p && x >= a->o.spike_ratio * m)
            hit = 1, kind = DETECTOR_VOLUME_SPIKE, p = hi;
        else
            p = s->alarming && s->vkind == DETECTOR_VOLUME_SPIKE ? hi : lo;
        if (hit && s->alarming && kind != s->vkind) {
            s->alarming = 0;
            emit(a, DETECTOR_CLEAR, s->vkind, NULL, start, x, m, p);
        }
        if (hit) {
            s->streak = 0;
            if (!s->alarming) {
                s->alarming = 1;
                s->vkind = kind;
                s->raised_start = start;
                s->raised_observed = x;
                s->raised_expected = m;
                s->raised_p = p;
                emit(a, DETECTOR_RAISE, kind, NULL, start, x, m, p);
            }
        } else if (s->alarming && ++s->streak >= a->o.clear_windows) {
            s->alarming = 0;
            s->streak = 0;
            emit(a, DETECTOR_CLEAR, s->vkind, NULL, start, x, m, p);
        }
    }
    detector_push_point(s, start, x, s->n ? m : NAN, s->n ? (m - 2 * sd > 0 ? m - 2 * sd : 0) : NAN,
                        s->n ? m + 2 * sd : NAN, hit);
    double xl = x, lim = 3 * sqrt(v);
    if (hit && x > m + lim)
        xl = m + lim;
    if (hit && x < m - lim)
        xl = m - lim > 0 ? m - lim : 0;
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

/* A share figure alarms only when it is above its limit with 95% confidence
 * (Wilson lower bound, one-sided): a window of 50 records has a standard error
 * near 0.07, and its noise alone would cross a limit set close to the model's
 * normal share. n = 0: a figure that is no share (the PSI), taken as it is. */
static double share_lower_bound(double share, double n)
{
    if (n <= 0)
        return share;
    const double z = 1.645, z2 = z * z;
    double centre = share + z2 / (2 * n), half = z * sqrt(share * (1 - share) / n + z2 / (4 * n * n));
    return (centre - half) / (1 + z2 / n);
}

static void quality(detector_t *a, int q, int kind, double value, double n, double limit, int64_t start)
{
    qstate_t *s = &a->q[q];
    s->last = value;
    if (share_lower_bound(value, n) > limit) {
        s->streak = 0;
        if (!s->alarming) {
            s->alarming = 1;
            s->raised_start = start;
            emit(a, DETECTOR_RAISE, kind, detector_qnames[q], start, value, limit, NAN);
        }
    } else if (s->alarming && ++s->streak >= a->o.clear_windows) {
        s->alarming = 0;
        s->streak = 0;
        emit(a, DETECTOR_CLEAR, kind, detector_qnames[q], start, value, limit, NAN);
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
    int64_t t = start / a->o.window_ms;
    for (size_t k = 0; k < a->ns; k++) {
        series_t *s = a->s[k];
        uint32_t x = k == a->total ? (uint32_t)w->n : k < w->cap ? w->counts[k] : 0;
        s->ring[(uint64_t)t % RING] = x;
        s->recent = (uint64_t)(0.7 * (double)s->recent + x);
    }
    /* The volume starts being evaluated at the first record. */
    series_t *tot = a->s[a->total];
    if (tot->n || w->n)
        evaluate_volume(a, tot, (double)w->n, start, f);
    /* The explanation tables take the window before its alarms are decided;
     * the baselines learn it after, unless its label is alarming. */
    explain_roll(a->ex);
    detector_rates(a, start);
    explain_learn(a->ex, detector_incident_open, a);
    /* A volume drop is an incident, not the day's rhythm: do not learn it
     * (a surge is learned: if it comes back every morning, it is the rhythm). */
    if (!(tot->alarming && tot->vkind == DETECTOR_VOLUME_DROP))
        learn_season(a, start, (double)w->n);
    if (w->known_n >= a->o.quality_min)
        quality(a, Q_OOV, DETECTOR_QUALITY, (double)w->known0 / (double)w->known_n, (double)w->known_n, a->o.oov_max,
                start);
    if (w->score_n >= a->o.quality_min)
        quality(a, Q_LOW, DETECTOR_QUALITY, (double)w->low / (double)w->score_n, (double)w->score_n,
                isnan(a->low_base) ? a->o.low_max : fmin(1.0, a->low_base + a->o.low_margin), start);
    if (w->n + w->dead >= a->o.quality_min)
        quality(a, Q_DLQ, DETECTOR_QUALITY, (double)w->dead / (double)(w->n + w->dead), (double)(w->n + w->dead),
                a->o.dlq_max, start);
    /* Sampling noise alone gives a PSI of about (labels - 1) / n: only a window
     * with 30 records per label measures drift rather than noise. */
    if (a->nref && w->n >= a->o.quality_min && (double)w->n >= 30.0 * (double)a->nref)
        quality(a, Q_PSI, DETECTOR_DRIFT, psi(a, w), 0, a->o.psi_max, start);
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
int64_t detector_ts_limit(const detector_t *a)
{
    int64_t now = now_ms(a);
    return a->o.future_skew_ms > INT64_MAX - now ? INT64_MAX : now + a->o.future_skew_ms;
}

static window_t *window_for(detector_t *a, int64_t ts, int *res)
{
    /* Checked before anything moves: a clock gone wrong upstream must not
     * drag the watermark (and every later record with it) into the future. */
    if (ts < a->o.ts_floor_ms || ts > detector_ts_limit(a)) {
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
    return detector_window_get(a, floor_div(ts, a->o.window_ms));
}

/* Counts a record in the label's series of a group (born with its first). */
static void count_in(detector_t *a, window_t *w, const char *label, const char *account, size_t group, int64_t t)
{
    size_t k = detector_series_get(a, label, account, S_LABEL);
    if (k == SIZE_MAX)
        return;
    series_t *s = a->s[k];
    s->group = group;
    if (t < s->born)
        s->born = t;
    if (t < a->s[group]->born)
        a->s[group]->born = t;
    detector_window_count(w, k);
}

int detector_add(detector_t *a, int64_t ts, const char *label, const char *account, const char *model, int known,
                 double score)
{
    detector_rec_t r = {ts, label, account, model, known, score, NULL, NULL, 0, -1};
    return detector_add_rec(a, &r);
}

int detector_add_rec(detector_t *a, const detector_rec_t *r)
{
    int64_t ts = r->ts_ms;
    const char *label = r->label, *account = r->account, *model = r->model;
    int known = r->known;
    double score = r->score;
    int res = DETECTOR_COUNTED;
    window_t *w = window_for(a, ts, &res);
    if (w) {
        explain_add(a->ex, label, a->o.by_account ? account : NULL, ts, r->id, r->text, r->text ? r->text_len : 0);
        a->st.records++;
        w->n++;
        int64_t t = w->start / a->o.window_ms;
        count_in(a, w, label, NULL, a->total, t);
        if (a->o.by_account && account && *account) {
            size_t g = detector_series_get(a, TOTAL_LABEL, account, S_GROUP);
            if (g != SIZE_MAX) {
                detector_window_count(w, g);
                count_in(a, w, label, account, g, t);
            }
        }
        if (known >= 0) {
            w->known_n++;
            w->known0 += clf_text_unknown(known, r->features);
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
    char err[TRI_ERRLEN];
    if (detector_check_opts(&a->o, err, sizeof err)) {
        free(a);
        return NULL;
    }
    a->emit = emit_fn;
    a->ctx = ctx;
    a->low_base = NAN;
    if (a->o.seasonal && DAY_MS % a->o.window_ms == 0 && DAY_MS / a->o.window_ms <= MAX_SLOTS &&
        DAY_MS / a->o.window_ms > 1)
        a->nslots = (size_t)(DAY_MS / a->o.window_ms);
    a->watermark = a->closed_until = a->max_ts = INT64_MIN;
    for (int q = 0; q < NQ; q++)
        a->q[q].last = NAN; /* not measured yet */
    a->total = detector_series_get(a, TOTAL_LABEL, NULL, S_TOTAL);
    int64_t k[DETECTOR_MAX_SCALES];
    for (size_t j = 0; j < a->o.nscales; j++)
        k[j] = a->o.scales_ms[j] / a->o.window_ms;
    a->ex = explain_new(k, a->o.nscales, a->o.window_ms, a->o.alpha_share);
    if (a->total == SIZE_MAX || !a->ex) {
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
        free(a->s[k]->prof);
        free(a->s[k]);
    }
    for (size_t i = 0; i < a->nw; i++)
        free(a->w[i].counts);
    for (size_t i = 0; i < a->nref; i++)
        free(a->ref_labels[i]);
    free(a->ref_labels);
    free(a->ref_shares);
    for (size_t i = 0; i < a->ninc; i++) {
        free(a->inc[i].label);
        free(a->inc[i].id);
        free(a->inc[i].why);
    }
    explain_free(a->ex);
    free(a->inc);
    free(a->s);
    free(a->map);
    free(a->model);
    free(a);
}

void detector_set_low_baseline(detector_t *a, double share)
{
    a->low_base = share >= 0 && share <= 1 ? share : NAN;
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
    s.series = 0;
    for (size_t k = 0; k < a->ns; k++)
        s.series += a->s[k]->kind == S_LABEL;
    s.watermark = a->watermark;
    s.active = (size_t)a->s[a->total]->alarming + a->ninc;
    for (int q = 0; q < NQ; q++)
        s.active += a->q[q].alarming;
    return s;
}
