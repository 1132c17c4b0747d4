#include "core/accuracy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct acc {
    acc_opts_t o;
    acc_model_t *m;
    size_t n;
    uint64_t tick, evicted;
};

void acc_opts_default(acc_opts_t *o)
{
    o->max_models = 16;
    o->max_labels = 64;
    o->window = 1000;
    o->min_records = 200;
    o->margin = 0.1;
}

acc_t *acc_new(const acc_opts_t *o)
{
    acc_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->o = *o;
    if (!a->o.max_models)
        a->o.max_models = 1;
    if (!a->o.window)
        a->o.window = 1;
    a->m = calloc(a->o.max_models, sizeof *a->m);
    if (!a->m) {
        free(a);
        return NULL;
    }
    return a;
}

static void model_clear(acc_model_t *m)
{
    for (size_t i = 0; i < m->nlabels; i++)
        free(m->labels[i].name);
    free(m->labels);
    free(m->bits);
    free(m->name);
    memset(m, 0, sizeof *m);
}

void acc_free(acc_t *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        model_clear(&a->m[i]);
    free(a->m);
    free(a);
}

double acc_ratio(uint64_t right, uint64_t n) { return n ? (double)right / (double)n : NAN; }

double acc_wilson_upper(uint64_t right, uint64_t n)
{
    if (!n)
        return 1;
    const double z = 1.959964;
    double nn = (double)n, p = (double)right / nn, z2 = z * z;
    double centre = p + z2 / (2 * nn), half = z * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    double u = (centre + half) / (1 + z2 / nn);
    return u > 1 ? 1 : u;
}

const acc_model_t *acc_get(const acc_t *a, const char *model)
{
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->m[i].name, model))
            return &a->m[i];
    return NULL;
}

size_t acc_count(const acc_t *a) { return a->n; }
const acc_model_t *acc_at(const acc_t *a, size_t i) { return i < a->n ? &a->m[i] : NULL; }
uint64_t acc_evicted(const acc_t *a) { return a->evicted; }

/* The model's entry, created when missing (the least recently used one is
 * forgotten when the table is full); NULL out of memory. */
static acc_model_t *model_get(acc_t *a, const char *name)
{
    acc_model_t *m = (acc_model_t *)acc_get(a, name);
    if (m) {
        m->last_use = ++a->tick;
        return m;
    }
    if (a->n == a->o.max_models) {
        size_t lru = 0;
        for (size_t i = 1; i < a->n; i++)
            if (a->m[i].last_use < a->m[lru].last_use)
                lru = i;
        model_clear(&a->m[lru]);
        a->m[lru] = a->m[--a->n];
        memset(&a->m[a->n], 0, sizeof *a->m);
        a->evicted++;
    }
    m = &a->m[a->n];
    m->name = strdup(name);
    m->bits = calloc((a->o.window + 7) / 8, 1);
    if (!m->name || !m->bits) {
        model_clear(m);
        return NULL;
    }
    m->holdout = NAN;
    m->last_use = ++a->tick;
    a->n++;
    return m;
}

/* Counts the label's outcome; labels beyond max_labels go to `other`. */
static int count_label(const acc_t *a, acc_model_t *m, const char *label, int right)
{
    for (size_t i = 0; i < m->nlabels; i++)
        if (!strcmp(m->labels[i].name, label)) {
            m->labels[i].n++;
            m->labels[i].right += (uint64_t)right;
            return 0;
        }
    if (m->nlabels >= a->o.max_labels) {
        m->other_n++;
        m->other_right += (uint64_t)right;
        return 0;
    }
    acc_label_t *v = realloc(m->labels, (m->nlabels + 1) * sizeof *v);
    if (!v)
        return -1;
    m->labels = v;
    if (!(v[m->nlabels].name = strdup(label)))
        return -1;
    v[m->nlabels].n = 1;
    v[m->nlabels].right = (uint64_t)right;
    m->nlabels++;
    return 0;
}

/* Pushes one outcome into the ring of the last `window`. */
static void window_push(const acc_t *a, acc_model_t *m, int right)
{
    size_t w = a->o.window, byte = m->pos / 8;
    uint8_t bit = (uint8_t)(1u << (m->pos % 8));
    if (m->win_n == w) {
        m->win_right -= (m->bits[byte] & bit) ? 1 : 0; /* the oldest leaves */
        m->win_n--;
    }
    m->bits[byte] = right ? (uint8_t)(m->bits[byte] | bit) : (uint8_t)(m->bits[byte] & ~bit);
    m->win_n++;
    m->win_right += (uint64_t)right;
    m->pos = (m->pos + 1) % w;
}

/* Judges the model's recent accuracy as accuracy.h says. */
static int judge(const acc_t *a, acc_model_t *m)
{
    if (isnan(m->holdout)) {
        int was = m->alarm;
        m->alarm = 0;
        return was ? ACC_CLEAR : ACC_SAME;
    }
    double limit = m->holdout - a->o.margin;
    if (!m->alarm && m->win_n >= a->o.min_records && acc_wilson_upper(m->win_right, m->win_n) < limit) {
        m->alarm = 1;
        return ACC_RAISE;
    }
    if (m->alarm && m->win_n && acc_ratio(m->win_right, m->win_n) >= limit) {
        m->alarm = 0;
        return ACC_CLEAR;
    }
    return ACC_SAME;
}

int acc_tally(acc_t *a, const char *model, const char *label, const char *predicted, const acc_model_t **out)
{
    acc_model_t *m = model_get(a, model);
    if (!m)
        return -1;
    int right = predicted && !strcmp(predicted, label);
    m->n++;
    m->right += (uint64_t)right;
    window_push(a, m, right);
    if (count_label(a, m, label, right))
        return -1;
    if (out)
        *out = m;
    return judge(a, m);
}

int acc_set_holdout(acc_t *a, const char *model, double holdout, const acc_model_t **out)
{
    acc_model_t *m = model_get(a, model);
    if (!m)
        return -1;
    m->holdout = holdout >= 0 && holdout <= 1 ? holdout : NAN;
    if (out)
        *out = m;
    return judge(a, m);
}

/* A number, or null for NAN (JSON has no NaN). */
static json_t *num(double x) { return isnan(x) ? json_null() : json_real(x); }

json_t *acc_json(const acc_t *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < a->n; i++) {
        const acc_model_t *m = &a->m[i];
        json_t *labels = json_array();
        for (size_t k = 0; k < m->nlabels; k++)
            json_array_append_new(labels, json_pack("{s:s,s:I,s:I,s:o}", "label", m->labels[k].name, "records",
                                                    (json_int_t)m->labels[k].n, "right",
                                                    (json_int_t)m->labels[k].right,
                                                    "accuracy", num(acc_ratio(m->labels[k].right, m->labels[k].n))));
        json_array_append_new(
            arr, json_pack("{s:s,s:I,s:I,s:o,s:{s:I,s:I,s:o},s:o,s:b,s:o,s:I}", "model", m->name, "records",
                           (json_int_t)m->n, "right", (json_int_t)m->right, "accuracy", num(acc_ratio(m->right, m->n)),
                           "recent", "records", (json_int_t)m->win_n, "right", (json_int_t)m->win_right, "accuracy",
                           num(acc_ratio(m->win_right, m->win_n)), "holdout_accuracy", num(m->holdout), "alarm",
                           m->alarm, "labels", labels, "other_label_records", (json_int_t)m->other_n));
    }
    return arr;
}
