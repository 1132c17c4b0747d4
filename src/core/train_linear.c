/* The LIBLINEAR trainers (lr, svm): documents to sparse vectors exactly as
 * the scorer values them (model.c's model_score), LIBLINEAR's train(), and
 * its weight vectors copied into the linear-scorer shape. */
#include "core/train.h"
#include "core/tri_err.h"
#include "core/u32map.h"
#include "train_internal.h"

#include <linear.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* LIBLINEAR's dual coordinate-descent solvers (the ones scikit-learn's
 * LinearSVC and LogisticRegression(liblinear) use, 2-3x faster than the
 * primal Newton solvers on these sparse problems) visit the examples in an
 * order drawn from rand(). libc's rand() is one process-wide sequence, so
 * with two trainings on two threads (tune's folds, --per-account --jobs) each
 * model would depend on the other's timing. This definition interposes on
 * libc's for the process (the executable exports it because liblinear refers
 * to it): one sequence per thread, reseeded before every training, so a model
 * depends only on its data and options. Nothing else in triage calls rand(). */
static __thread uint64_t rand_state;
/* Stopping tolerance: scikit-learn's LinearSVC default (its tol is LIBLINEAR's eps). */
#define LINEAR_EPS 1e-4
/* The visiting order is seeded with a constant: a model depends on its data
 * and options only (train's --seed is the holdout's and the hash's). */
#define LINEAR_RAND_SEED 0x5EEDULL

int rand(void)
{
    return (int)(train_splitmix(&rand_state) >> 33); /* 31 bits: 0..RAND_MAX */
}

void train_linear_reseed(void) { rand_state = LINEAR_RAND_SEED; }

int train_linear_solver(int algo) { return algo == TRAIN_LR ? L2R_LR_DUAL : L2R_L2LOSS_SVC_DUAL; }

double train_linear_eps(void) { return LINEAR_EPS; }

static void silent(const char *s) { (void)s; }
static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;
/* LIBLINEAR prints progress through one global hook: set it once, before
 * any thread trains. */
static void make_quiet(void) { set_print_string_function(silent); }

static int cmp_bucket(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_node(const void *a, const void *b)
{
    const struct feature_node *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* The documents' features: doc i has (bucket, count) pairs [off[i], off[i+1]). */
typedef struct bag {
    uint32_t *bucket, *cnt;
    size_t *off;
    size_t n, cap;
} bag_t;

static int bag_collect(const train_opts_t *o, const train_set_t *set, const size_t *idx, size_t nidx, tok_t *tok,
                       bag_t *bag)
{
    tok_list_t toks = {0};
    feat_vec_t fv = {0};
    int rc = 0;
    bag->off = malloc((nidx + 1) * sizeof *bag->off);
    if (!bag->off)
        return TRI_ENOMEM;
    bag->off[0] = 0;
    for (size_t i = 0; i < nidx && !rc; i++) {
        size_t d = idx ? idx[i] : i;
        if ((rc = tok_run(tok, set->text[d], set->len[d], &toks)) || (rc = feat_extract(&o->feat, &toks, &fv, 0)))
            break;
        if (bag->n + fv.n > bag->cap) {
            size_t cap = bag->cap ? bag->cap : 1 << 16;
            while (cap < bag->n + fv.n)
                cap *= 2;
            uint32_t *b = realloc(bag->bucket, cap * sizeof *b);
            if (b)
                bag->bucket = b;
            uint32_t *c = realloc(bag->cnt, cap * sizeof *c);
            if (c)
                bag->cnt = c;
            if (!b || !c) {
                rc = TRI_ENOMEM;
                break;
            }
            bag->cap = cap;
        }
        memcpy(bag->bucket + bag->n, fv.id, fv.n * sizeof *fv.id);
        memcpy(bag->cnt + bag->n, fv.cnt, fv.n * sizeof *fv.cnt);
        bag->n += fv.n;
        bag->off[i + 1] = bag->n;
    }
    tok_list_free(&toks);
    feat_vec_free(&fv);
    return rc;
}

static void bag_free(bag_t *b)
{
    free(b->bucket);
    free(b->cnt);
    free(b->off);
}

/* Document frequency per distinct bucket (ids are distinct per document),
 * the rows kept (min-df), in bucket order, and their IDF weights. *keep_of:
 * the kept row of each distinct bucket (UINT32_MAX: dropped), *kept_df: the
 * documents of each kept row. 0 or TRI_ENOMEM. */
static int select_rows(const train_opts_t *o, const bag_t *bag, size_t nidx, u32map_t *rows, uint32_t **keep_of_out,
                       uint32_t **kept_df_out, train_out_t *out)
{
    uint32_t *df = NULL, *keep_of = NULL, *kept_df = NULL;
    int rc = TRI_ENOMEM;
    size_t dfcap = 0;
    for (size_t k = 0; k < bag->n; k++) {
        int64_t r = u32map_intern(rows, bag->bucket[k], NULL);
        if (r < 0)
            goto oom;
        if ((size_t)r >= dfcap) {
            size_t cap = dfcap ? dfcap * 2 : 65536;
            uint32_t *d = realloc(df, cap * sizeof *d);
            if (!d)
                goto oom;
            memset(d + dfcap, 0, (cap - dfcap) * sizeof *d);
            df = d;
            dfcap = cap;
        }
        df[r]++;
    }
    size_t R = rows->n;
    out->candidates = R;
    keep_of = malloc((R + 1) * sizeof *keep_of);
    kept_df = malloc((R + 1) * sizeof *kept_df);
    out->buckets = malloc((R + 1) * sizeof *out->buckets);
    if (!keep_of || !kept_df || !out->buckets)
        goto oom;
    uint32_t K = 0;
    /* Rows in bucket order, so the model does not depend on hash-map layout. */
    for (size_t sl = 0; sl < rows->cap; sl++)
        if (rows->keys[sl] && df[rows->vals[sl]] >= o->min_df)
            out->buckets[K++] = rows->keys[sl] - 1;
    qsort(out->buckets, K, sizeof *out->buckets, cmp_bucket);
    for (size_t r = 0; r < R; r++)
        keep_of[r] = UINT32_MAX;
    for (uint32_t k = 0; k < K; k++) {
        int64_t r = u32map_get(rows, out->buckets[k]);
        keep_of[r] = k;
        kept_df[k] = df[r];
    }
    out->nrows = K;
    if (o->feat.idf) {
        out->idf = malloc((K + 1) * sizeof *out->idf);
        if (!out->idf)
            goto oom;
        for (uint32_t k = 0; k < K; k++)
            out->idf[k] = (float)(log((1.0 + (double)nidx) / (1.0 + kept_df[k])) + 1.0);
    }
    rc = 0;
oom:
    free(df);
    *keep_of_out = keep_of;
    *kept_df_out = kept_df;
    return rc;
}

/* LIBLINEAR's problem: per document its kept features valued as the scorer
 * will value them, then the bias node and the terminator. Counts the
 * documents per label into out. 0 or TRI_ENOMEM. */
static int build_problem(const train_opts_t *o, const train_set_t *set, const size_t *idx, size_t nidx,
                         const bag_t *bag, const u32map_t *rows, const uint32_t *keep_of, train_out_t *out,
                         struct feature_node **nodes_out, struct feature_node ***x_out, double **y_out)
{
    uint32_t K = out->nrows;
    struct feature_node *nodes = malloc((bag->n + 2 * nidx + 1) * sizeof *nodes);
    struct feature_node **x = malloc(nidx * sizeof *x);
    double *y = malloc(nidx * sizeof *y);
    *nodes_out = nodes;
    *x_out = x;
    *y_out = y;
    if (!nodes || !x || !y)
        return TRI_ENOMEM;
    size_t nn = 0;
    for (size_t i = 0; i < nidx; i++) {
        size_t d = idx ? idx[i] : i;
        uint32_t lab = set->label[d];
        out->label_docs[lab]++;
        y[i] = lab;
        x[i] = nodes + nn;
        size_t first = nn;
        /* Norms per family (words, characters), as model_score applies them. */
        float norm2[2] = {0, 0};
        for (size_t k = bag->off[i]; k < bag->off[i + 1]; k++) {
            uint32_t kk = keep_of[u32map_get(rows, bag->bucket[k])];
            if (kk == UINT32_MAX)
                continue;
            float v = feat_tf_weight(&o->feat, bag->cnt[k]);
            if (out->idf)
                v *= out->idf[kk];
            nodes[nn++] = (struct feature_node){(int)kk + 1, v};
            norm2[feat_is_char(&o->feat, bag->bucket[k])] += v * v;
        }
        if (o->feat.l2) {
            float scale[2] = {norm2[0] > 0 ? 1.0f / sqrtf(norm2[0]) : 1.0f,
                              norm2[1] > 0 ? 1.0f / sqrtf(norm2[1]) : 1.0f};
            for (size_t k = first; k < nn; k++)
                nodes[k].value *= scale[feat_is_char(&o->feat, out->buckets[nodes[k].index - 1])];
        }
        qsort(nodes + first, nn - first, sizeof *nodes, cmp_node);
        nodes[nn++] = (struct feature_node){(int)K + 1, 1.0};
        nodes[nn++] = (struct feature_node){-1, 0};
    }
    return 0;
}

/* LIBLINEAR's weight vectors into the linear-scorer shape (labels in the
 * set's order). 0 or TRI_ENOMEM. */
static int copy_weights(const struct model *lm, uint32_t L, train_out_t *out)
{
    uint32_t K = out->nrows;
    int ncls = get_nr_class(lm), rc = TRI_ENOMEM;
    int *lab_of = malloc(L * sizeof *lab_of);
    int *labs = malloc((size_t)ncls * sizeof *labs);
    if (!lab_of || !labs) {
        free(labs);
        goto oom;
    }
    get_labels(lm, labs);
    for (uint32_t c = 0; c < L; c++)
        lab_of[c] = -1;
    for (int k = 0; k < ncls; k++)
        lab_of[labs[k]] = k;
    free(labs);
    out->weights = malloc(((size_t)K * L + 1) * sizeof *out->weights);
    if (!out->weights)
        goto oom;
    /* A label absent from these documents (a small fold) never wins: no
     * weights, and a bias below every present label's. */
    double minb = INFINITY;
    for (uint32_t c = 0; c < L; c++)
        if (lab_of[c] >= 0 && get_decfun_bias(lm, lab_of[c]) < minb)
            minb = get_decfun_bias(lm, lab_of[c]);
    for (uint32_t c = 0; c < L; c++) {
        out->bias[c] = lab_of[c] >= 0 ? (float)get_decfun_bias(lm, lab_of[c]) : (float)(minb - 10);
        for (uint32_t k = 0; k < K; k++)
            out->weights[(size_t)k * L + c] = lab_of[c] >= 0 ? (float)get_decfun_coef(lm, (int)k + 1, lab_of[c]) : 0;
    }
    rc = 0;
oom:
    free(lab_of);
    return rc;
}

int train_fit_linear(const train_opts_t *o, const train_set_t *set, const size_t *idx, size_t nidx,
                     train_out_t *out, char *err, size_t errlen)
{
    uint32_t L = set->nlabels;
    if (!(o->C > 0))
        return tri_errf(err, errlen, TRI_EINVAL, "C must be positive");
    if (o->feat.mode == FEAT_COUNTS)
        return tri_errf(err, errlen, TRI_EINVAL, "lr and svm take presence or sublinear features, not counts");
    pthread_once(&quiet_once, make_quiet);
    tok_t *tok = NULL;
    int rc = tok_new(&o->tok, &tok, err, errlen);
    if (rc)
        return rc;
    bag_t bag = {0};
    u32map_t rows = {0};
    uint32_t *keep_of = NULL, *kept_df = NULL;
    struct feature_node *nodes = NULL;
    struct feature_node **x = NULL;
    double *y = NULL;
    struct model *lm = NULL;

    out->nlabels = L;
    out->ndocs = nidx;
    out->label_docs = calloc(L, sizeof *out->label_docs);
    out->bias = calloc(L, sizeof *out->bias);
    if (!out->label_docs || !out->bias || (rc = bag_collect(o, set, idx, nidx, tok, &bag)) ||
        select_rows(o, &bag, nidx, &rows, &keep_of, &kept_df, out) ||
        build_problem(o, set, idx, nidx, &bag, &rows, keep_of, out, &nodes, &x, &y))
        goto oom;
    uint32_t K = out->nrows;
    struct problem prob = {.l = (int)nidx, .n = (int)K + 1, .y = y, .x = x, .bias = 1.0};
    /* Dual solvers (see rand() above), stopping where scikit-learn's
     * LinearSVC does by default (tol 1e-4 is LIBLINEAR's eps). */
    struct parameter par = {.solver_type = train_linear_solver(o->algo), .eps = LINEAR_EPS, .C = o->C};
    const char *why = check_parameter(&prob, &par);
    if (why) {
        rc = tri_errf(err, errlen, TRI_EINVAL, "LIBLINEAR: %s", why);
        goto done;
    }
    train_linear_reseed();
    lm = train(&prob, &par);
    if (!lm)
        goto oom;
    if (get_nr_class(lm) < 2) {
        rc = tri_errf(err, errlen, TRI_EINVAL, "the training documents carry only one label");
        goto done;
    }
    if (copy_weights(lm, L, out))
        goto oom;
    rc = 0;
    goto done;
oom:
    rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
done:
    rc = train_finish(o, set, idx, nidx, tok, out, kept_df, rc, err, errlen);
    if (lm)
        free_and_destroy_model(&lm);
    free(nodes);
    free(x);
    free(y);
    free(keep_of);
    free(kept_df);
    u32map_free(&rows);
    bag_free(&bag);
    tok_free(tok);
    return rc;
}
