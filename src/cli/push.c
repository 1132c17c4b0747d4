/* triage push MODEL and triage push --tree: publishing models to a store
 * (layout: target.h), gated on held-out records when asked. */
#include "target.h"
#include "core/eval.h"
#include "core/tri_err.h"
#include "core/tstamp.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int push_tree(int argc, char **argv);

int cmd_push(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--tree") || !strncmp(argv[i], "--tree=", 7))
            return push_tree(argc, argv);
    static const struct option opts[] = {TARGET_OPTS,
                                         {"gate", required_argument, 0, 'g'},
                                         {"label", required_argument, 0, 'l'},
                                         {"min-gain", required_argument, 0, 'm'},
                                         {0, 0, 0, 0}};
    target_t t = {0};
    char *gate = NULL;
    const char *label = NULL;
    double min_gain = 0;
    int c, rc = EXIT_USAGE;
    optind = 1;
    while ((c = getopt_long(argc, argv, "S:n:a:E:R:hg:l:m:", opts, NULL)) != -1) {
        if (target_opt(c, &t))
            continue;
        switch (c) {
        case 'g': gate = optarg; break;
        case 'l': label = optarg; break;
        case 'm':
            if (cli_parse_double(optarg, &min_gain))
                return cli_usage_error("push", "--min-gain takes a number, not '%s'", optarg);
            break;
        case 'h':
            printf("usage: triage push MODEL --store URL [--name NAME | --account ACCOUNT]\n"
                   "                  [--gate FILE --label FIELD [--min-gain X]]\n"
                   "Publishes MODEL as a new version. With --gate, evaluates it and the version in use on\n"
                   "FILE and refuses (exit 1) unless the new one is at least as accurate plus X.\n"
                   "       triage push --tree DIR ...: see triage push --tree . --help\n");
            target_opts_usage(stdout);
            return EXIT_OKAY;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("push", "give exactly one MODEL file");
    if ((rc = target_check("push", &t)))
        return rc;
    if (gate && !label)
        return cli_usage_error("push", "--gate needs --label FIELD");
    const char *path = argv[optind];
    char err[TRI_ERRLEN];
    model_t *m = NULL, *cur = NULL;
    store_t *s = NULL;
    versions_t vs = {0};
    rc = EXIT_FAIL;
    if (model_load_file(path, &m, err, sizeof err) || clf_probe(m, err, sizeof err)) {
        fprintf(stderr, "triage push: refusing %s: %s\n", path, err);
        goto out;
    }
    if (target_open("push", &t, &s))
        goto out;
    if (target_versions(s, t.dir, &vs, err, sizeof err)) {
        fprintf(stderr, "triage push: %s: %s\n", store_url(s), err);
        goto out;
    }
    const char *using = versions_in_use(&vs);
    if (gate) {
        double acc_new, acc_cur = 0;
        size_t n_new, n_cur = 0;
        if (gate_accuracy(m, gate, label, &acc_new, &n_new))
            goto out;
        if (using) {
            if (target_load(s, t.dir, using, &cur, err, sizeof err)) {
                fprintf(stderr, "triage push: cannot read the version in use (%s): %s\n", using, err);
                goto out;
            }
            if (gate_accuracy(cur, gate, label, &acc_cur, &n_cur))
                goto out;
        }
        printf("gate on %s (%zu labeled records): new %.4f, in use %s %.4f, required gain %+.4f\n", gate, n_new,
               acc_new, using ? using : "(none)", acc_cur, min_gain);
        if (using && acc_new + 1e-12 < acc_cur + min_gain) {
            fprintf(stderr, "triage push: refused: the new model (%.4f) does not beat the one in use (%.4f) by %+.4f\n",
                    acc_new, acc_cur, min_gain);
            goto out;
        }
    }
    char version[64];
    if (target_publish(s, t.dir, path, m, &vs, version, err, sizeof err)) {
        fprintf(stderr, "triage push: %s: %s\n", store_url(s), err);
        goto out;
    }
    printf("pushed %s as %s@%s to %s/%s/\n", path, t.dir, version, store_url(s), t.dir);
    if (vs.pinned[0])
        printf("note: %s is pinned to %s; workers keep serving it until 'triage promote' or 'triage unpin'\n", t.dir, vs.pinned);
    rc = EXIT_OKAY;
out:
    versions_free(&vs);
    model_unref(m);
    model_unref(cur);
    store_close(s);
    return rc;
}

/* ---- triage push --tree: every model of a per-account training run ----
 *
 * The tree `triage train --per-account` writes:
 *   DIR/default/model.tmodel, DIR/default/holdout.jsonl      the shared model
 *   DIR/accounts/ACCOUNT/model.tmodel, .../holdout.jsonl     one per account
 * holdout.jsonl holds the labeled records that model never saw. With --gate,
 * a model is published only when it is strictly more accurate on them (plus
 * --min-gain) than what serves that account's records now: the account's own
 * version in use, else the default (after this run's default, if that was
 * published). An equal model is not published: it would only cost every
 * worker a download. Accounts are pushed by --jobs threads, each with its
 * own store connection. */

typedef struct tree_item {
    char dir[400];          /* store directory: NAME or accounts/ACCOUNT */
    char path[1200];        /* DIR/.../model.tmodel */
    char hold[1200];        /* DIR/.../holdout.jsonl */
    /* results */
    int published, refused, failed;
    double acc_new, acc_cur;
    size_t n;
    char against[440];      /* what it was compared with: "own@VERSION", "default@VERSION" or "" */
    char version[64];
    char pinned[128];
    char err[TRI_ERRLEN];
} tree_item_t;

typedef struct tree_run {
    target_t t;
    tree_item_t *items;
    size_t n;
    size_t next;            /* atomically claimed */
    int gate;
    double min_gain;
    model_t *def;           /* default in use for accounts without a model (may be NULL); shared, read-only */
    char def_tag[420];
} tree_run_t;

/* Gates and publishes one item; fills its result fields. */
static void tree_push_one(tree_run_t *run, store_t *s, tree_item_t *it)
{
    model_t *m = NULL, *cur = NULL;
    versions_t vs = {0};
    char *label = NULL;
    if (model_load_file(it->path, &m, it->err, sizeof it->err) || clf_probe(m, it->err, sizeof it->err) ||
        target_versions(s, it->dir, &vs, it->err, sizeof it->err))
        goto fail;
    snprintf(it->pinned, sizeof it->pinned, "%s", vs.pinned);
    if (run->gate) {
        const char *using = versions_in_use(&vs);
        model_t *against = NULL;
        if (using) {
            if (target_load(s, it->dir, using, &cur, it->err, sizeof it->err))
                goto fail;
            against = cur;
            snprintf(it->against, sizeof it->against, "%s@%s", it->dir, using);
        } else if (run->def && strcmp(it->dir, run->t.name ? run->t.name : "default")) {
            against = run->def;
            snprintf(it->against, sizeof it->against, "%s", run->def_tag);
        }
        const char *lf = json_string_value(json_object_get(model_meta(m), "label_field"));
        if (!lf || !(label = strdup(lf))) {
            snprintf(it->err, sizeof it->err, "%.400s has no label_field in its metadata", it->path);
            goto fail;
        }
        if (gate_accuracy(m, it->hold, label, &it->acc_new, &it->n) ||
            (against && gate_accuracy(against, it->hold, label, &it->acc_cur, &it->n))) {
            snprintf(it->err, sizeof it->err, "cannot evaluate on %.400s", it->hold);
            goto fail;
        }
        if (against && !(it->acc_new > it->acc_cur + run->min_gain + 1e-12)) {
            it->refused = 1;
            goto done;
        }
    }
    if (target_publish(s, it->dir, it->path, m, &vs, it->version, it->err, sizeof it->err))
        goto fail;
    it->published = 1;
    goto done;
fail:
    it->failed = 1;
done:
    free(label);
    versions_free(&vs);
    model_unref(m);
    model_unref(cur);
}

static void *tree_worker(void *arg)
{
    tree_run_t *run = arg;
    store_t *s = NULL;
    char err[TRI_ERRLEN];
    store_opts_t o = {.endpoint = run->t.endpoint, .region = run->t.region, .retries = -1};
    int orc = store_open(run->t.url, &o, &s, err, sizeof err);
    for (;;) {
        size_t i = __atomic_fetch_add(&run->next, 1, __ATOMIC_RELAXED);
        if (i >= run->n)
            break;
        if (orc) {
            run->items[i].failed = 1;
            snprintf(run->items[i].err, sizeof run->items[i].err, "%s", err);
            continue;
        }
        tree_push_one(run, s, &run->items[i]);
    }
    store_close(s);
    return NULL;
}

static int cmp_item(const void *a, const void *b) { return strcmp(((const tree_item_t *)a)->dir, ((const tree_item_t *)b)->dir); }

static int is_file(const char *p)
{
    struct stat st;
    return !stat(p, &st) && S_ISREG(st.st_mode);
}

/* The account items of the tree (sorted), plus nothing else. */
static int tree_scan(const char *root, tree_item_t **out, size_t *nout)
{
    char adir[800];
    snprintf(adir, sizeof adir, "%s/accounts", root);
    tree_item_t *v = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(adir);
    if (!d && errno != ENOENT) {
        fprintf(stderr, "triage push: %s: %s\n", adir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!cli_valid_part(e->d_name) || strlen(e->d_name) > 380)
            continue;
        if (n == cap) {
            tree_item_t *nv = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof *nv);
            if (!nv) {
                closedir(d);
                free(v);
                return -1;
            }
            v = nv;
        }
        tree_item_t *it = memset(&v[n], 0, sizeof *it);
        snprintf(it->dir, sizeof it->dir, "accounts/%s", e->d_name);
        snprintf(it->path, sizeof it->path, "%s/%s/model.tmodel", adir, e->d_name);
        snprintf(it->hold, sizeof it->hold, "%s/%s/holdout.jsonl", adir, e->d_name);
        if (is_file(it->path))
            n++;
    }
    if (d)
        closedir(d);
    if (n)
        qsort(v, n, sizeof *v, cmp_item);
    *out = v;
    *nout = n;
    return 0;
}

static void tree_item_print(const tree_item_t *it, int gate)
{
    char cmp[600] = "";
    if (gate && it->against[0])
        snprintf(cmp, sizeof cmp, " (%.4f vs %s %.4f on %zu held-out)", it->acc_new, it->against, it->acc_cur, it->n);
    else if (gate)
        snprintf(cmp, sizeof cmp, " (%.4f on %zu held-out; nothing in use)", it->acc_new, it->n);
    if (it->failed)
        printf("%s: failed: %s\n", it->dir, it->err);
    else if (it->refused)
        printf("%s: kept the version in use%s\n", it->dir, cmp);
    else
        printf("%s: published %s%s%s\n", it->dir, it->version, cmp, it->pinned[0] ? " [pinned: not served until promoted]" : "");
}

static int push_tree(int argc, char **argv)
{
    static const struct option opts[] = {TARGET_OPTS,
                                         {"tree", required_argument, 0, 'T'},
                                         {"gate", no_argument, 0, 'g'},
                                         {"min-gain", required_argument, 0, 'm'},
                                         {"jobs", required_argument, 0, 'j'},
                                         {0, 0, 0, 0}};
    tree_run_t run = {0};
    const char *root = NULL;
    uint32_t jobs = 8;
    int c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "S:n:a:E:R:hT:gm:j:", opts, NULL)) != -1) {
        if (target_opt(c, &run.t))
            continue;
        switch (c) {
        case 'T': root = optarg; break;
        case 'g': run.gate = 1; break;
        case 'm':
            if (cli_parse_double(optarg, &run.min_gain))
                return cli_usage_error("push", "--min-gain takes a number, not '%s'", optarg);
            break;
        case 'j':
            if (cli_parse_u32(optarg, &jobs) || jobs < 1 || jobs > 64)
                return cli_usage_error("push", "--jobs takes 1 to 64, not '%s'", optarg);
            break;
        case 'h':
            printf("usage: triage push --tree DIR --store URL [--name NAME] [--gate [--min-gain X]] [--jobs N]\n"
                   "Publishes the models `triage train --per-account` wrote under DIR: DIR/default/ (as NAME)\n"
                   "and DIR/accounts/ACCOUNT/, N at a time (default 8). With --gate, only those strictly more\n"
                   "accurate (plus X) on their held-out records than what serves them now.\n");
            target_opts_usage(stdout);
            return EXIT_OKAY;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc)
        return cli_usage_error("push", "--tree takes no MODEL argument (unexpected '%s')", argv[optind]);
    if (!root || strlen(root) > 700)
        return cli_usage_error("push", "--tree takes a directory (at most 700 bytes)");
    if (run.t.account)
        return cli_usage_error("push", "--tree publishes every account under DIR; --account does not apply");
    if ((rc = target_check("push", &run.t)))
        return rc;
    rc = EXIT_FAIL;
    store_t *s = NULL;
    tree_item_t def = {0};
    versions_t dvs = {0};
    if (tree_scan(root, &run.items, &run.n) || target_open("push", &run.t, &s))
        goto out;
    /* The default first, alone: the accounts are compared with the default
     * that will serve them. */
    snprintf(def.dir, sizeof def.dir, "%s", run.t.dir);
    snprintf(def.path, sizeof def.path, "%s/default/model.tmodel", root);
    snprintf(def.hold, sizeof def.hold, "%s/default/holdout.jsonl", root);
    int have_def = is_file(def.path);
    if (have_def) {
        tree_push_one(&run, s, &def);
        tree_item_print(&def, run.gate);
    }
    if (!have_def && !run.n) {
        fprintf(stderr, "triage push: no models under %s (expected default/model.tmodel, accounts/*/model.tmodel)\n",
                root);
        goto out;
    }
    char err[TRI_ERRLEN];
    if (run.gate) {
        if (target_versions(s, run.t.dir, &dvs, err, sizeof err)) {
            fprintf(stderr, "triage push: %s: %s\n", store_url(s), err);
            goto out;
        }
        const char *using = versions_in_use(&dvs);
        if (using) {
            if (target_load(s, run.t.dir, using, &run.def, err, sizeof err)) {
                fprintf(stderr, "triage push: cannot read %s@%s: %s\n", run.t.dir, using, err);
                goto out;
            }
            snprintf(run.def_tag, sizeof run.def_tag, "%s@%s", run.t.dir, using);
        }
    }
    if (jobs > run.n)
        jobs = run.n ? (uint32_t)run.n : 1;
    cli_run_threads(jobs, tree_worker, &run);
    size_t pub = 0, kept = 0, failed = 0, pinned = 0;
    for (size_t i = 0; i < run.n; i++) {
        tree_item_t *it = &run.items[i];
        tree_item_print(it, run.gate);
        pub += it->published;
        kept += it->refused;
        failed += it->failed;
        pinned += it->published && it->pinned[0];
    }
    printf("summary: %zu accounts: %zu published, %zu kept the version in use, %zu failed", run.n, pub, kept, failed);
    if (pinned)
        printf("; %zu of those published are pinned to an older version (see triage promote)", pinned);
    if (have_def)
        printf("; default: %s", def.failed ? "failed" : def.refused ? "kept" : "published");
    printf("\n");
    rc = failed || def.failed ? EXIT_FAIL : EXIT_OKAY;
out:
    versions_free(&dvs);
    model_unref(run.def);
    free(run.items);
    store_close(s);
    return rc;
}
