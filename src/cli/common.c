#include "cli.h"
#include "core/tri_err.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "triage %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'triage %s --help')\n", cmd);
    return EXIT_USAGE;
}

int cli_each_line(const char *path, cli_line_fn fn, void *ctx)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "triage: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int rc = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t len = (size_t)n;
        if (len && line[len - 1] == '\n')
            len--;
        if (len && line[len - 1] == '\r')
            len--;
        if ((rc = fn(line, len, lineno, ctx)))
            break;
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, "triage: %s: read error: %s\n", path, strerror(errno));
        rc = -1;
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return rc;
}

/* ---- data sets ---- */

typedef struct read_ctx {
    dataset_t *ds;
    const rec_schema_t *schema;
    const char *path;
    rec_t rec;
    char **names;          /* label names in first-seen order */
    uint32_t nnames, capnames;
    XXH3_state_t *hash;
    int fixed;             /* names[0..nfixed) are the model's labels */
} read_ctx_t;

static int intern_label(read_ctx_t *c, const char *s, uint32_t *out)
{
    for (uint32_t i = 0; i < c->nnames; i++)
        if (!strcmp(c->names[i], s)) {
            *out = i;
            return 0;
        }
    if (c->nnames == c->capnames) {
        uint32_t cap = c->capnames ? c->capnames * 2 : 16;
        char **v = realloc(c->names, cap * sizeof *v);
        if (!v)
            return TRI_ENOMEM;
        c->names = v;
        c->capnames = cap;
    }
    if (!(c->names[c->nnames] = strdup(s)))
        return TRI_ENOMEM;
    *out = c->nnames++;
    return 0;
}

static int read_line(const char *line, size_t len, size_t lineno, void *vctx)
{
    read_ctx_t *c = vctx;
    dataset_t *ds = c->ds;
    XXH3_128bits_update(c->hash, line, len);
    XXH3_128bits_update(c->hash, "\n", 1);
    if (!len)
        return 0;
    char detail[200];
    int st = rec_decode(c->schema, line, len, &c->rec, detail, sizeof detail);
    if (st != REC_OK) {
        if (ds->bad < 5)
            fprintf(stderr, "triage: %s:%zu: %s: %s (skipped)\n", c->path, lineno, rec_status_code(st), detail);
        ds->bad++;
        return 0;
    }
    if (!c->rec.has_label) {
        ds->skipped_nolabel++;
        return 0;
    }
    if (ds->n == ds->cap) {
        size_t cap = ds->cap ? ds->cap * 2 : 4096;
        char **t = realloc(ds->text, cap * sizeof *t);
        if (t)
            ds->text = t;
        size_t *l = realloc(ds->len, cap * sizeof *l);
        if (l)
            ds->len = l;
        uint32_t *y = realloc(ds->label, cap * sizeof *y);
        if (y)
            ds->label = y;
        int64_t *ts = realloc(ds->ts, cap * sizeof *ts);
        if (ts)
            ds->ts = ts;
        if (!t || !l || !y || !ts)
            return TRI_ENOMEM;
        ds->cap = cap;
    }
    uint32_t y;
    if (intern_label(c, buf_cstr(&c->rec.label), &y))
        return TRI_ENOMEM;
    char *copy = malloc(c->rec.text.len + 1);
    if (!copy)
        return TRI_ENOMEM;
    memcpy(copy, c->rec.text.p, c->rec.text.len);
    copy[c->rec.text.len] = '\0';
    ds->text[ds->n] = copy;
    ds->len[ds->n] = c->rec.text.len;
    ds->label[ds->n] = y;
    ds->ts[ds->n] = c->rec.has_ts ? c->rec.ts_ms : INT64_MIN;
    ds->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int dataset_read(dataset_t *ds, char **files, size_t nfiles, const rec_schema_t *schema,
                 const char *const *fixed_labels, uint32_t nfixed)
{
    memset(ds, 0, sizeof *ds);
    read_ctx_t c = {.ds = ds, .schema = schema};
    c.hash = XXH3_createState();
    if (!c.hash)
        return TRI_ENOMEM;
    XXH3_128bits_reset(c.hash);
    int rc = 0;
    for (uint32_t i = 0; i < nfixed && !rc; i++) {
        uint32_t y;
        rc = intern_label(&c, fixed_labels[i], &y);
    }
    for (size_t f = 0; f < nfiles && !rc; f++) {
        c.path = files[f];
        rc = cli_each_line(files[f], read_line, &c);
        if (rc > 0)
            fprintf(stderr, "triage: %s: out of memory\n", files[f]);
    }
    XXH128_hash_t h = XXH3_128bits_digest(c.hash);
    snprintf(ds->digest, sizeof ds->digest, "xxh128:%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
    XXH3_freeState(c.hash);
    rec_free(&c.rec);
    if (rc) {
        for (uint32_t i = 0; i < c.nnames; i++)
            free(c.names[i]);
        free(c.names);
        dataset_free(ds);
        return rc;
    }
    if (ds->bad > 5)
        fprintf(stderr, "triage: %zu bad records skipped in all\n", ds->bad);
    /* Without fixed labels, sort names so label indices do not depend on the
     * order of the data. */
    if (!nfixed && c.nnames) {
        char **sorted = malloc(c.nnames * sizeof *sorted);
        uint32_t *map = malloc(c.nnames * sizeof *map);
        if (!sorted || !map) {
            free(sorted);
            free(map);
            return TRI_ENOMEM;
        }
        memcpy(sorted, c.names, c.nnames * sizeof *sorted);
        qsort(sorted, c.nnames, sizeof *sorted, cmp_str);
        for (uint32_t i = 0; i < c.nnames; i++)
            for (uint32_t j = 0; j < c.nnames; j++)
                if (c.names[i] == sorted[j])
                    map[i] = j;
        for (size_t i = 0; i < ds->n; i++)
            ds->label[i] = map[ds->label[i]];
        free(map);
        free(c.names);
        c.names = sorted;
    }
    ds->labels = c.names;
    ds->nlabels = c.nnames;
    return 0;
}

void dataset_free(dataset_t *ds)
{
    for (size_t i = 0; i < ds->n; i++)
        free(ds->text[i]);
    for (uint32_t i = 0; i < ds->nlabels; i++)
        free(ds->labels[i]);
    free(ds->text);
    free(ds->len);
    free(ds->label);
    free(ds->ts);
    free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

/* ---- options ---- */

int cli_stopwords(const char *spec, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!strcmp(spec, "none"))
        return 0;
    if (!strcmp(spec, "en")) {
        *out = malloc(tok_stopwords_en_len + 1);
        if (!*out)
            return TRI_ENOMEM;
        memcpy(*out, tok_stopwords_en, tok_stopwords_en_len);
        (*out)[tok_stopwords_en_len] = '\0';
        *len = tok_stopwords_en_len;
        return 0;
    }
    FILE *f = fopen(spec, "rb");
    if (!f) {
        fprintf(stderr, "triage: stop words %s: %s (use none, en or a file)\n", spec, strerror(errno));
        return TRI_EIO;
    }
    buf_t b = BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    if (b.oom || b.len > (1u << 20)) {
        fprintf(stderr, "triage: stop words %s: too large\n", spec);
        buf_free(&b);
        return TRI_ERANGE;
    }
    if (memchr(b.p, 0, b.len)) {
        fprintf(stderr, "triage: stop words %s: contains NUL bytes\n", spec);
        buf_free(&b);
        return TRI_EINVAL;
    }
    *len = b.len;
    *out = (char *)buf_cstr(&b);
    return 0;
}

int cli_parse_u32(const char *s, uint32_t *v)
{
    char *end;
    errno = 0;
    unsigned long x = strtoul(s, &end, 10);
    if (errno || end == s || *end || x > UINT32_MAX || s[0] == '-')
        return -1;
    *v = (uint32_t)x;
    return 0;
}

int cli_parse_double(const char *s, double *v)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(x))
        return -1;
    *v = x;
    return 0;
}

int cli_parse_range(const char *s, uint32_t *lo, uint32_t *hi)
{
    char tmp[32];
    if (strlen(s) >= sizeof tmp)
        return -1;
    strcpy(tmp, s);
    char *dash = strchr(tmp, '-');
    if (dash) {
        *dash = '\0';
        return cli_parse_u32(tmp, lo) || cli_parse_u32(dash + 1, hi) ? -1 : 0;
    }
    if (cli_parse_u32(tmp, lo))
        return -1;
    *hi = *lo;
    return 0;
}

int cli_predict(model_t *m, const dataset_t *ds, const size_t *idx, size_t n, uint32_t *pred, float *raw)
{
    clf_t *c;
    char err[TRI_ERRLEN];
    if (clf_new(m, &c, err, sizeof err)) {
        fprintf(stderr, "triage: %s\n", err);
        return -1;
    }
    uint32_t L = model_nlabels(m);
    for (size_t i = 0; i < n; i++) {
        size_t d = idx ? idx[i] : i;
        clf_result_t r;
        if (clf_classify(c, ds->text[d], ds->len[d], &r)) {
            clf_free(c);
            fprintf(stderr, "triage: out of memory\n");
            return -1;
        }
        pred[i] = r.label;
        if (raw)
            memcpy(raw + i * L, r.raw, L * sizeof *raw);
    }
    clf_free(c);
    return 0;
}
