/* triage alarms --replay: the alarms the daemon would have raised on a
 * labeled stream, from the same record decoder (codec/rec.h) and the same
 * detector (core/detector.h), in event-time order. */
#include "codec/rec.h"
#include "core/detector.h"
#include "core/explain.h"
#include "cli.h"
#include "core/tri_err.h"
#include "core/tstamp.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: triage alarms --replay FILE [--label FIELD] [--window DURATION] [--by account]\n"
               "                     [--scales LIST] [--fdr Q] [--p P] [--min-count N] [--min-history N] [--no-profiles]\n"
               "                     [--json]\n"
               "Replays labeled JSONL (the daemon's output records, or records with their true label via\n"
               "--label) in event-time order (`ts`) through the daemon's alarm detector and prints the\n"
               "alarms and clears it would have raised. Records with an \"error\" field count as dead letters.\n"
               "Rate alarms are explained from the records' \"excerpt\" (the daemon's output.excerpt.bytes).\n"
               "DURATION: 30m, 1h (default), 1d. LIST: the scales at which shares are tested, whole\n"
               "windows (default 1h,6h,24h). Q: Benjamini-Hochberg level of each evaluation (0.001).\n"
               "--no-profiles: expected shares without the hour-of-day and weekday profiles.\n");
}

typedef struct item {
    int64_t ts;
    char *label, *account, *model, *id, *text; /* id, text: the record's excerpt, to explain alarms */
    size_t text_len;
    int known, features, dead;
    double score;
} item_t;

typedef struct rctx {
    item_t *v;
    size_t n, cap;
    const char *field;
    size_t bad;
    rec_labeled_t rec;         /* decode scratch */
} rctx_t;

static void rctx_free(rctx_t *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].label);
        free(c->v[i].account);
        free(c->v[i].model);
        free(c->v[i].id);
        free(c->v[i].text);
    }
    free(c->v);
    rec_labeled_free(&c->rec);
}

static char *sdup(const char *s, int *oom)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *oom = 1;
    return d;
}

/* The same decoder as the daemon's alarms role (codec/rec.h), so the replay
 * counts exactly what the daemon would. */
static int read_item(const char *line, size_t len, size_t lineno, void *vctx)
{
    rctx_t *c = vctx;
    if (!len)
        return 0;
    int rc = rec_decode_labeled(line, len, c->field, &c->rec);
    if (rc == RECL_NO_LABEL)
        return 0; /* no label (e.g. --label reason on a positive tweet): nothing to count */
    if (rc || c->rec.ts_ms < 0) {
        if (c->bad++ < 5)
            fprintf(stderr, "triage alarms: line %zu: %s (skipped)\n", lineno,
                    rc ? "a record the alarms role would reject" : "no ts");
        return 0;
    }
    if (c->n == c->cap) {
        item_t *v = buf_grow(c->v, &c->cap, sizeof *v, 4096);
        if (!v)
            return TRI_ENOMEM;
        c->v = v;
    }
    item_t *it = &c->v[c->n];
    memset(it, 0, sizeof *it);
    it->ts = c->rec.ts_ms;
    it->dead = c->rec.dead;
    it->known = c->rec.known;
    it->features = c->rec.features;
    it->score = c->rec.score;
    int oom = 0;
    it->label = sdup(c->rec.label, &oom);
    it->account = sdup(c->rec.account, &oom);
    it->model = sdup(c->rec.model, &oom);
    it->id = sdup(c->rec.id, &oom);
    if (c->rec.excerpt) {
        if (!(it->text = malloc(c->rec.excerpt_len + 1)))
            oom = 1;
        else
            memcpy(it->text, c->rec.excerpt, c->rec.excerpt_len + 1);
        it->text_len = c->rec.excerpt_len;
    }
    c->n++;
    return oom ? TRI_ENOMEM : 0;
}

static int cmp_item(const void *a, const void *b)
{
    const item_t *x = a, *y = b;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

typedef struct out {
    int json;
    size_t alarms, clears, updates;
} out_t;

static void print_event(void *ctx, const detector_event_t *ev)
{
    out_t *o = ctx;
    if (ev->type == DETECTOR_RAISE)
        o->alarms++;
    else if (ev->type == DETECTOR_UPDATE)
        o->updates++;
    else
        o->clears++;
    if (o->json) {
        json_t *j = detector_event_json(ev);
        json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
        fputc('\n', stdout);
        json_decref(j);
        return;
    }
    char s[40], e[40];
    tstamp_format(ev->window_start, s, sizeof s);
    tstamp_format(ev->window_end, e, sizeof e);
    printf("%-6s %-12s %-28s %-14s %s .. %s  observed %-8.4g expected %-8.4g",
           ev->type == DETECTOR_RAISE ? "ALARM" : ev->type == DETECTOR_UPDATE ? "update" : "clear",
           detector_kind_name(ev->kind), ev->label ? ev->label : "(all records)", ev->account ? ev->account : "-", s, e,
           ev->observed, ev->expected);
    if (isfinite(ev->p_value))
        printf(" p %.2g", ev->p_value);
    if (ev->incident && ev->type != DETECTOR_CLEAR) {
        printf(" share %.3f vs %.3f (x%.1f)", ev->share, ev->baseline_share, ev->ratio);
        for (size_t i = 0; i < ev->nmembers; i++) {
            char sc[32];
            detector_scale_name(ev->members[i].scale_ms, sc, sizeof sc);
            printf("%s%s@%s", i ? "," : " members ", ev->members[i].account ? ev->members[i].account : "all", sc);
        }
    }
    printf("\n");
    if (ev->explain && ev->type != DETECTOR_CLEAR) {
        const explain_result_t *x = ev->explain;
        for (size_t i = 0; i < x->nngrams; i++)
            printf("%s\"%s\" %.0f%% vs %.1f%%", i ? ", " : "       over-represented: ", x->ngrams[i].text,
                   100 * x->ngrams[i].share, 100 * x->ngrams[i].baseline_share);
        if (x->nngrams)
            printf("\n");
        for (size_t i = 0; i < x->nexamples; i++)
            printf("       e.g. %s: %.120s\n", x->examples[i].id, x->examples[i].text);
    }
}

static int parse_duration(const char *s, int64_t *ms)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v <= 0)
        return -1;
    double mul = !strcmp(end, "ms") ? 1 : !strcmp(end, "s") ? 1000 : !strcmp(end, "m") ? 60000
                 : !strcmp(end, "h") || !*end ? 3600000 : !strcmp(end, "d") ? 86400000 : -1;
    if (mul < 0)
        return -1;
    *ms = (int64_t)(v * mul);
    return *ms > 0 ? 0 : -1;
}

int cmd_alarms(int argc, char **argv)
{
    static const struct option opts[] = {
        {"replay", required_argument, 0, 'r'},   {"label", required_argument, 0, 'l'},
        {"window", required_argument, 0, 'w'},   {"by", required_argument, 0, 'b'},
        {"p", required_argument, 0, 'p'},        {"min-count", required_argument, 0, 'c'},
        {"scales", required_argument, 0, 's'},   {"fdr", required_argument, 0, 'f'},
        {"min-history", required_argument, 0, 'H'}, {"json", no_argument, 0, 'j'},
        {"no-profiles", no_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *file = NULL;
    rctx_t rc = {.field = "label", .rec = REC_LABELED_INIT};
    detector_opts_t ao;
    detector_opts_default(&ao);
    ao.lateness_ms = 0; /* the replay is sorted */
    out_t out = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:l:w:b:p:c:H:s:f:jPh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': file = optarg; break;
        case 'l': rc.field = optarg; break;
        case 'w':
            if (parse_duration(optarg, &ao.window_ms))
                return cli_usage_error("alarms", "--window takes a duration such as 30m, 1h or 1d, not '%s'", optarg);
            break;
        case 'b':
            if (strcmp(optarg, "account"))
                return cli_usage_error("alarms", "--by takes account");
            ao.by_account = 1;
            break;
        case 'p':
            if (cli_parse_double(optarg, &ao.p) || ao.p <= 0 || ao.p >= 1)
                return cli_usage_error("alarms", "--p takes a probability, not '%s'", optarg);
            break;
        case 'c':
            if (cli_parse_double(optarg, &ao.min_count))
                return cli_usage_error("alarms", "--min-count takes a number");
            break;
        case 'H': {
            uint32_t v;
            if (cli_parse_u32(optarg, &v))
                return cli_usage_error("alarms", "--min-history takes a number of windows");
            ao.min_history = (int)v;
            break;
        }
        case 's': {
            char e[TRI_ERRLEN];
            if (detector_parse_scales(&ao, optarg, e, sizeof e))
                return cli_usage_error("alarms", "--scales: %s", e);
            break;
        }
        case 'f':
            if (cli_parse_double(optarg, &ao.fdr) || ao.fdr <= 0 || ao.fdr >= 1)
                return cli_usage_error("alarms", "--fdr takes a probability, not '%s'", optarg);
            break;
        case 'j': out.json = 1; break;
        case 'P': ao.profiles = 0; break;
        case 'h': usage(stdout); return EXIT_OKAY;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (!file || optind != argc)
        return cli_usage_error("alarms", "--replay FILE is required");
    char oe[TRI_ERRLEN];
    if (detector_check_opts(&ao, oe, sizeof oe))
        return cli_usage_error("alarms", "%s", oe);
    if (cli_each_line(file, read_item, &rc)) {
        rctx_free(&rc);
        return EXIT_FAIL;
    }
    /* Event-time order; ties need no order: counts do not depend on it. */
    qsort(rc.v, rc.n, sizeof *rc.v, cmp_item);
    detector_t *a = detector_new(&ao, print_event, &out);
    if (!a) {
        rctx_free(&rc);
        return EXIT_FAIL;
    }
    for (size_t i = 0; i < rc.n; i++) {
        item_t *it = &rc.v[i];
        if (it->dead)
            detector_add_dead(a, it->ts);
        else
            detector_add_rec(a, &(detector_rec_t){it->ts, it->label, it->account, it->model, it->known, it->score,
                                                  it->id, it->text, it->text_len, it->features});
    }
    detector_flush(a);
    detector_stats_t st = detector_stats(a);
    fprintf(stderr, "triage alarms: %llu records (%llu dead letters, %llu with a bad timestamp), %llu windows of "
                    "%lld ms, %zu series: %zu alarms, %zu updates, %zu clears\n",
            (unsigned long long)st.records, (unsigned long long)st.dead, (unsigned long long)st.bad_ts,
            (unsigned long long)st.windows_closed, (long long)ao.window_ms, st.series, out.alarms, out.updates, out.clears);
    detector_free(a);
    rctx_free(&rc);
    return EXIT_OKAY;
}
