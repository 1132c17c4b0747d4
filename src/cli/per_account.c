/* triage train --per-account FIELD: a model for every account with at least
 * --min-records labeled records, and the shared default, in one run.
 *
 * Each account's model is trained by train_run (the trainer, settings,
 * holdout, calibration and probes of `triage train`) on that account's
 * records only, with that account's own label set. Its held-out records (the
 * seeded tenth train_run measures on) are kept out of the default's training
 * too, so the comparison the report makes, own model against the default on
 * the same held-out records, is fair to both. The default is trained on every
 * other record (every account, large or small, and records without one).
 *
 * Output, the tree `triage push --tree` publishes:
 *   OUT/default/model.tmodel  OUT/default/holdout.jsonl  (every account's held-out records)
 *   OUT/accounts/ACCOUNT/model.tmodel  OUT/accounts/ACCOUNT/holdout.jsonl
 *   OUT/report.jsonl  one line per account: records, labels, held-out accuracy
 *                     of its own model and of the default, whether its own wins;
 *                     or why it was skipped (too few records, one label, a name
 *                     the store cannot hold)
 * holdout.jsonl files are the input lines as read, so the gate reads them
 * with the model's own text and label fields.
 *
 * --tune: before an account's model is trained, the search of `triage tune`
 * (core/tune.h) runs on that account's training records only (its held-out
 * tenth stays unseen, so the comparison with the default stays fair), and the
 * model is trained with the winner. A budget is shared by records: an account
 * with a tenth of the records tuned gets a tenth of budget x threads, since
 * that many accounts tune at once. The default keeps the settings given.
 *
 * Threads: --jobs workers (default: the cores online) take the default and
 * the accounts, largest first, from one counter; each job owns its arrays,
 * the records are read-only once loaded, and the default model is shared
 * read-only (model_t is reference counted atomically; every thread scores
 * with its own clf_t). */
#include "cli.h"
#include "core/eval.h"
#include "core/train.h"
#include "core/tri_err.h"
#include "core/tune.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NONE UINT32_MAX

typedef struct prec {
    char *raw;                 /* the input line */
    char *text;                /* decoded text fields */
    size_t len;
    uint32_t label;            /* index into names */
    uint32_t acct;             /* index into accounts, NONE without one */
    int held;                  /* held out by its account's model */
} prec_t;

typedef struct acct {
    char *name;
    size_t n, first;           /* its records: order[first .. first+n) */
    uint32_t nlabels;
    const char *skip;          /* why it has no model, or NULL */
    /* results */
    int done;
    size_t *hold, nhold;       /* record indices its model holds out */
    double own, def;           /* held-out accuracy of its model and of the default */
    size_t model_bytes;
    char err[TRI_ERRLEN];
    /* --tune */
    int tuned;                 /* the search ran (else tune_err says why not) */
    tune_trial_t best;
    uint32_t trials;
    double budget_s;
    char tune_err[TRI_ERRLEN];
} acct_t;

typedef struct run {
    const pa_opts_t *o;
    prec_t *r;
    size_t n, cap, bad, nolabel;
    char **names;              /* label names, in order of first sight */
    uint32_t nnames;
    uint32_t *by_name;         /* label indices in name order: each set's labels sorted alike */
    json_t *label_ix, *acct_ix; /* name -> index, while reading */
    acct_t *a;
    uint32_t na;
    size_t *order;             /* record indices grouped by account */
    uint32_t *jobs;            /* account indices to train, largest first; NONE = the default */
    size_t njobs, next;
    model_t *def;
    char def_err[TRI_ERRLEN];
    rec_t rec;
    const char *path;
    double tune_s_per_record;  /* an account's share of the --tune budget */
} run_t;

/* ---- reading ---- */

static uint32_t intern(json_t *ix, char ***names, uint32_t *n, const char *s)
{
    json_t *v = json_object_get(ix, s);
    if (v)
        return (uint32_t)json_integer_value(v);
    char **nv = realloc(*names, (*n + 1) * sizeof *nv);
    if (!nv)
        return NONE;
    *names = nv;
    if (!(nv[*n] = strdup(s)) || json_object_set_new(ix, s, json_integer(*n)))
        return NONE;
    return (*n)++;
}

static int read_line(const char *line, size_t len, size_t lineno, void *ctx)
{
    run_t *run = ctx;
    if (!len)
        return 0;
    char detail[200];
    int st = rec_decode(&run->o->schema, line, len, &run->rec, detail, sizeof detail);
    if (st != REC_OK) {
        if (run->bad++ < 5)
            fprintf(stderr, "triage train: %s:%zu: %s: %s (skipped)\n", run->path, lineno, rec_status_code(st), detail);
        return 0;
    }
    if (!run->rec.has_label) {
        run->nolabel++;
        return 0;
    }
    if (run->n == run->cap) {
        size_t cap = run->cap ? run->cap * 2 : 4096;
        prec_t *v = realloc(run->r, cap * sizeof *v);
        if (!v)
            return TRI_ENOMEM;
        run->r = v;
        run->cap = cap;
    }
    prec_t *p = &run->r[run->n];
    memset(p, 0, sizeof *p);
    p->acct = NONE;
    p->label = intern(run->label_ix, &run->names, &run->nnames, buf_cstr(&run->rec.label));
    if (p->label == NONE)
        return TRI_ENOMEM;
    if (run->rec.has_account) {
        const char *an = buf_cstr(&run->rec.account);
        json_t *v = json_object_get(run->acct_ix, an);
        if (v)
            p->acct = (uint32_t)json_integer_value(v);
        else {
            acct_t *na = realloc(run->a, (run->na + 1) * sizeof *na);
            if (!na)
                return TRI_ENOMEM;
            run->a = na;
            memset(&na[run->na], 0, sizeof *na);
            if (!(na[run->na].name = strdup(an)) || json_object_set_new(run->acct_ix, an, json_integer(run->na)))
                return TRI_ENOMEM;
            p->acct = run->na++;
        }
        run->a[p->acct].n++;
    }
    p->raw = strndup(line, len);
    p->text = strndup(run->rec.text.p ? run->rec.text.p : "", run->rec.text.len);
    p->len = run->rec.text.len;
    if (!p->raw || !p->text) {
        free(p->raw);
        free(p->text);
        return TRI_ENOMEM;
    }
    run->n++;
    return 0;
}

/* ---- one training set ---- */

/* The records idx[0..n) as a train_set_t with their own label set (names
 * sorted, so indices do not depend on the order of the data). Arrays are
 * owned by the caller through *own (free each). */
typedef struct set_arrays {
    const char **text;
    size_t *len;
    uint32_t *label;
    const char **labels;
} set_arrays_t;

static void set_arrays_free(set_arrays_t *a)
{
    free(a->text);
    free(a->len);
    free(a->label);
    free(a->labels);
}

static int make_set(const run_t *run, const size_t *idx, size_t n, train_set_t *set, set_arrays_t *a)
{
    memset(a, 0, sizeof *a);
    uint32_t *map = malloc((run->nnames + 1) * sizeof *map);
    a->text = malloc((n + 1) * sizeof *a->text);
    a->len = malloc((n + 1) * sizeof *a->len);
    a->label = malloc((n + 1) * sizeof *a->label);
    a->labels = malloc((run->nnames + 1) * sizeof *a->labels);
    if (!map || !a->text || !a->len || !a->label || !a->labels) {
        free(map);
        set_arrays_free(a);
        return TRI_ENOMEM;
    }
    const uint32_t *gl = run->by_name;
    for (uint32_t k = 0; k < run->nnames; k++)
        map[k] = NONE;
    for (size_t i = 0; i < n; i++)
        map[run->r[idx[i]].label] = 0;
    uint32_t L = 0;
    for (uint32_t k = 0; k < run->nnames; k++)
        if (map[gl[k]] != NONE) {
            map[gl[k]] = L;
            a->labels[L++] = run->names[gl[k]];
        }
    for (size_t i = 0; i < n; i++) {
        const prec_t *p = &run->r[idx[i]];
        a->text[i] = p->text;
        a->len[i] = p->len;
        a->label[i] = map[p->label];
    }
    free(map);
    *set = (train_set_t){n, a->text, a->len, a->label, L, a->labels};
    return 0;
}

/* ---- jobs ---- */

static int mkdir_p(const char *path)
{
    char tmp[1400];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return -1;
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

/* Writes DIR/model.tmodel and DIR/holdout.jsonl (the raw lines of hold). */
static int write_dir(const run_t *run, const char *dir, const buf_t *bytes, const size_t *hold, size_t nhold, char *err,
                     size_t errlen)
{
    char path[1400];
    if (mkdir_p(dir))
        return tri_errf(err, errlen, TRI_EIO, "%.1000s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/model.tmodel", dir);
    int rc = model_save_file(path, bytes->p, bytes->len, err, errlen);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/holdout.jsonl", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return tri_errf(err, errlen, TRI_EIO, "%.1000s: %s", path, strerror(errno));
    for (size_t i = 0; i < nhold; i++)
        fprintf(f, "%s\n", run->r[hold[i]].raw);
    if (fclose(f))
        return tri_errf(err, errlen, TRI_EIO, "%.1000s: %s", path, strerror(errno));
    return 0;
}

static json_t *model_meta_for(const run_t *run, const char *account, size_t n, const char *stopspec,
                              const char *stem)
{
    const pa_opts_t *o = run->o;
    json_t *jtext = json_array(), *jfiles = json_array();
    for (size_t i = 0; i < o->schema.ntext; i++)
        json_array_append_new(jtext, json_string(o->schema.text_fields[i]));
    for (size_t i = 0; i < o->nfiles; i++)
        json_array_append_new(jfiles, json_string(o->files[i]));
    return json_pack("{s:s,s:s?,s:s,s:s,s:s,s:s,s:s,s:o,s:{s:o,s:I}}", "name", account ? account : o->name,
                     "account", account, "account_field", o->schema.account_field, "triage_version", TRIAGE_VERSION,
                     "stopwords", stopspec, "stem", stem, "label_field", o->schema.label_field, "text_fields",
                     jtext, "data", "files", jfiles, "records", (json_int_t)n);
}

/* Trains one model on the records idx[0..n) with fit (NULL: the settings
 * given) and writes it under dir; tune (borrowed, or NULL) goes into its
 * metadata. */
static int train_one(run_t *run, const char *account, const size_t *idx, size_t n, const size_t *hold, size_t nhold,
                     const char *dir, const tune_trial_t *tuned, json_t *tune, train_result_t *res, char *err,
                     size_t errlen)
{
    train_set_t set;
    set_arrays_t arr;
    train_run_opts_t ro = run->o->run;
    const char *stopspec = run->o->stopspec, *stem = run->o->stem;
    if (tuned) {
        ro.fit = tuned->opts;
        stopspec = tuned->opts.tok.stopwords ? "en" : "none";
        stem = tuned->opts.tok.stem[0] ? tuned->opts.tok.stem : "none";
    }
    json_t *meta = model_meta_for(run, account, n, stopspec, stem);
    if (!meta || (tune && json_object_set(meta, "tune", tune)) || make_set(run, idx, n, &set, &arr)) {
        if (meta)
            json_decref(meta);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    ro.meta = meta;
    int rc = train_run(&ro, &set, res, err, errlen);
    if (!rc)
        rc = write_dir(run, dir, &res->bytes, hold, nhold, err, errlen);
    json_decref(meta);
    set_arrays_free(&arr);
    return rc;
}

/* The search on the account's records that its model does not hold out.
 * Returns 1 when a->best holds the winner, 0 when the account keeps the
 * settings given (a->tune_err says why; never fatal: a search that cannot
 * run on a small account still leaves it a model). */
static int tune_account(run_t *run, acct_t *a)
{
    const pa_opts_t *o = run->o;
    size_t *idx = calloc(a->n + 1, sizeof *idx), m = 0;
    if (!idx) {
        snprintf(a->tune_err, sizeof a->tune_err, "out of memory");
        return 0;
    }
    for (size_t i = 0; i < a->n; i++)
        if (!run->r[run->order[a->first + i]].held)
            idx[m++] = run->order[a->first + i];
    train_set_t set;
    set_arrays_t arr;
    int ok = 0;
    if (make_set(run, idx, m, &set, &arr)) {
        snprintf(a->tune_err, sizeof a->tune_err, "out of memory");
        goto out;
    }
    a->budget_s = run->tune_s_per_record * (double)a->n;
    tune_opts_t to = {.base = o->run.fit, .folds = o->tune_folds < m ? o->tune_folds : (uint32_t)m,
                      .trials = o->tune_trials, .budget_s = a->budget_s, .seed = o->run.seed, .threads = 1};
    if (to.folds < 2)
        snprintf(a->tune_err, sizeof a->tune_err, "too few training records to cross-validate");
    else if (!tune_run(&to, &set, &a->best, &a->trials, a->tune_err, sizeof a->tune_err))
        ok = a->tuned = 1;
    set_arrays_free(&arr);
out:
    free(idx);
    return ok;
}

static void account_job(run_t *run, acct_t *a)
{
    char dir[1300];
    snprintf(dir, sizeof dir, "%s/accounts/%s", run->o->out, a->name);
    train_result_t res = {0};
    eval_report_t rep = {0};
    json_t *tune = NULL;
    if (run->o->tune && tune_account(run, a)) {
        tune = json_pack("{s:s,s:I,s:I,s:I,s:f,s:f,s:f}", "settings", a->best.desc, "trial",
                         (json_int_t)a->best.index, "trials", (json_int_t)a->trials, "folds",
                         (json_int_t)run->o->tune_folds, "cv_accuracy", a->best.cv_accuracy, "cv_macro_f1",
                         a->best.cv_macro_f1, "budget_s", a->budget_s);
        if (!tune) {
            snprintf(a->err, sizeof a->err, "out of memory");
            goto out;
        }
    }
    if (train_one(run, a->name, run->order + a->first, a->n, a->hold, a->nhold, dir, a->tuned ? &a->best : NULL,
                  tune, &res, a->err, sizeof a->err))
        goto out;
    if (!res.holdout || eval_compute(res.holdout, &rep)) {
        snprintf(a->err, sizeof a->err, "no held-out measurement");
        goto out;
    }
    a->own = rep.accuracy;
    a->model_bytes = res.bytes.len;
    a->done = 1;
out:
    if (tune)
        json_decref(tune);
    eval_report_free(&rep);
    train_result_free(&res);
}

static void default_job(run_t *run)
{
    size_t *idx = malloc((run->n + 1) * sizeof *idx), *hold = malloc((run->n + 1) * sizeof *hold);
    size_t n = 0, nh = 0;
    train_result_t res = {0};
    if (!idx || !hold) {
        snprintf(run->def_err, sizeof run->def_err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < run->n; i++) {
        if (run->r[i].held)
            hold[nh++] = i;
        else
            idx[n++] = i;
    }
    char dir[1300];
    snprintf(dir, sizeof dir, "%s/default", run->o->out);
    if (!train_one(run, NULL, idx, n, hold, nh, dir, NULL, NULL, &res, run->def_err, sizeof run->def_err))
        run->def = model_ref(res.model);
out:
    train_result_free(&res);
    free(idx);
    free(hold);
}

static void *worker(void *arg)
{
    run_t *run = arg;
    for (;;) {
        size_t j = __atomic_fetch_add(&run->next, 1, __ATOMIC_RELAXED);
        if (j >= run->njobs)
            return NULL;
        if (run->jobs[j] == NONE)
            default_job(run);
        else
            account_job(run, &run->a[run->jobs[j]]);
    }
}

/* The default's accuracy on an account's held-out records (label names
 * compared: the default knows every account's labels by name). */
static int default_accuracy(run_t *run, acct_t *a, clf_t *c)
{
    size_t ok = 0;
    for (size_t i = 0; i < a->nhold; i++) {
        const prec_t *p = &run->r[a->hold[i]];
        clf_result_t r;
        if (clf_classify(c, p->text, p->len, &r))
            return TRI_ENOMEM;
        ok += !strcmp(model_label(run->def, r.label), run->names[p->label]);
    }
    a->def = a->nhold ? (double)ok / (double)a->nhold : 0;
    return 0;
}

/* ---- the run ---- */

typedef struct named {
    const char *name;
    uint32_t ix;
} named_t;

static int cmp_named(const void *a, const void *b) { return strcmp(((const named_t *)a)->name, ((const named_t *)b)->name); }

static int cmp_job(const void *x, const void *y, void *ctx)
{
    const run_t *run = ctx;
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    size_t na = a == NONE ? SIZE_MAX : run->a[a].n, nb = b == NONE ? SIZE_MAX : run->a[b].n;
    if (na != nb)
        return na > nb ? -1 : 1;
    return a < b ? -1 : a > b;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Groups records by account, decides who gets a model, and marks the
 * records each account's model will hold out (train_run's own permutation). */
static int plan(run_t *run)
{
    const pa_opts_t *o = run->o;
    named_t *nm = malloc((run->nnames + 1) * sizeof *nm);
    run->by_name = malloc((run->nnames + 1) * sizeof *run->by_name);
    run->order = malloc((run->n + 1) * sizeof *run->order);
    run->jobs = malloc((run->na + 2) * sizeof *run->jobs);
    size_t *fill = calloc(run->na + 1, sizeof *fill), *perm = malloc((run->n + 1) * sizeof *perm);
    int rc = TRI_ENOMEM;
    if (!nm || !run->by_name || !run->order || !run->jobs || !fill || !perm)
        goto out;
    for (uint32_t k = 0; k < run->nnames; k++)
        nm[k] = (named_t){run->names[k], k};
    qsort(nm, run->nnames, sizeof *nm, cmp_named);
    for (uint32_t k = 0; k < run->nnames; k++)
        run->by_name[k] = nm[k].ix;
    size_t at = 0;
    for (uint32_t k = 0; k < run->na; k++) {
        run->a[k].first = at;
        at += run->a[k].n;
    }
    for (size_t i = 0; i < run->n; i++)
        if (run->r[i].acct != NONE) {
            acct_t *a = &run->a[run->r[i].acct];
            run->order[a->first + fill[run->r[i].acct]++] = i;
        }
    run->jobs[run->njobs++] = NONE;
    for (uint32_t k = 0; k < run->na; k++) {
        acct_t *a = &run->a[k];
        const size_t *idx = run->order + a->first;
        uint32_t first = run->r[idx[0]].label;
        int labels = 1;
        for (size_t i = 1; i < a->n && labels < 2; i++)
            labels += run->r[idx[i]].label != first;
        if (a->n < o->min_records) {
            a->skip = "too few records";
            continue;
        }
        if (!cli_valid_part(a->name)) {
            a->skip = "a name the store cannot hold";
            continue;
        }
        if (labels < 2) {
            a->skip = "one label";
            continue;
        }
        a->nhold = (size_t)floor(o->run.holdout * (double)a->n);
        if (!(a->hold = malloc((a->nhold + 1) * sizeof *a->hold)))
            goto out;
        train_shuffle(perm, a->n, o->run.seed);
        for (size_t i = 0; i < a->nhold; i++) {
            a->hold[i] = idx[perm[i]];
            run->r[a->hold[i]].held = 1;
        }
        run->jobs[run->njobs++] = k;
    }
    qsort_r(run->jobs, run->njobs, sizeof *run->jobs, cmp_job, run);
    rc = 0;
out:
    free(nm);
    free(fill);
    free(perm);
    return rc;
}

static void run_free(run_t *run)
{
    for (size_t i = 0; i < run->n; i++) {
        free(run->r[i].raw);
        free(run->r[i].text);
    }
    free(run->r);
    for (uint32_t k = 0; k < run->nnames; k++)
        free(run->names[k]);
    free(run->names);
    for (uint32_t k = 0; k < run->na; k++) {
        free(run->a[k].name);
        free(run->a[k].hold);
    }
    free(run->a);
    free(run->by_name);
    free(run->order);
    free(run->jobs);
    if (run->label_ix)
        json_decref(run->label_ix);
    if (run->acct_ix)
        json_decref(run->acct_ix);
    model_unref(run->def);
    rec_free(&run->rec);
}

static int cmp_acct_name(const void *x, const void *y, void *ctx)
{
    const run_t *run = ctx;
    return strcmp(run->a[*(const uint32_t *)x].name, run->a[*(const uint32_t *)y].name);
}

/* Per-account lines (stdout, unless quiet) and OUT/report.jsonl; the summary. */
static int report(run_t *run, double secs, unsigned threads)
{
    const pa_opts_t *o = run->o;
    char path[1300];
    snprintf(path, sizeof path, "%s/report.jsonl", o->out);
    FILE *f = fopen(path, "w");
    uint32_t *ord = malloc((run->na + 1) * sizeof *ord);
    if (!f || !ord) {
        fprintf(stderr, "triage train: %s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        free(ord);
        return -1;
    }
    for (uint32_t k = 0; k < run->na; k++)
        ord[k] = k;
    qsort_r(ord, run->na, sizeof *ord, cmp_acct_name, run);
    size_t trained = 0, wins = 0, small = 0, failed = 0, other = 0, tuned = 0, retuned = 0, trials = 0;
    double gain = 0, own = 0, def = 0;
    for (uint32_t i = 0; i < run->na; i++) {
        const acct_t *a = &run->a[ord[i]];
        json_t *j;
        if (a->done) {
            int win = a->own > a->def;
            j = json_pack("{s:s,s:I,s:i,s:I,s:f,s:f,s:b,s:I}", "account", a->name, "records", (json_int_t)a->n,
                          "labels", (int)a->nlabels, "held_out", (json_int_t)a->nhold, "accuracy", a->own,
                          "default_accuracy", a->def, "wins", win, "model_bytes", (json_int_t)a->model_bytes);
            if (j && o->tune)
                json_object_set_new(j, "tune",
                                    a->tuned ? json_pack("{s:s,s:I,s:I,s:f,s:f}", "settings", a->best.desc, "trial",
                                                         (json_int_t)a->best.index, "trials", (json_int_t)a->trials,
                                                         "cv_accuracy", a->best.cv_accuracy, "budget_s", a->budget_s)
                                             : json_pack("{s:s}", "error", a->tune_err));
            tuned += a->tuned;
            retuned += a->tuned && a->best.index != 0;
            trials += a->trials;
            trained++;
            wins += win;
            own += a->own;
            def += a->def;
            gain += a->own - a->def;
            if (!o->quiet)
                printf("%-24s %7zu records %3u labels  held-out %5zu: own %.4f default %.4f %s\n", a->name, a->n,
                       a->nlabels, a->nhold, a->own, a->def, win ? "wins" : "keeps the default");
        } else {
            const char *why = a->skip ? a->skip : a->err;
            j = json_pack("{s:s,s:I,s:s}", "account", a->name, "records", (json_int_t)a->n, "skipped", why);
            if (!a->skip)
                failed++;
            else if (!strcmp(a->skip, "too few records"))
                small++;
            else
                other++;
            if (!a->skip)
                fprintf(stderr, "triage train: account %s: %s\n", a->name, a->err);
        }
        if (j) {
            json_dumpf(j, f, JSON_COMPACT | JSON_REAL_PRECISION(6));
            fputc('\n', f);
            json_decref(j);
        }
    }
    free(ord);
    int bad = fclose(f);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("trained %zu account models and the default on %zu records in %.1f s (%u threads, peak RSS %.0f MB)\n",
           trained, run->n, secs, threads, (double)ru.ru_maxrss / 1024.0);
    printf("%zu accounts below --min-records %u and %zu with one label or an unusable name use the default; %zu "
           "failed\n",
           small, o->min_records, other, failed);
    if (trained)
        printf("own model wins on %zu of %zu accounts (%.1f%%); mean held-out accuracy own %.4f, default %.4f, "
               "gain %+.4f\n",
               wins, trained, 100.0 * (double)wins / (double)trained, own / (double)trained, def / (double)trained,
               gain / (double)trained);
    if (o->tune)
        printf("tuned %zu of %zu account models (%zu trials in all); %zu chose settings other than those given\n",
               tuned, trained, trials, retuned);
    printf("wrote %s/ (push it with: triage push --tree %s --store URL --gate)\n", o->out, o->out);
    return bad || failed ? -1 : 0;
}

int train_per_account(const pa_opts_t *o)
{
    run_t run = {.o = o};
    int rc = EXIT_FAIL;
    double t0 = now_s();
    char err[TRI_ERRLEN];
    run.label_ix = json_object();
    run.acct_ix = json_object();
    if (!run.label_ix || !run.acct_ix)
        goto out;
    for (size_t i = 0; i < o->nfiles; i++) {
        run.path = o->files[i];
        int r = dataset_each_line(o->files[i], read_line, &run, err, sizeof err);
        if (r) {
            fprintf(stderr, "triage train: %s\n", r == TRI_ENOMEM ? "out of memory" : err);
            goto out;
        }
    }
    if (run.bad > 5)
        fprintf(stderr, "triage train: %zu bad records skipped in all\n", run.bad);
    if (run.nnames < 2) {
        fprintf(stderr, "triage train: need at least two distinct labels in '%s', found %u (%zu records)\n",
                o->schema.label_field, run.nnames, run.n);
        goto out;
    }
    if (plan(&run)) {
        fprintf(stderr, "triage train: out of memory\n");
        goto out;
    }
    for (uint32_t k = 0; k < run.na; k++) {
        acct_t *a = &run.a[k];
        uint32_t *seen = calloc(run.nnames, sizeof *seen);
        if (!seen)
            goto out;
        for (size_t i = 0; i < a->n; i++)
            a->nlabels += !seen[run.r[run.order[a->first + i]].label]++;
        free(seen);
    }
    unsigned want = o->jobs < run.njobs ? o->jobs : (unsigned)run.njobs;
    if (o->tune && o->tune_budget_s > 0) {
        size_t tuned_records = 0;
        for (size_t j = 0; j < run.njobs; j++)
            if (run.jobs[j] != NONE)
                tuned_records += run.a[run.jobs[j]].n;
        run.tune_s_per_record = tuned_records ? o->tune_budget_s * want / (double)tuned_records : 0;
    }
    unsigned threads = cli_run_threads(want, worker, &run);
    if (!run.def) {
        fprintf(stderr, "triage train: the default model: %s\n", run.def_err);
        goto out;
    }
    clf_t *c;
    if (clf_new(run.def, &c, err, sizeof err)) {
        fprintf(stderr, "triage train: %s\n", err);
        goto out;
    }
    for (uint32_t k = 0; k < run.na; k++)
        if (run.a[k].done && default_accuracy(&run, &run.a[k], c)) {
            clf_free(c);
            fprintf(stderr, "triage train: out of memory\n");
            goto out;
        }
    clf_free(c);
    if (!report(&run, now_s() - t0, threads))
        rc = EXIT_OKAY;
out:
    run_free(&run);
    return rc;
}
