/* The Naive Bayes trainers (nb: multinomial, bnb: Bernoulli, cnb: complement):
 * occurrence and document counts per n-gram and label, feature selection by
 * min-df and signal/background ratio, and log-probability weights. */
#include "core/train.h"
#include "core/tri_err.h"
#include "core/u32map.h"
#include "train_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Per-row statistics gathered from the documents. */
typedef struct stats {
    u32map_t rows;
    uint32_t *cnt;   /* rows x L: occurrences (or presences) */
    uint32_t *df;    /* rows x L: documents */
    size_t cap;
} stats_t;

static int stats_grow(stats_t *s, size_t rows, uint32_t L)
{
    if (rows <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap * 2 : 65536;
    while (cap < rows)
        cap *= 2;
    uint32_t *c = realloc(s->cnt, cap * L * sizeof *c);
    if (!c)
        return TRI_ENOMEM;
    s->cnt = c;
    uint32_t *d = realloc(s->df, cap * L * sizeof *d);
    if (!d)
        return TRI_ENOMEM;
    s->df = d;
    memset(s->cnt + s->cap * L, 0, (cap - s->cap) * L * sizeof *c);
    memset(s->df + s->cap * L, 0, (cap - s->cap) * L * sizeof *d);
    s->cap = cap;
    return 0;
}

/* Counts each document's n-grams into st (rows x labels) and the documents
 * per label into out->label_docs. TRI_ENOMEM or a tokenizer error. */
static int nb_count(const train_opts_t *o, const train_set_t *set, const size_t *idx, size_t nidx, tok_t *tok,
                    stats_t *st, train_out_t *out)
{
    uint32_t L = set->nlabels;
    tok_list_t toks = {0};
    feat_vec_t fv = {0};
    feat_config_t fc = o->feat;
    fc.mode = FEAT_COUNTS; /* gather occurrences; presence derives from them */
    int rc = 0;
    for (size_t i = 0; i < nidx && !rc; i++) {
        size_t d = idx ? idx[i] : i;
        uint32_t y = set->label[d];
        out->label_docs[y]++;
        if (tok_run(tok, set->text[d], set->len[d], &toks) || feat_extract(&fc, &toks, &fv, 0)) {
            rc = TRI_ENOMEM;
            break;
        }
        qsort(fv.id, fv.n, sizeof *fv.id, cmp_u32);
        for (size_t k = 0; k < fv.n;) {
            size_t j = k;
            while (j < fv.n && fv.id[j] == fv.id[k])
                j++;
            int64_t r = u32map_intern(&st->rows, fv.id[k], NULL);
            if (r < 0 || stats_grow(st, (size_t)r + 1, L)) {
                rc = TRI_ENOMEM;
                break;
            }
            st->df[(size_t)r * L + y]++;
            st->cnt[(size_t)r * L + y] += o->feat.mode == FEAT_COUNTS && o->algo != TRAIN_BNB ? (uint32_t)(j - k) : 1;
            k = j;
        }
    }
    tok_list_free(&toks);
    feat_vec_free(&fv);
    return rc;
}

/* Feature selection: the rows kept (keep[], their documents kept_df[]) and
 * their buckets in out. 0 or TRI_ENOMEM. */
static int nb_select(const train_opts_t *o, const stats_t *st, uint32_t L, uint32_t *keep, uint32_t *kept_df,
                     train_out_t *out)
{
    size_t R = st->rows.n;
    uint32_t *bucket_of = malloc((R ? R : 1) * sizeof *bucket_of);
    if (!bucket_of)
        return TRI_ENOMEM;
    for (size_t s = 0; s < st->rows.cap; s++)
        if (st->rows.keys[s])
            bucket_of[st->rows.vals[s]] = st->rows.keys[s] - 1;
    uint32_t nk = 0;
    for (size_t r = 0; r < R; r++) {
        const uint32_t *df = st->df + r * L;
        uint64_t tot = 0;
        for (uint32_t c = 0; c < L; c++)
            tot += df[c];
        if (tot < o->min_df)
            continue;
        int ok = o->sb <= 0;
        for (uint32_t c = 0; c < L && !ok; c++)
            if (df[c] && (double)df[c] > o->sb * (double)(tot - df[c]))
                ok = 1;
        if (ok) {
            kept_df[nk] = (uint32_t)tot;
            keep[nk++] = (uint32_t)r;
        }
    }
    out->nrows = nk;
    out->buckets = malloc((nk ? nk : 1) * sizeof *out->buckets);
    out->weights = malloc(((size_t)nk * L + 1) * sizeof *out->weights);
    if (out->buckets)
        for (uint32_t k = 0; k < nk; k++)
            out->buckets[k] = bucket_of[keep[k]];
    free(bucket_of);
    return out->buckets && out->weights ? 0 : TRI_ENOMEM;
}

/* The weights and biases of o->algo over the kept rows (nc: occurrences per
 * label over them). */
static int nb_weights(const train_opts_t *o, const stats_t *st, const uint32_t *keep, const double *nc, size_t nidx,
                      train_out_t *out, char *err, size_t errlen)
{
    uint32_t L = out->nlabels, nk = out->nrows;
    double V = nk ? nk : 1, a = o->alpha;
    for (uint32_t c = 0; c < L; c++)
        out->bias[c] = (float)log((double)(out->label_docs[c] + 1e-9) / (double)nidx);

    switch (o->algo) {
    case TRAIN_NB:
        for (uint32_t k = 0; k < nk; k++)
            for (uint32_t c = 0; c < L; c++)
                out->weights[(size_t)k * L + c] =
                    (float)log((st->cnt[(size_t)keep[k] * L + c] + a) / (nc[c] + a * V));
        break;
    case TRAIN_BNB: {
        /* score = log prior + sum_present log(p/(1-p)) + sum_all log(1-p):
         * the last sum is a per-label constant folded into the bias. */
        for (uint32_t k = 0; k < nk; k++)
            for (uint32_t c = 0; c < L; c++) {
                double pr = (st->df[(size_t)keep[k] * L + c] + a) / ((double)out->label_docs[c] + 2 * a);
                out->weights[(size_t)k * L + c] = (float)(log(pr) - log1p(-pr));
                out->bias[c] += (float)log1p(-pr);
            }
        break;
    }
    case TRAIN_CNB: {
        double tot = 0;
        for (uint32_t c = 0; c < L; c++)
            tot += nc[c];
        for (uint32_t k = 0; k < nk; k++) {
            const uint32_t *cn = st->cnt + (size_t)keep[k] * L;
            double rowtot = 0;
            for (uint32_t c = 0; c < L; c++)
                rowtot += cn[c];
            for (uint32_t c = 0; c < L; c++)
                out->weights[(size_t)k * L + c] =
                    (float)-log((rowtot - cn[c] + a) / (tot - nc[c] + a * V));
        }
        /* Rennie et al. (2003) and scikit-learn drop the prior from complement
         * NB; we keep the log prior as the bias so that a record with no known
         * n-gram falls back to the most frequent label instead of label 0. */
        break;
    }
    default:
        return tri_errf(err, errlen, TRI_EINVAL, "unknown algorithm %d", o->algo);
    }
    return 0;
}

int train_fit_nb(const train_opts_t *o, const train_set_t *set, const size_t *idx, size_t nidx, train_out_t *out,
                 char *err, size_t errlen)
{
    uint32_t L = set->nlabels;
    if (!(o->alpha > 0))
        return tri_errf(err, errlen, TRI_EINVAL, "alpha must be positive");
    int rc;
    tok_t *tok = NULL;
    if ((rc = tok_new(&o->tok, &tok, err, errlen)))
        return rc;

    stats_t st = {0};
    uint32_t *keep = NULL, *kept_df = NULL;
    double *nc = NULL;
    out->nlabels = L;
    out->ndocs = nidx;
    out->label_docs = calloc(L, sizeof *out->label_docs);
    out->bias = calloc(L, sizeof *out->bias);
    if (!out->label_docs || !out->bias || nb_count(o, set, idx, nidx, tok, &st, out))
        goto oom;
    size_t R = st.rows.n;
    out->candidates = R;
    keep = malloc((R ? R : 1) * sizeof *keep);
    kept_df = malloc((R ? R : 1) * sizeof *kept_df);
    nc = calloc(L, sizeof *nc);
    if (!keep || !kept_df || !nc || nb_select(o, &st, L, keep, kept_df, out))
        goto oom;
    for (uint32_t k = 0; k < out->nrows; k++)
        for (uint32_t c = 0; c < L; c++)
            nc[c] += st.cnt[(size_t)keep[k] * L + c];
    rc = nb_weights(o, &st, keep, nc, nidx, out, err, errlen);
    goto done;
oom:
    rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
done:
    rc = train_finish(o, set, idx, nidx, tok, out, kept_df, rc, err, errlen);
    free(keep);
    free(kept_df);
    free(nc);
    free(st.cnt);
    free(st.df);
    u32map_free(&st.rows);
    tok_free(tok);
    return rc;
}
