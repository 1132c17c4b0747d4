/* The detector's checkpoint (save, load), its status for the status page and
 * the JSON of its events. */
#include "detector_int.h"
#include "core/tri_err.h"
#include "core/tstamp.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define STATE_VERSION 2

/* ---- checkpoint ---- */

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }
static double unnum(json_t *j) { return json_is_number(j) ? json_number_value(j) : NAN; }

static json_t *save_ring(const series_t *s)
{
    json_t *r = json_array();
    for (size_t i = 0; i < RING; i++)
        json_array_append_new(r, json_integer(s->ring[i]));
    return r;
}

static json_t *save_scales(const detector_t *a, const series_t *s)
{
    json_t *v = json_array();
    for (size_t j = 0; j < a->o.nscales; j++) {
        const scale_state_t *c = &s->sc[j];
        json_array_append_new(v, json_pack("[f,f,i,f,i,b,i,I,o,o,o,o]", c->bx, c->bn, (int)c->nb, c->disp, (int)c->nd,
                                           c->alarming, c->streak, (json_int_t)c->raised_end, num(c->x), num(c->n),
                                           num(c->p0), num(c->p)));
    }
    return v;
}

static double unnum(json_t *j);

static double nonneg(json_t *j)
{
    double v = unnum(j);
    return isfinite(v) && v >= 0 ? v : 0;
}

static void load_scales(detector_t *a, series_t *s, json_t *v)
{
    for (size_t j = 0; j < a->o.nscales && j < json_array_size(v); j++) {
        json_t *e = json_array_get(v, j);
        scale_state_t *c = &s->sc[j];
        c->bx = nonneg(json_array_get(e, 0));
        c->bn = nonneg(json_array_get(e, 1));
        c->nb = (uint32_t)json_integer_value(json_array_get(e, 2));
        c->disp = nonneg(json_array_get(e, 3));
        c->nd = (uint32_t)json_integer_value(json_array_get(e, 4));
        c->alarming = json_is_true(json_array_get(e, 5));
        c->streak = (int)json_integer_value(json_array_get(e, 6));
        c->raised_end = (int64_t)json_integer_value(json_array_get(e, 7));
        c->x = unnum(json_array_get(e, 8));
        c->n = unnum(json_array_get(e, 9));
        c->p0 = unnum(json_array_get(e, 10));
        c->p = unnum(json_array_get(e, 11));
    }
}

json_t *detector_save(const detector_t *a)
{
    json_t *o = json_object(), *ss = json_array(), *ws = json_array(), *qs = json_array();
    json_object_set_new(o, "version", json_integer(STATE_VERSION));
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
        json_t *o1 = json_pack("{s:s,s:o,s:i,s:f,s:f,s:i,s:b,s:i,s:I,s:o,s:o,s:o,s:I,s:o}", "label", s->label,
                               "account", s->account ? json_string(s->account) : json_null(), "kind", s->kind,
                               "mean", s->mean, "var", s->var, "n", (int)s->n, "alarming", s->alarming, "streak",
                               s->streak, "raised_start", (json_int_t)s->raised_start, "raised_observed",
                               num(s->raised_observed), "raised_expected", num(s->raised_expected), "raised_p",
                               num(s->raised_p), "recent", (json_int_t)s->recent, "points", pts);
        json_object_set_new(o1, "vkind", json_integer(s->vkind));
        json_object_set_new(o1, "group", json_integer((json_int_t)s->group));
        json_object_set_new(o1, "born", json_integer(s->born));
        json_object_set_new(o1, "ring", save_ring(s));
        json_object_set_new(o1, "scales", save_scales(a, s));
        if (s->prof)
            json_object_set_new(o1, "profile", detector_profile_save(s));
        json_array_append_new(ss, o1);
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
    json_t *inc = json_array();
    for (size_t i = 0; i < a->ninc; i++)
        json_array_append_new(inc, json_pack("{s:s,s:s,s:I}", "label", a->inc[i].label, "id", a->inc[i].id, "opened",
                                             (json_int_t)a->inc[i].opened));
    json_object_set_new(o, "incidents", inc);
    json_t *sc = json_array();
    for (size_t j = 0; j < a->o.nscales; j++)
        json_array_append_new(sc, json_integer(a->o.scales_ms[j]));
    json_object_set_new(o, "scales", sc);
    return o;
}

static int64_t jint(json_t *o, const char *k) { return (int64_t)json_integer_value(json_object_get(o, k)); }

static void load_series(detector_t *a, series_t *s, json_t *v)
{
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
    s->vkind = (int)jint(v, "vkind");
    s->born = jint(v, "born");
    s->group = (size_t)jint(v, "group"); /* a saved index: mapped below */
    for (size_t r = 0; r < RING; r++)
        s->ring[r] = (uint32_t)json_integer_value(json_array_get(json_object_get(v, "ring"), r));
    load_scales(a, s, json_object_get(v, "scales"));
    detector_profile_load(s, json_object_get(v, "profile"));
    size_t pi;
    json_t *p;
    s->npts = 0;
    json_array_foreach(json_object_get(v, "points"), pi, p)
        detector_push_point(s, (int64_t)json_integer_value(json_array_get(p, 0)), unnum(json_array_get(p, 1)),
                   unnum(json_array_get(p, 2)), unnum(json_array_get(p, 3)), unnum(json_array_get(p, 4)),
                   json_is_true(json_array_get(p, 5)));
}

int detector_load(detector_t *a, const json_t *st, char *err, size_t errlen)
{
    json_t *state = (json_t *)st;
    if (jint(state, "version") != STATE_VERSION)
        return tri_errf(err, errlen, TRI_EFORMAT, "alarm state: version %lld, not %d (an older detector): ignoring it",
                        (long long)jint(state, "version"), STATE_VERSION);
    if (jint(state, "window_ms") != a->o.window_ms)
        return tri_errf(err, errlen, TRI_EINVAL, "alarm state was built with %lld ms windows, not %lld: ignoring it",
                        (long long)jint(state, "window_ms"), (long long)a->o.window_ms);
    json_t *scl = json_object_get(state, "scales");
    int same_scales = json_array_size(scl) == a->o.nscales;
    for (size_t j = 0; same_scales && j < a->o.nscales; j++)
        same_scales = json_integer_value(json_array_get(scl, j)) == a->o.scales_ms[j];
    if (!same_scales)
        return tri_errf(err, errlen, TRI_EINVAL, "alarm state was built with other scales: ignoring it");
    int64_t lim = detector_ts_limit(a);
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
        if (!label || (kind != S_LABEL && kind != S_TOTAL && kind != S_GROUP)) {
            free(idx);
            return tri_errf(err, errlen, TRI_EFORMAT, "alarm state: malformed series %zu", i);
        }
        size_t k = detector_series_get(a, label, acc, kind);
        idx[i] = k;
        if (k == SIZE_MAX)
            continue;
        load_series(a, a->s[k], v);
    }
    for (size_t k = 0; k < a->ns; k++) {
        series_t *s = a->s[k];
        if (s->kind == S_LABEL)
            s->group = s->group < nsaved && idx[s->group] != SIZE_MAX ? idx[s->group] : a->total;
        else
            s->group = a->total;
    }
    json_array_foreach(json_object_get(state, "incidents"), i, v)
    {
        const char *l = json_string_value(json_object_get(v, "label")), *id = json_string_value(json_object_get(v, "id"));
        if (l && id && detector_incident_restore(a, l, id, jint(v, "opened"))) {
            free(idx);
            return TRI_ENOMEM;
        }
    }
    json_array_foreach(ws, i, v)
    {
        window_t *w = detector_window_get(a, jint(v, "start"));
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
                detector_window_count(w, idx[si]);
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

void detector_scale_name(int64_t ms, char *out, size_t n)
{
    if (ms > 0 && ms % 3600000 == 0)
        snprintf(out, n, "%lldh", (long long)(ms / 3600000));
    else if (ms > 0 && ms % 60000 == 0)
        snprintf(out, n, "%lldm", (long long)(ms / 60000));
    else
        snprintf(out, n, "%llds", (long long)(ms / 1000));
}

static json_t *explanation_json(const explain_result_t *x, int64_t scale_ms)
{
    char sc[32];
    detector_scale_name(scale_ms, sc, sizeof sc);
    json_t *g = json_array(), *e = json_array();
    for (size_t i = 0; i < x->nngrams; i++) {
        const explain_ngram_t *n = &x->ngrams[i];
        json_array_append_new(g, json_pack("{s:s,s:o,s:o,s:o,s:o}", "ngram", n->text, "records", num(round(n->records)),
                                           "share", num(n->share), "baseline_share", num(n->baseline_share), "ratio",
                                           num(n->ratio)));
    }
    for (size_t i = 0; i < x->nexamples; i++)
        json_array_append_new(e, json_pack("{s:s,s:o,s:s}", "id", x->examples[i].id, "ts", ts_json(x->examples[i].ts_ms),
                                           "text", x->examples[i].text));
    return json_pack("{s:s,s:o,s:o,s:o}", "scale", sc, "records", num(round(x->records)), "ngrams", g, "examples", e);
}

json_t *detector_event_json(const detector_event_t *ev)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(ev->type == DETECTOR_RAISE    ? "alarm"
                                               : ev->type == DETECTOR_UPDATE ? "update"
                                                                             : "clear"));
    json_object_set_new(o, "kind", json_string(detector_kind_name(ev->kind)));
    json_object_set_new(o, "label", ev->label ? json_string(ev->label) : json_null());
    json_object_set_new(o, "account", ev->account ? json_string(ev->account) : json_null());
    json_object_set_new(o, "window_start", ts_json(ev->window_start));
    json_object_set_new(o, "window_end", ts_json(ev->window_end));
    json_object_set_new(o, "observed", num(ev->observed));
    json_object_set_new(o, "expected", num(ev->expected));
    json_object_set_new(o, "p_value", num(ev->p_value));
    json_object_set_new(o, "model", ev->model ? json_string(ev->model) : json_null());
    char sc[32];
    detector_scale_name(ev->scale_ms, sc, sizeof sc);
    json_object_set_new(o, "scale", json_string(sc));
    if (!ev->incident)
        return o;
    json_object_set_new(o, "total", num(ev->total));
    json_object_set_new(o, "share", num(ev->share));
    json_object_set_new(o, "baseline_share", num(ev->baseline_share));
    json_object_set_new(o, "ratio", num(ev->ratio));
    json_t *mem = json_array();
    for (size_t i = 0; i < ev->nmembers; i++) {
        const detector_member_t *m = &ev->members[i];
        detector_scale_name(m->scale_ms, sc, sizeof sc);
        json_array_append_new(mem, json_pack("{s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "account",
                                             m->account ? json_string(m->account) : json_null(), "scale", sc,
                                             "window_start", ts_json(m->window_start), "window_end",
                                             ts_json(m->window_end), "observed", num(m->observed), "total",
                                             num(m->total), "share", num(m->share), "baseline_share",
                                             num(m->baseline_share), "ratio", num(m->ratio), "p_value",
                                             num(m->p_value)));
    }
    json_object_set_new(o, "incident", json_pack("{s:s,s:o}", "id", ev->incident, "members", mem));
    if (ev->explain)
        json_object_set_new(o, "explanation", explanation_json(ev->explain, ev->scale_ms));
    return o;
}

static void append_event(void *ctx, const detector_event_t *ev) { json_array_append_new(ctx, detector_event_json(ev)); }

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
        if (s->kind == S_GROUP)
            continue;
        if (s->kind == S_TOTAL && s->alarming) {
            json_t *ev = json_pack("{s:s,s:s,s:n,s:n,s:o,s:o,s:o,s:o,s:o}", "type", "alarm", "kind",
                                   detector_kind_name(s->vkind), "label", "account", "window_start",
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
    detector_incident_events(a, append_event, active);
    for (int k = 0; k < NQ; k++)
        if (a->q[k].alarming)
            json_array_append_new(active, json_pack("{s:s,s:s,s:s,s:n,s:o,s:o,s:o,s:o,s:n,s:o}", "type", "alarm",
                                                    "kind", k == Q_PSI ? "drift" : "quality", "label", detector_qnames[k],
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
