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

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef struct target {
    const char *url, *name, *account, *endpoint, *region;
    char dir[400];
} target_t;

static int valid_part(const char *s)
{
    if (!*s || strlen(s) > 200 || !strcmp(s, ".") || !strcmp(s, ".."))
        return 0;
    for (const char *p = s; *p; p++)
        if (*p == '/' || (unsigned char)*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

static int target_check(const char *cmd, target_t *t)
{
    if (!t->url)
        return cli_usage_error(cmd, "--store URL is required (s3://BUCKET/PREFIX or file:///DIR)");
    if (t->name && t->account)
        return cli_usage_error(cmd, "give --name or --account, not both");
    if (t->account) {
        if (!valid_part(t->account))
            return cli_usage_error(cmd, "bad account name '%s'", t->account);
        snprintf(t->dir, sizeof t->dir, "accounts/%s", t->account);
    } else {
        const char *n = t->name ? t->name : "default";
        if (!valid_part(n) || !strcmp(n, "accounts"))
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
    json_t *tf = json_object_get(model_meta(m), "text_fields");
    size_t i;
    json_t *v;
    schema.ntext = 0;
    json_array_foreach(tf, i, v) if (schema.ntext < REC_MAX_TEXT_FIELDS && json_is_string(v))
        schema.text_fields[schema.ntext++] = json_string_value(v);
    if (!schema.ntext) {
        schema.text_fields[0] = "text";
        schema.ntext = 1;
    }
    uint32_t L = model_nlabels(m);
    const char **names = malloc(L * sizeof *names);
    if (!names)
        return -1;
    for (uint32_t k = 0; k < L; k++)
        names[k] = model_label(m, k);
    dataset_t ds;
    int rc = dataset_read(&ds, &file, 1, &schema, names, L);
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

int cmd_push(int argc, char **argv)
{
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
                   "FILE and refuses (exit 1) unless the new one is at least as accurate plus X.\n");
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
    char tmp[64] = "";
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
            snprintf(tmp, sizeof tmp, "/tmp/triage-gate.XXXXXX");
            int fd = mkstemp(tmp);
            if (fd < 0) {
                perror("triage push: temporary file");
                tmp[0] = '\0';
                goto out;
            }
            close(fd);
            char key[600];
            snprintf(key, sizeof key, "%s/%s.tmodel", t.dir, using);
            if (store_get_file(s, key, tmp, NULL, NULL, err, sizeof err) || model_load_file(tmp, &cur, err, sizeof err)) {
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
    now_version(version, sizeof version);
    if (vs.n && strcmp(version, vs.v[vs.n - 1]) <= 0) {
        fprintf(stderr, "triage push: the clock says %s but %s already exists; refusing to publish an older version\n",
                version, vs.v[vs.n - 1]);
        goto out;
    }
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
    snprintf(key, sizeof key, "%s/%s.json", t.dir, version);
    int prc = sj ? store_put_data(s, key, sj, strlen(sj), err, sizeof err) : TRI_ENOMEM;
    free(sj);
    snprintf(key, sizeof key, "%s/%s.tmodel", t.dir, version);
    if (prc || (prc = store_put_file(s, key, path, err, sizeof err))) {
        fprintf(stderr, "triage push: %s: %s\n", store_url(s), err);
        goto out;
    }
    printf("pushed %s as %s@%s to %s/%s/\n", path, t.dir, version, store_url(s), t.dir);
    if (vs.pinned[0])
        printf("note: %s is pinned to %s; workers keep serving it until 'triage unpin'\n", t.dir, vs.pinned);
    rc = EXIT_OKAY;
out:
    if (tmp[0])
        unlink(tmp);
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

static int pin_common(const char *cmd, int argc, char **argv, int pin)
{
    static const struct option opts[] = {TARGET_OPTS, {0, 0, 0, 0}};
    target_t t = {0};
    int c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "S:n:a:E:R:h", opts, NULL)) != -1) {
        if (target_opt(c, &t))
            continue;
        if (c == 'h') {
            printf(pin ? "usage: triage pin VERSION --store URL [--name NAME | --account ACCOUNT]\n"
                         "Rolls back (or forward) to VERSION: workers serve it until unpinned.\n"
                       : "usage: triage unpin --store URL [--name NAME | --account ACCOUNT]\n"
                         "Removes the pin: workers serve the newest version again.\n");
            target_opts_usage(stdout);
            return EXIT_OKAY;
        }
        return EXIT_USAGE;
    }
    if (optind != argc - (pin ? 1 : 0))
        return cli_usage_error(cmd, pin ? "give exactly one VERSION" : "unexpected argument");
    if ((rc = target_check(cmd, &t)))
        return rc;
    store_t *s;
    if (open_store(cmd, &t, &s))
        return EXIT_FAIL;
    char err[TRI_ERRLEN], key[600];
    versions_t vs = {0};
    rc = EXIT_FAIL;
    snprintf(key, sizeof key, "%s/PIN", t.dir);
    if (pin) {
        const char *v = argv[optind];
        if (list_versions(s, t.dir, &vs, err, sizeof err)) {
            fprintf(stderr, "triage pin: %s: %s\n", store_url(s), err);
            goto out;
        }
        size_t i = 0;
        while (i < vs.n && strcmp(vs.v[i], v))
            i++;
        if (i == vs.n) {
            fprintf(stderr, "triage pin: no version %s under %s/%s/ (see triage models)\n", v, store_url(s), t.dir);
            goto out;
        }
        char body[160];
        int n = snprintf(body, sizeof body, "%s\n", v);
        if (store_put_data(s, key, body, (size_t)n, err, sizeof err)) {
            fprintf(stderr, "triage pin: %s\n", err);
            goto out;
        }
        printf("pinned %s to %s; workers switch at their next check\n", t.dir, v);
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

int cmd_pin(int argc, char **argv) { return pin_common("pin", argc, argv, 1); }
int cmd_unpin(int argc, char **argv) { return pin_common("unpin", argc, argv, 0); }
