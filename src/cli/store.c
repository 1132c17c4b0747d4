/* triage push / models / pin / unpin: publishing models to a store and
 * choosing which version serves.
 *
 * Layout (shared with the daemon's registry): PREFIX/NAME/VERSION.tmodel and
 * its sidecar PREFIX/NAME/VERSION.json (metadata, so listing needs no model
 * download), PREFIX/NAME/PIN (a version name: rollback), and the same under
 * PREFIX/accounts/ACCOUNT/ for per-account models. VERSION is the UTC time
 * of the push, sortable: the greatest serves unless PIN names another. */
#include "cli.h"
#include "core/eval.h"
#include "io/store.h"
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

typedef struct target {
    const char *url, *name, *account, *endpoint, *region;
    char dir[400];
} target_t;

static int target_check(const char *cmd, target_t *t)
{
    if (!t->url)
        return cli_usage_error(cmd, "--store URL is required (s3://BUCKET/PREFIX or file:///DIR)");
    if (t->name && t->account)
        return cli_usage_error(cmd, "give --name or --account, not both");
    if (t->account) {
        if (!cli_valid_part(t->account))
            return cli_usage_error(cmd, "bad account name '%s'", t->account);
        snprintf(t->dir, sizeof t->dir, "accounts/%s", t->account);
    } else {
        const char *n = t->name ? t->name : "default";
        if (!cli_valid_part(n) || !strcmp(n, "accounts"))
            return cli_usage_error(cmd, "bad model name '%s'", n);
        snprintf(t->dir, sizeof t->dir, "%s", n);
    }
    return 0;
}

static int open_store(const char *cmd, const target_t *t, store_t **s)
{
    store_opts_t o = {.endpoint = t->endpoint, .region = t->region, .retries = -1};
    char err[TRI_ERRLEN];
    if (store_open(t->url, &o, s, err, sizeof err)) {
        fprintf(stderr, "triage %s: %s\n", cmd, err);
        return -1;
    }
    return 0;
}

/* The versions under dir (sorted ascending) and the pinned one ("" if none). */
typedef struct versions {
    char **v;
    uint64_t *bytes;
    size_t n;
    char pinned[128];
} versions_t;

static void versions_free(versions_t *vs)
{
    for (size_t i = 0; i < vs->n; i++)
        free(vs->v[i]);
    free(vs->v);
    free(vs->bytes);
    memset(vs, 0, sizeof *vs);
}

static int list_versions(store_t *s, const char *dir, versions_t *vs, char *err, size_t errlen)
{
    memset(vs, 0, sizeof *vs);
    char prefix[420];
    snprintf(prefix, sizeof prefix, "%s/", dir);
    store_list_t l = {0};
    int rc = store_list(s, prefix, &l, err, errlen);
    if (rc)
        return rc;
    vs->v = calloc(l.n + 1, sizeof *vs->v);
    vs->bytes = calloc(l.n + 1, sizeof *vs->bytes);
    int have_pin = 0;
    for (size_t i = 0; vs->v && vs->bytes && i < l.n; i++) {
        const char *f = l.v[i].key + strlen(prefix);
        size_t fl = strlen(f);
        if (!strcmp(f, "PIN"))
            have_pin = 1;
        else if (fl > 7 && !strcmp(f + fl - 7, ".tmodel") && !strchr(f, '/')) {
            vs->bytes[vs->n] = l.v[i].size;
            vs->v[vs->n++] = strndup(f, fl - 7);
        }
    }
    store_list_free(&l);
    if (!vs->v || !vs->bytes)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    /* Sort versions with their sizes. */
    for (size_t i = 1; i < vs->n; i++)
        for (size_t j = i; j > 0 && strcmp(vs->v[j - 1], vs->v[j]) > 0; j--) {
            char *t = vs->v[j];
            vs->v[j] = vs->v[j - 1];
            vs->v[j - 1] = t;
            uint64_t b = vs->bytes[j];
            vs->bytes[j] = vs->bytes[j - 1];
            vs->bytes[j - 1] = b;
        }
    if (have_pin)
        return store_read_pin(s, dir, vs->pinned, sizeof vs->pinned, err, errlen);
    return 0;
}

/* The version that serves: the pinned one if it exists, else the newest. */
static const char *in_use(const versions_t *vs) { return store_pick_version(vs->v, vs->n, vs->pinned); }

static void now_version(char *out, size_t n)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(out, n, "%04d%02d%02dT%02d%02d%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
}

/* Accuracy of m on FILE's records with a label in field, reading the text
 * fields the model was trained with. */
static int accuracy_on(model_t *m, char *file, const char *field, double *acc, size_t *n)
{
    rec_schema_t schema;
    rec_schema_default(&schema);
    schema.label_field = field;
    if (cli_model_schema("push", m, &schema, 0))
        return -1;
    uint32_t L = model_nlabels(m);
    const char **names = malloc(L * sizeof *names);
    if (!names)
        return -1;
    for (uint32_t k = 0; k < L; k++)
        names[k] = model_label(m, k);
    dataset_t ds;
    int rc = cli_read_data("push", &ds, &file, 1, &schema, names, L);
    free(names);
    if (rc)
        return -1;
    uint32_t *pred = malloc((ds.n ? ds.n : 1) * sizeof *pred);
    if (!pred || cli_predict(m, &ds, NULL, ds.n, pred, NULL)) {
        free(pred);
        dataset_free(&ds);
        return -1;
    }
    size_t ok = 0;
    for (size_t k = 0; k < ds.n; k++)
        ok += pred[k] == ds.label[k];
    *acc = ds.n ? (double)ok / (double)ds.n : 0;
    *n = ds.n;
    free(pred);
    dataset_free(&ds);
    return 0;
}

static void target_opts_usage(FILE *f)
{
    fprintf(f, "  --store URL          s3://BUCKET/PREFIX or file:///DIR (S3 credentials: AWS_ACCESS_KEY_ID,\n"
               "                       AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; AWS_ENDPOINT_URL, AWS_REGION)\n"
               "  --name NAME          model name (default: default) | --account ACCOUNT  per-account model\n"
               "  --endpoint URL, --region REGION   override the environment\n");
}

#define TARGET_OPTS                                                                                             \
    {"store", required_argument, 0, 'S'}, {"name", required_argument, 0, 'n'},                                  \
        {"account", required_argument, 0, 'a'}, {"endpoint", required_argument, 0, 'E'},                        \
        {"region", required_argument, 0, 'R'}, {"help", no_argument, 0, 'h'}

static int target_opt(int c, target_t *t)
{
    switch (c) {
    case 'S': t->url = optarg; return 1;
    case 'n': t->name = optarg; return 1;
    case 'a': t->account = optarg; return 1;
    case 'E': t->endpoint = optarg; return 1;
    case 'R': t->region = optarg; return 1;
    default: return 0;
    }
}

/* Downloads and loads the version `using` under dir (through a temporary file). */
static int load_version(store_t *s, const char *dir, const char *using, model_t **out, char *err, size_t errlen)
{
    char tmp[] = "/tmp/triage-gate.XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0)
        return tri_errf(err, errlen, TRI_EIO, "temporary file: %s", strerror(errno));
    close(fd);
    char key[600];
    snprintf(key, sizeof key, "%s/%s.tmodel", dir, using);
    int rc = store_get_file(s, key, tmp, 0, NULL, NULL, err, errlen);
    if (!rc)
        rc = model_load_file(tmp, out, err, errlen);
    unlink(tmp);
    return rc;
}

/* Publishes m (read from path) as a new version under dir, named by the
 * clock, which must be past every existing version; the version is copied
 * into version (64 bytes). */
static int publish(store_t *s, const char *dir, const char *path, model_t *m, const versions_t *vs, char *version,
                   char *err, size_t errlen)
{
    now_version(version, 64);
    if (vs->n && strcmp(version, vs->v[vs->n - 1]) <= 0)
        return tri_errf(err, errlen, TRI_EINVAL,
                        "the clock says %s but %s already exists; refusing to publish an older version", version,
                        vs->v[vs->n - 1]);
    /* The sidecar first: when the model appears, its metadata is there. */
    json_t *side = json_deep_copy(model_meta(m));
    json_object_del(side, "probes");
    json_object_del(side, "top_features");
    char sum[24];
    snprintf(sum, sizeof sum, "%016" PRIx64, model_checksum(m));
    json_object_set_new(side, "version", json_string(version));
    json_object_set_new(side, "bytes", json_integer((json_int_t)model_bytes(m)));
    json_object_set_new(side, "checksum", json_string(sum));
    char *sj = json_dumps(side, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(side);
    char key[600];
    snprintf(key, sizeof key, "%s/%s.json", dir, version);
    int rc = sj ? store_put_data(s, key, sj, strlen(sj), err, errlen) : tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    free(sj);
    snprintf(key, sizeof key, "%s/%s.tmodel", dir, version);
    if (!rc)
        rc = store_put_file(s, key, path, err, errlen);
    return rc;
}

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
    if (open_store("push", &t, &s))
        goto out;
    if (list_versions(s, t.dir, &vs, err, sizeof err)) {
        fprintf(stderr, "triage push: %s: %s\n", store_url(s), err);
        goto out;
    }
    const char *using = in_use(&vs);
    if (gate) {
        double acc_new, acc_cur = 0;
        size_t n_new, n_cur = 0;
        if (accuracy_on(m, gate, label, &acc_new, &n_new))
            goto out;
        if (using) {
            if (load_version(s, t.dir, using, &cur, err, sizeof err)) {
                fprintf(stderr, "triage push: cannot read the version in use (%s): %s\n", using, err);
                goto out;
            }
            if (accuracy_on(cur, gate, label, &acc_cur, &n_cur))
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
    if (publish(s, t.dir, path, m, &vs, version, err, sizeof err)) {
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

int cmd_models(int argc, char **argv)
{
    static const struct option opts[] = {TARGET_OPTS, {"json", no_argument, 0, 'j'}, {0, 0, 0, 0}};
    target_t t = {0};
    int c, json = 0, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "S:n:a:E:R:hj", opts, NULL)) != -1) {
        if (target_opt(c, &t))
            continue;
        if (c == 'j')
            json = 1;
        else if (c == 'h') {
            printf("usage: triage models --store URL [--name NAME | --account ACCOUNT] [--json]\n"
                   "Lists the versions with their metadata; * marks the one workers serve.\n");
            target_opts_usage(stdout);
            return EXIT_OKAY;
        } else
            return EXIT_USAGE;
    }
    if (optind != argc)
        return cli_usage_error("models", "unexpected argument '%s'", argv[optind]);
    if ((rc = target_check("models", &t)))
        return rc;
    store_t *s;
    if (open_store("models", &t, &s))
        return EXIT_FAIL;
    versions_t vs;
    char err[TRI_ERRLEN];
    if (list_versions(s, t.dir, &vs, err, sizeof err)) {
        fprintf(stderr, "triage models: %s: %s\n", store_url(s), err);
        store_close(s);
        return EXIT_FAIL;
    }
    const char *using = in_use(&vs);
    json_t *arr = json_array();
    if (!json)
        printf("%s/%s/%s\n", store_url(s), t.dir, vs.pinned[0] ? "  (pinned)" : "");
    for (size_t i = vs.n; i-- > 0;) {
        char key[600], *data = NULL;
        size_t len;
        snprintf(key, sizeof key, "%s/%s.json", t.dir, vs.v[i]);
        json_t *meta = NULL;
        if (!store_get_small(s, key, 1 << 20, &data, &len, err, sizeof err))
            meta = json_loadb(data, len, 0, NULL);
        free(data);
        int cur = using && !strcmp(using, vs.v[i]);
        int pinned = vs.pinned[0] && !strcmp(vs.pinned, vs.v[i]);
        if (json) {
            json_t *o = json_pack("{s:s,s:I,s:b,s:b}", "version", vs.v[i], "bytes", (json_int_t)vs.bytes[i], "in_use",
                                  cur, "pinned", pinned);
            if (meta)
                json_object_set(o, "meta", meta);
            json_array_append_new(arr, o);
        } else {
            json_t *h = json_object_get(meta, "holdout");
            char acc[32] = "n/a";
            if (h)
                snprintf(acc, sizeof acc, "%.4f", json_number_value(json_object_get(h, "accuracy")));
            printf("%s %-22s %9" PRIu64 " bytes  %-4s %6" JSON_INTEGER_FORMAT " docs  held-out accuracy %s%s\n",
                   cur ? "*" : " ", vs.v[i], vs.bytes[i], json_string_value(json_object_get(meta, "algo")) ?: "?",
                   json_integer_value(json_object_get(meta, "documents")), acc, pinned ? "  (pinned)" : "");
        }
        if (meta)
            json_decref(meta);
    }
    if (json) {
        json_t *o = json_pack("{s:s,s:s,s:o,s:s?,s:s?}", "store", store_url(s), "dir", t.dir, "versions", arr,
                              "pinned", vs.pinned[0] ? vs.pinned : NULL, "in_use", using);
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        fputc('\n', stdout);
        json_decref(o);
    } else {
        json_decref(arr);
        if (!vs.n)
            printf("  (no versions)\n");
    }
    versions_free(&vs);
    store_close(s);
    return EXIT_OKAY;
}

enum { UNPIN, PIN, PROMOTE };

/* A short look at a version before promoting it: its sidecar's figures. */
static void describe(store_t *s, const char *dir, const char *role, const char *v)
{
    char key[600], *data = NULL, err[TRI_ERRLEN];
    size_t len;
    json_t *meta = NULL;
    snprintf(key, sizeof key, "%s/%s.json", dir, v);
    if (!store_get_small(s, key, 1 << 20, &data, &len, err, sizeof err))
        meta = json_loadb(data, len, 0, NULL);
    free(data);
    json_t *h = json_object_get(meta, "holdout");
    printf("  %-10s %s  %s, %" JSON_INTEGER_FORMAT " documents, held-out accuracy %.4f\n", role, v,
           json_string_value(json_object_get(meta, "algo")) ?: "?", json_integer_value(json_object_get(meta, "documents")),
           json_number_value(json_object_get(h, "accuracy")));
    json_decref(meta);
}

static int pin_common(const char *cmd, int argc, char **argv, int mode)
{
    static const struct option opts[] = {TARGET_OPTS, {0, 0, 0, 0}};
    static const char *const help[] = {
        [UNPIN] = "usage: triage unpin --store URL [--name NAME | --account ACCOUNT]\n"
                  "Removes the pin: workers serve the newest version again.\n",
        [PIN] = "usage: triage pin VERSION --store URL [--name NAME | --account ACCOUNT]\n"
                "Rolls back (or forward) to VERSION: workers serve it until unpinned.\n",
        [PROMOTE] = "usage: triage promote [VERSION|next] --store URL [--name NAME | --account ACCOUNT]\n"
                    "Makes the challenger the champion: pins VERSION (default next: the newest version\n"
                    "after the one serving, which workers with model.challenger = next shadow-score).\n"
                    "Versions pushed after it wait, as challengers, for the next promote.\n"};
    target_t t = {0};
    int c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "S:n:a:E:R:h", opts, NULL)) != -1) {
        if (target_opt(c, &t))
            continue;
        if (c == 'h') {
            printf("%s", help[mode]);
            target_opts_usage(stdout);
            return EXIT_OKAY;
        }
        return EXIT_USAGE;
    }
    int nargs = argc - optind;
    if (mode == PIN ? nargs != 1 : mode == PROMOTE ? nargs > 1 : nargs != 0)
        return cli_usage_error(cmd, mode == PIN ? "give exactly one VERSION" : mode == PROMOTE ? "give at most one VERSION" : "unexpected argument");
    if ((rc = target_check(cmd, &t)))
        return rc;
    store_t *s;
    if (open_store(cmd, &t, &s))
        return EXIT_FAIL;
    char err[TRI_ERRLEN], key[600];
    versions_t vs = {0};
    rc = EXIT_FAIL;
    snprintf(key, sizeof key, "%s/PIN", t.dir);
    if (mode != UNPIN) {
        const char *v = nargs ? argv[optind] : "next";
        if (list_versions(s, t.dir, &vs, err, sizeof err)) {
            fprintf(stderr, "triage %s: %s: %s\n", cmd, store_url(s), err);
            goto out;
        }
        const char *serving = in_use(&vs);
        if (mode == PROMOTE && !strcmp(v, "next")) {
            v = store_pick_next(vs.v, vs.n, vs.pinned);
            if (!v) {
                fprintf(stderr, "triage promote: no challenger under %s/%s/: %s serves and is the newest\n",
                        store_url(s), t.dir, serving ? serving : "nothing");
                goto out;
            }
        }
        size_t i = 0;
        while (i < vs.n && strcmp(vs.v[i], v))
            i++;
        if (i == vs.n) {
            fprintf(stderr, "triage %s: no version %s under %s/%s/ (see triage models)\n", cmd, v, store_url(s), t.dir);
            goto out;
        }
        if (mode == PROMOTE) {
            printf("%s/%s/\n", store_url(s), t.dir);
            if (serving)
                describe(s, t.dir, "champion", serving);
            describe(s, t.dir, "challenger", v);
        }
        char body[160];
        int n = snprintf(body, sizeof body, "%s\n", v);
        if (store_put_data(s, key, body, (size_t)n, err, sizeof err)) {
            fprintf(stderr, "triage %s: %s\n", cmd, err);
            goto out;
        }
        printf(mode == PROMOTE ? "promoted %s to %s (pinned); workers switch at their next check\n"
                               : "pinned %s to %s; workers switch at their next check\n",
               t.dir, v);
    } else {
        int d = store_delete(s, key, err, sizeof err);
        if (d && d != TRI_ENOENT) {
            fprintf(stderr, "triage unpin: %s\n", err);
            goto out;
        }
        printf(d ? "%s was not pinned\n" : "unpinned %s; workers serve the newest version at their next check\n",
               t.dir);
    }
    rc = EXIT_OKAY;
out:
    versions_free(&vs);
    store_close(s);
    return rc;
}

int cmd_pin(int argc, char **argv) { return pin_common("pin", argc, argv, PIN); }
int cmd_promote(int argc, char **argv) { return pin_common("promote", argc, argv, PROMOTE); }
int cmd_unpin(int argc, char **argv) { return pin_common("unpin", argc, argv, UNPIN); }

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
        list_versions(s, it->dir, &vs, it->err, sizeof it->err))
        goto fail;
    snprintf(it->pinned, sizeof it->pinned, "%s", vs.pinned);
    if (run->gate) {
        const char *using = in_use(&vs);
        model_t *against = NULL;
        if (using) {
            if (load_version(s, it->dir, using, &cur, it->err, sizeof it->err))
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
        if (accuracy_on(m, it->hold, label, &it->acc_new, &it->n) ||
            (against && accuracy_on(against, it->hold, label, &it->acc_cur, &it->n))) {
            snprintf(it->err, sizeof it->err, "cannot evaluate on %.400s", it->hold);
            goto fail;
        }
        if (against && !(it->acc_new > it->acc_cur + run->min_gain + 1e-12)) {
            it->refused = 1;
            goto done;
        }
    }
    if (publish(s, it->dir, it->path, m, &vs, it->version, it->err, sizeof it->err))
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
    if (tree_scan(root, &run.items, &run.n) || open_store("push", &run.t, &s))
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
        if (list_versions(s, run.t.dir, &dvs, err, sizeof err)) {
            fprintf(stderr, "triage push: %s: %s\n", store_url(s), err);
            goto out;
        }
        const char *using = in_use(&dvs);
        if (using) {
            if (load_version(s, run.t.dir, using, &run.def, err, sizeof err)) {
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
