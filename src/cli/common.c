#include "cli.h"
#include "core/tri_err.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

const char *cli_printable(const char *s) { return s ? cli_printable_n(s, strlen(s)) : "?"; }

const char *cli_printable_n(const char *s, size_t n)
{
    static char ring[8][1024 + 4];
    static unsigned next;
    char *out = ring[next++ % 8];
    size_t o = 0, i = 0;
    /* Each step writes at most 12 bytes ("\u{10FFFF}"). */
    while (i < n && o + 12 <= 1024) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) {
            o += (size_t)snprintf(out + o, 16, "\\x%02X", (unsigned char)s[i]);
            i++;
            continue;
        }
        utf8proc_category_t cat = utf8proc_category(cp);
        if (cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_ZL ||
            cat == UTF8PROC_CATEGORY_ZP)
            o += (size_t)snprintf(out + o, 16, cp < 0x80 ? "\\x%02X" : "\\u{%04X}", (unsigned)cp);
        else {
            memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k;
        }
        i += (size_t)k;
    }
    if (i < n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

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
    char err[TRI_ERRLEN];
    int rc = dataset_each_line(path, fn, ctx, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "triage: %s\n", err);
    return rc;
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

int cli_opt_u32(const char *cmd, const char *s, uint32_t *v, uint32_t lo, uint32_t hi, const char *what)
{
    if (cli_parse_u32(s, v) || *v < lo || *v > hi)
        return cli_usage_error(cmd, "%s, not '%s'", what, s);
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

int cli_parse_seconds(const char *s, double *sec)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0) || !isfinite(v))
        return -1;
    if (!*end || !strcmp(end, "s"))
        *sec = v;
    else if (!strcmp(end, "m"))
        *sec = v * 60;
    else if (!strcmp(end, "h"))
        *sec = v * 3600;
    else
        return -1;
    return 0;
}

int cli_search_option(const char *cmd, int c, const char *arg, cli_search_opts_t *s)
{
    switch (c) {
    case CLI_OPT_TRIALS: return cli_opt_u32(cmd, arg, &s->trials, 1, UINT32_MAX, "--trials takes a positive count");
    case CLI_OPT_FOLDS: return cli_opt_u32(cmd, arg, &s->folds, 2, 20, "--folds takes 2..20");
    case CLI_OPT_BUDGET:
        if (cli_parse_seconds(arg, &s->budget_s))
            return cli_usage_error(cmd, "--budget takes a duration such as 90s, 10m or 1h, not '%s'", arg);
        return 0;
    default: return -1;
    }
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

int cli_model_schema(const char *cmd, model_t *m, rec_schema_t *s, int keep_fields)
{
    char err[TRI_ERRLEN];
    if (prep_mode_from_meta(model_meta(m), &s->prep_mode, err, sizeof err)) {
        fprintf(stderr, "triage %s: refusing model: %s\n", cmd, err);
        return -1;
    }
    if (keep_fields)
        return 0;
    json_t *tf = json_object_get(model_meta(m), "text_fields");
    size_t i;
    json_t *v;
    s->ntext = 0;
    json_array_foreach(tf, i, v) if (s->ntext < REC_MAX_TEXT_FIELDS && json_is_string(v))
        s->text_fields[s->ntext++] = json_string_value(v);
    if (!s->ntext) {
        s->text_fields[0] = "text";
        s->ntext = 1;
    }
    return 0;
}

int cli_read_data(const char *cmd, dataset_t *ds, char **files, size_t nfiles, const rec_schema_t *schema,
                  const char *const *fixed_labels, uint32_t nfixed)
{
    char err[TRI_ERRLEN];
    int rc = dataset_read(ds, files, nfiles, schema, fixed_labels, nfixed, stderr, err, sizeof err);
    if (rc)
        fprintf(stderr, "triage %s: %s\n", cmd, err);
    return rc;
}

int cli_predict(model_t *m, const dataset_t *ds, const size_t *idx, size_t n, uint32_t *pred, float *conf)
{
    train_set_t set;
    char err[TRI_ERRLEN];
    dataset_as_set(ds, &set);
    int rc = train_predict(m, &set, idx, n, pred, NULL, conf, err, sizeof err);
    if (rc)
        fprintf(stderr, "triage: %s\n", err);
    return rc;
}

int cli_valid_part(const char *s)
{
    if (!*s || strlen(s) > 200 || !strcmp(s, ".") || !strcmp(s, ".."))
        return 0;
    for (const char *p = s; *p; p++)
        if (*p == '/' || (unsigned char)*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

unsigned cli_run_threads(unsigned n, void *(*fn)(void *), void *arg)
{
    pthread_t *th = calloc(n ? n : 1, sizeof *th);
    unsigned started = 0;
    for (; th && started < n; started++)
        if (pthread_create(&th[started], NULL, fn, arg))
            break;
    if (!started)
        fn(arg); /* no thread could start: do the work here */
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
    return started ? started : 1;
}

void cli_train_defaults(train_opts_t *to)
{
    memset(to, 0, sizeof *to);
    to->algo = train_algo_parse(CLI_DEF_ALGO);
    to->C = atof(CLI_DEF_C);
    to->alpha = 0.25;
    to->min_df = CLI_DEF_MIN_DF;
    to->top_features = 25;
    /* The reason model with every n-gram kept is 7.8 MB in f32, 3.9 MB in
     * int8, with the same test decisions to within a record or two. */
    to->weights_q8 = 1;
    to->feat.bits = 22;
    to->feat.seed = 1;
    cli_parse_range(CLI_DEF_NGRAMS, &to->feat.ngram_min, &to->feat.ngram_max);
    cli_parse_range(CLI_DEF_CHARS, &to->feat.char_min, &to->feat.char_max);
    to->feat.mode = FEAT_SUBLINEAR;
    to->feat.idf = to->feat.l2 = 1;
    if (strcmp(CLI_DEF_STEM, "none"))
        snprintf(to->tok.stem, sizeof to->tok.stem, "%s", CLI_DEF_STEM);
}

int cli_feature_options(const char *cmd, train_opts_t *to, const char *chars, const char *features, const char *idf,
                        const char *norm)
{
    int linear = to->algo == TRAIN_LR || to->algo == TRAIN_SVM;
    feat_config_t *f = &to->feat;
    if (!chars)
        chars = linear ? "2-5" : "none";
    if (!strcmp(chars, "none"))
        f->char_min = f->char_max = 0;
    else if (cli_parse_range(chars, &f->char_min, &f->char_max) || !f->char_min)
        return cli_usage_error(cmd, "--chars takes MIN-MAX such as 2-5, or none, not '%s'", chars);
    if (!features)
        features = linear ? "sublinear" : "presence";
    if (!strcmp(features, "presence"))
        f->mode = FEAT_PRESENCE;
    else if (!strcmp(features, "counts"))
        f->mode = FEAT_COUNTS;
    else if (!strcmp(features, "sublinear"))
        f->mode = FEAT_SUBLINEAR;
    else
        return cli_usage_error(cmd, "--features takes presence, counts or sublinear, not '%s'", features);
    int sub = f->mode == FEAT_SUBLINEAR;
    if (!idf)
        idf = sub ? "on" : "off";
    if (!norm)
        norm = sub ? "l2" : "none";
    if (strcmp(idf, "on") && strcmp(idf, "off"))
        return cli_usage_error(cmd, "--idf takes on or off, not '%s'", idf);
    if (strcmp(norm, "l2") && strcmp(norm, "none"))
        return cli_usage_error(cmd, "--norm takes l2 or none, not '%s'", norm);
    f->idf = !strcmp(idf, "on");
    f->l2 = !strcmp(norm, "l2");
    if ((f->idf || f->l2) && !sub)
        return cli_usage_error(cmd, "--idf on and --norm l2 need --features sublinear");
    if (!linear && sub)
        return cli_usage_error(cmd, "Naive Bayes takes --features presence or counts");
    return 0;
}

int cli_add_arg(char ***v, size_t *n, char *arg)
{
    char **f = realloc(*v, (*n + 1) * sizeof *f);
    if (!f)
        return -1;
    *v = f;
    f[(*n)++] = arg;
    return 0;
}

void cli_run_free(cli_run_t *r)
{
    if (r->meta)
        json_decref(r->meta);
    train_result_free(&r->res);
    dataset_free(&r->ds);
    memset(r, 0, sizeof *r);
}

void cli_data_init(cli_data_opts_t *d)
{
    memset(d, 0, sizeof *d);
    d->holdout = 0.1;
    d->seed = 1;
}

void cli_data_free(cli_data_opts_t *d)
{
    free(d->textlist);
    free(d->files);
    memset(d, 0, sizeof *d);
}

int cli_data_option(const char *cmd, int c, char *arg, cli_data_opts_t *d)
{
    switch (c) {
    case 'd':
        if (!cli_add_arg(&d->files, &d->nfiles, arg))
            return 0;
        fprintf(stderr, "triage %s: out of memory\n", cmd);
        return EXIT_USAGE;
    case 'l': d->label = arg; return 0;
    case 't': d->text = arg; return 0;
    case 'o': d->out = arg; return 0;
    case 'N': d->name = arg; return 0;
    case 'q': d->quiet = 1; return 0;
    case 'r': return cli_opt_u32(cmd, arg, &d->seed, 0, UINT32_MAX, "--seed takes a number");
    case 'H':
        if (cli_parse_double(arg, &d->holdout) || d->holdout < 0 || d->holdout >= 1)
            return cli_usage_error(cmd, "--holdout takes a fraction in [0,1), not '%s'", arg);
        return 0;
    default: return -1;
    }
}

int cli_data_required(const char *cmd, int argc, char **argv, const cli_data_opts_t *d)
{
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!d->nfiles || !d->label || !d->out)
        return cli_usage_error(cmd, "--data, --label and --out are required");
    return 0;
}

int cli_data_schema(const char *cmd, cli_data_opts_t *d, rec_schema_t *schema)
{
    char err[TRI_ERRLEN] = "out of memory";
    rec_schema_default(schema);
    schema->label_field = d->label;
    if (d->text) {
        d->textlist = strdup(d->text);
        if (!d->textlist || rec_schema_set_text(schema, d->textlist, err, sizeof err))
            return cli_usage_error(cmd, "--text: %s", err);
    }
    return 0;
}
