/* triage models / pin / promote / unpin: listing the versions in a store and
 * choosing which one serves (layout: target.h). */
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
    if (target_open("models", &t, &s))
        return EXIT_FAIL;
    versions_t vs;
    char err[TRI_ERRLEN];
    if (target_versions(s, t.dir, &vs, err, sizeof err)) {
        fprintf(stderr, "triage models: %s: %s\n", store_url(s), err);
        store_close(s);
        return EXIT_FAIL;
    }
    const char *using = versions_in_use(&vs);
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
    if (target_open(cmd, &t, &s))
        return EXIT_FAIL;
    char err[TRI_ERRLEN], key[600];
    versions_t vs = {0};
    rc = EXIT_FAIL;
    snprintf(key, sizeof key, "%s/PIN", t.dir);
    if (mode != UNPIN) {
        const char *v = nargs ? argv[optind] : "next";
        if (target_versions(s, t.dir, &vs, err, sizeof err)) {
            fprintf(stderr, "triage %s: %s: %s\n", cmd, store_url(s), err);
            goto out;
        }
        const char *serving = versions_in_use(&vs);
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
