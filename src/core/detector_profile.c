/* Daily and weekly profiles of a label's share (see detector.h): a label
 * that is always higher at night is expected higher at night.
 *
 * Per series, for each hour of the day, exponentially weighted averages of
 * the label's and its group's counts in the windows starting in that hour
 * (weight PROF_ALPHA, more while young); once two weeks are seen, the same
 * for each hour of each weekday. The factor of a window is its slot's share
 * over the series' overall share (all slots pooled), the slot's share
 * shrunk towards the overall one by PROF_PRIOR pseudo-records (a slot of a
 * small account says little), the weekday slot's shrunk towards its hour's;
 * a slot seen fewer than PROF_MIN times has factor 1. Baselines learn
 * counts divided by their window's factor, and a window's expected count
 * is its group's count x baseline share x factor. */
#include "detector_int.h"

#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL
#define HOUR_MS 3600000LL
#define PROF_ALPHA 0.2      /* a day's weight in an hour's average (about 5 days) */
#define WEEK_ALPHA 0.5      /* a week's weight in a weekday hour's (about 2 weeks) */
#define PROF_MIN 2          /* times a slot is seen before it counts */
#define PROF_PRIOR 30.0     /* pseudo-records pulling a slot's share to the overall one */
#define FACTOR_MIN 0.25
#define FACTOR_MAX 4.0
#define LEARN_MAX 2.0       /* a window teaches at most twice its slot's expected share */

static void slots(const detector_t *a, int64_t t, int *hour, int *week)
{
    int64_t ms = t * a->o.window_ms, d = ms >= 0 ? ms / DAY_MS : (ms - DAY_MS + 1) / DAY_MS;
    int64_t in = ms - d * DAY_MS;
    *hour = (int)(in / HOUR_MS);
    int dow = (int)(((d % 7) + 7) % 7); /* 0: a Thursday (1970-01-01); any origin will do */
    *week = dow * 24 + *hour;
}

/* The overall share, pooled over the hours seen; < 0 when none. */
static double pooled(const profile_t *p)
{
    double x = 0, n = 0;
    for (int h = 0; h < 24; h++)
        if (p->d[h]) {
            x += p->x[h];
            n += p->n[h];
        }
    return n > 0 ? x / n : -1;
}

static double weight(uint16_t seen, double alpha) { return seen < 1 / alpha ? seen : 1 / alpha; }

double detector_profile_factor(const detector_t *a, const series_t *s, int64_t t)
{
    const profile_t *p = s->prof;
    if (!p || !a->o.profiles)
        return 1;
    int h, w;
    slots(a, t, &h, &w);
    double pbar = pooled(p);
    if (pbar <= 0 || p->d[h] < PROF_MIN)
        return 1;
    double e = weight(p->d[h], PROF_ALPHA);
    double ph = (p->x[h] * e + PROF_PRIOR * pbar) / (p->n[h] * e + PROF_PRIOR), share = ph;
    if (p->wd[w] >= PROF_MIN) {
        double ew = weight(p->wd[w], WEEK_ALPHA);
        share = (p->wx[w] * ew + PROF_PRIOR * ph) / (p->wn[w] * ew + PROF_PRIOR);
    }
    double f = share / pbar;
    return f < FACTOR_MIN ? FACTOR_MIN : f > FACTOR_MAX ? FACTOR_MAX : f;
}

void detector_profile_learn(detector_t *a, series_t *s, int64_t t, double x, double n)
{
    if (!a->o.profiles || n <= 0)
        return;
    if (!s->prof && !(s->prof = calloc(1, sizeof *s->prof)))
        return;
    profile_t *p = s->prof;
    int h, w;
    slots(a, t, &h, &w);
    /* A burst is not the rhythm: one window moves its slot at most to twice
     * what the slot expects (a label that doubles every night is learned). */
    double pbar = pooled(p), f = detector_profile_factor(a, s, t);
    if (pbar > 0 && x > LEARN_MAX * f * pbar * n + 2)
        x = LEARN_MAX * f * pbar * n + 2;
    double al = PROF_ALPHA > 1.0 / (p->d[h] + 1) ? PROF_ALPHA : 1.0 / (p->d[h] + 1);
    p->x[h] += (float)(al * (x - p->x[h]));
    p->n[h] += (float)(al * (n - p->n[h]));
    if (p->d[h] < UINT16_MAX)
        p->d[h]++;
    al = WEEK_ALPHA > 1.0 / (p->wd[w] + 1) ? WEEK_ALPHA : 1.0 / (p->wd[w] + 1);
    p->wx[w] += (float)(al * (x - p->wx[w]));
    p->wn[w] += (float)(al * (n - p->wn[w]));
    if (p->wd[w] < UINT16_MAX)
        p->wd[w]++;
}

/* Checkpoint: [[x...24],[n...24],[d...24],[wx...168],[wn...168],[wd...168]]. */
json_t *detector_profile_save(const series_t *s)
{
    const profile_t *p = s->prof;
    if (!p)
        return json_null();
    json_t *v = json_array();
    const float *fs[] = {p->x, p->n, p->wx, p->wn};
    const uint16_t *ds[] = {p->d, p->wd};
    for (int k = 0; k < 6; k++) {
        int len = k == 0 || k == 1 || k == 2 ? 24 : 168;
        json_t *r = json_array();
        for (int i = 0; i < len; i++)
            json_array_append_new(r, k == 2 || k == 5 ? json_integer(ds[k / 3][i]) : json_real(fs[k < 2 ? k : k - 1][i]));
        json_array_append_new(v, r);
    }
    return v;
}

void detector_profile_load(series_t *s, const json_t *v)
{
    if (json_array_size(v) != 6 || (!s->prof && !(s->prof = calloc(1, sizeof *s->prof))))
        return;
    profile_t *p = s->prof;
    float *fs[] = {p->x, p->n, p->wx, p->wn};
    uint16_t *ds[] = {p->d, p->wd};
    for (int k = 0; k < 6; k++) {
        int len = k < 3 ? 24 : 168;
        const json_t *r = json_array_get(v, (size_t)k);
        for (int i = 0; i < len; i++) {
            const json_t *e = json_array_get(r, (size_t)i);
            double d = json_number_value(e);
            if (!(d >= 0 && d < 1e12))
                d = 0;
            if (k == 2 || k == 5)
                ds[k / 3][i] = (uint16_t)(d < UINT16_MAX ? d : UINT16_MAX);
            else
                fs[k < 2 ? k : k - 1][i] = (float)d;
        }
    }
}
