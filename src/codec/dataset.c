/* Implements dataset.h; the reading logic was the CLI's, moved here so every
 * caller (train, tune, eval, the per-account trainer, tests) shares it. */
#include "codec/dataset.h"
#include "codec/jscan.h"
#include "core/tri_err.h"
#include "core/model.h"
#include "core/version.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

int dataset_each_line(const char *path, dataset_line_fn fn, void *ctx, char *err, size_t errlen)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return tri_errf(err, errlen, TRI_EIO, "%s: %s", path, strerror(errno));
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
    if (!rc && ferror(f))
        rc = tri_errf(err, errlen, TRI_EIO, "%s: read error: %s", path, strerror(errno));
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
    FILE *warn;
    prep_t *prep;
    buf_t prepared;
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
        if (ds->bad < 5 && c->warn)
            fprintf(c->warn, "%s:%zu: %s: %s (skipped)\n", c->path, lineno, rec_status_code(st), detail);
        ds->bad++;
        return 0;
    }
    if (!c->rec.has_label) {
        ds->skipped_nolabel++;
        return 0;
    }
    /* A label a model cannot hold is refused here, record by record: as C
     * strings "a\u0000b" and "a\u0000c" had both become "a". */
    if (!model_label_ok(c->rec.label.p, c->rec.label.len)) {
        if (ds->bad < 5 && c->warn) {
            buf_t q = BUF_INIT;
            jscan_put_str(&q, c->rec.label.p, c->rec.label.len < 300 ? c->rec.label.len : 300);
            fprintf(c->warn, "%s:%zu: bad_label: label %s is not 1-%d bytes of UTF-8 without control characters "
                    "(skipped)\n", c->path, lineno, q.oom ? "?" : buf_cstr(&q), MODEL_MAX_LABEL_BYTES);
            buf_free(&q);
        }
        ds->bad++;
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
    prep_field_t fields[REC_MAX_TEXT_FIELDS];
    size_t nf = rec_prep_fields(c->schema, &c->rec, fields);
    if (prep_run(c->prep, c->schema->prep_mode, fields, nf, &c->prepared))
        return TRI_ENOMEM;
    if (!prep_has_text(c->prepared.p, c->prepared.len)) {
        if (ds->bad < 5 && c->warn)
            fprintf(c->warn, "%s:%zu: no_text: nothing left after %s preparation (skipped)\n", c->path, lineno,
                    prep_mode_name(c->schema->prep_mode));
        ds->bad++;
        ds->no_text++;
        return 0;
    }
    uint32_t y;
    if (intern_label(c, buf_cstr(&c->rec.label), &y))
        return TRI_ENOMEM;
    char *copy = malloc(c->prepared.len + 1);
    if (!copy)
        return TRI_ENOMEM;
    memcpy(copy, c->prepared.p, c->prepared.len);
    copy[c->prepared.len] = '\0';
    ds->text[ds->n] = copy;
    ds->len[ds->n] = c->prepared.len;
    ds->label[ds->n] = y;
    ds->ts[ds->n] = c->rec.has_ts ? c->rec.ts_ms : INT64_MIN;
    ds->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int dataset_read(dataset_t *ds, char *const *files, size_t nfiles, const rec_schema_t *schema,
                 const char *const *fixed_labels, uint32_t nfixed, FILE *warn, char *err, size_t errlen)
{
    memset(ds, 0, sizeof *ds);
    read_ctx_t c = {.ds = ds, .schema = schema, .warn = warn};
    if (prep_new(&c.prep, err, errlen))
        return TRI_ENOMEM;
    c.hash = XXH3_createState();
    if (!c.hash) {
        prep_free(c.prep);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    XXH3_128bits_reset(c.hash);
    int rc = 0;
    for (uint32_t i = 0; i < nfixed && !rc; i++) {
        uint32_t y;
        rc = intern_label(&c, fixed_labels[i], &y);
    }
    for (size_t f = 0; f < nfiles && !rc; f++) {
        c.path = files[f];
        rc = dataset_each_line(files[f], read_line, &c, err, errlen);
        if (rc == TRI_ENOMEM)
            tri_errf(err, errlen, rc, "%s: out of memory", files[f]);
    }
    XXH128_hash_t h = XXH3_128bits_digest(c.hash);
    snprintf(ds->digest, sizeof ds->digest, "xxh128:%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
    XXH3_freeState(c.hash);
    rec_free(&c.rec);
    prep_free(c.prep);
    buf_free(&c.prepared);
    if (rc) {
        for (uint32_t i = 0; i < c.nnames; i++)
            free(c.names[i]);
        free(c.names);
        dataset_free(ds);
        return rc;
    }
    if (ds->bad > 5 && warn)
        fprintf(warn, "%zu bad records skipped in all\n", ds->bad);
    /* Without fixed labels, sort names so label indices do not depend on the
     * order of the data. */
    if (!nfixed && c.nnames) {
        char **sorted = malloc(c.nnames * sizeof *sorted);
        uint32_t *map = malloc(c.nnames * sizeof *map);
        if (!sorted || !map) {
            free(sorted);
            free(map);
            for (uint32_t i = 0; i < c.nnames; i++)
                free(c.names[i]);
            free(c.names);
            dataset_free(ds);
            return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
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

void dataset_as_set(const dataset_t *ds, train_set_t *set)
{
    *set = (train_set_t){ds->n, (const char *const *)ds->text, ds->len, ds->label, ds->nlabels,
                         (const char *const *)ds->labels};
}

json_t *dataset_meta(const dataset_t *ds, char *const *files, size_t nfiles, const rec_schema_t *schema,
                     const char *name, const char *stopwords, const char *stem)
{
    json_t *jfiles = json_array(), *jtext = json_array();
    for (size_t i = 0; i < nfiles; i++) {
        char *dup = strdup(files[i]);
        json_array_append_new(jfiles, json_string(dup ? basename(dup) : files[i]));
        free(dup);
    }
    for (size_t i = 0; i < schema->ntext; i++)
        json_array_append_new(jtext, json_string(schema->text_fields[i]));
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:{s:o,s:s,s:I,s:I,s:I}}", "name", name, "triage_version",
                     TRIAGE_VERSION, "stopwords", stopwords, "stem", stem, "label_field", schema->label_field,
                     "text_fields", jtext, "data", "files", jfiles, "digest", ds->digest, "records",
                     (json_int_t)ds->n, "skipped_without_label", (json_int_t)ds->skipped_nolabel, "bad_records",
                     (json_int_t)ds->bad);
}
