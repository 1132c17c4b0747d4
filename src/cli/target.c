/* target — the helpers of target.h. */
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

int target_check(const char *cmd, target_t *t)
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

int target_open(const char *cmd, const target_t *t, store_t **s)
{
    store_opts_t o = {.endpoint = t->endpoint, .region = t->region, .retries = -1};
    char err[TRI_ERRLEN];
    if (store_open(t->url, &o, s, err, sizeof err)) {
        fprintf(stderr, "triage %s: %s\n", cmd, err);
        return -1;
    }
    return 0;
}

void versions_free(versions_t *vs)
{
    for (size_t i = 0; i < vs->n; i++)
        free(vs->v[i]);
    free(vs->v);
    free(vs->bytes);
    memset(vs, 0, sizeof *vs);
}

int target_versions(store_t *s, const char *dir, versions_t *vs, char *err, size_t errlen)
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

void version_now(char *out, size_t n)
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
int gate_accuracy(model_t *m, char *file, const char *field, double *acc, size_t *n)
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

void target_opts_usage(FILE *f)
{
    fprintf(f, "  --store URL          s3://BUCKET/PREFIX or file:///DIR (S3 credentials: AWS_ACCESS_KEY_ID,\n"
               "                       AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; AWS_ENDPOINT_URL, AWS_REGION)\n"
               "  --name NAME          model name (default: default) | --account ACCOUNT  per-account model\n"
               "  --endpoint URL, --region REGION   override the environment\n");
}

int target_opt(int c, target_t *t)
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
int target_load(store_t *s, const char *dir, const char *using, model_t **out, char *err, size_t errlen)
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
int target_publish(store_t *s, const char *dir, const char *path, model_t *m, const versions_t *vs, char *version,
                   char *err, size_t errlen)
{
    version_now(version, 64);
    if (vs->n && strcmp(version, vs->v[vs->n - 1]) <= 0)
        return tri_errf(err, errlen, TRI_EINVAL,
                        "the clock says %s but %s already exists; refusing to target_publish an older version", version,
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
