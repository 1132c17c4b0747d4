/* store-cli: drives the object-store module (include/store.h) from the shell,
 * so the integration tests can exercise it against s3rver and a directory
 * before any real command uses it. Not installed.
 *
 * Credentials and the endpoint come from the usual AWS_* variables unless
 * given as options. Exit status: 0 done (also "not-modified"), 1 error, 2
 * usage, 3 no such object. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/store.h"
#include "core/tri_err.h"

static const char usage[] =
    "usage: store-cli [OPTIONS] COMMAND URL ARGS...\n"
    "  ls URL PREFIX                 one line per object: KEY<TAB>SIZE<TAB>ETAG<TAB>MTIME_MS\n"
    "  get URL KEY PATH [ETAG]       download; prints \"etag ETAG\" or \"not-modified\"\n"
    "  cat URL KEY [MAX]             small object to stdout (default MAX 1048576)\n"
    "  put URL KEY PATH [KEY PATH]...  upload files (one store, one connection)\n"
    "  rm URL KEY                    delete\n"
    "options: --endpoint URL --region R --timeout-ms N --retries N --insecure\n"
    "exit: 0 ok, 1 error, 2 usage, 3 no such object\n";

static long num(const char *s, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) {
        fprintf(stderr, "store-cli: bad %s \"%s\"\n%s", what, s, usage);
        exit(2);
    }
    return v;
}

static int fail(int rc, const char *err)
{
    fprintf(stderr, "store-cli: %s\n", err);
    return rc == TRI_ENOENT ? 3 : 1;
}

int main(int argc, char **argv)
{
    store_opts_t o = {.retries = -1};
    static const struct option longs[] = {
        {"endpoint", required_argument, NULL, 'e'}, {"region", required_argument, NULL, 'r'},
        {"timeout-ms", required_argument, NULL, 't'}, {"retries", required_argument, NULL, 'n'},
        {"insecure", no_argument, NULL, 'k'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "+", longs, NULL)) != -1) {
        switch (c) {
        case 'e': o.endpoint = optarg; break;
        case 'r': o.region = optarg; break;
        case 't': o.timeout_ms = num(optarg, "--timeout-ms"); break;
        case 'n': o.retries = (int)num(optarg, "--retries"); break;
        case 'k': o.insecure = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    argc -= optind;
    argv += optind;
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[0], *url = argv[1];
    int nargs = argc - 2;
    char **a = argv + 2;
    int ok = (!strcmp(cmd, "ls") && nargs == 1) || (!strcmp(cmd, "get") && (nargs == 2 || nargs == 3)) ||
             (!strcmp(cmd, "cat") && (nargs == 1 || nargs == 2)) ||
             (!strcmp(cmd, "put") && nargs >= 2 && nargs % 2 == 0) || (!strcmp(cmd, "rm") && nargs == 1);
    if (!ok) {
        fputs(usage, stderr);
        return 2;
    }
    /* libcurl runs with CURLOPT_NOSIGNAL: a TLS peer that hangs up must not kill us. */
    signal(SIGPIPE, SIG_IGN);

    char err[TRI_ERRLEN] = "";
    store_t *s = NULL;
    int rc = store_open(url, &o, &s, err, sizeof err);
    if (rc)
        return fail(rc, err);
    int status = 0;
    if (!strcmp(cmd, "ls")) {
        store_list_t l;
        if ((rc = store_list(s, a[0], &l, err, sizeof err))) {
            status = fail(rc, err);
        } else {
            for (size_t i = 0; i < l.n; i++)
                printf("%s\t%" PRIu64 "\t%s\t%" PRId64 "\n", l.v[i].key, l.v[i].size, l.v[i].etag, l.v[i].mtime_ms);
            store_list_free(&l);
        }
    } else if (!strcmp(cmd, "get")) {
        char etag[80] = "";
        rc = store_get_file(s, a[0], a[1], 0, nargs == 3 ? a[2] : NULL, etag, err, sizeof err);
        if (rc == STORE_NOT_MODIFIED)
            printf("not-modified\n");
        else if (rc)
            status = fail(rc, err);
        else
            printf("etag %s\n", etag);
    } else if (!strcmp(cmd, "cat")) {
        char *data = NULL;
        size_t len = 0;
        rc = store_get_small(s, a[0], nargs == 2 ? (size_t)num(a[1], "MAX") : 1u << 20, &data, &len, err, sizeof err);
        if (rc)
            status = fail(rc, err);
        else if (fwrite(data, 1, len, stdout) != len)
            status = 1;
        free(data);
    } else if (!strcmp(cmd, "put")) {
        for (int i = 0; i < nargs && !status; i += 2)
            if ((rc = store_put_file(s, a[i], a[i + 1], err, sizeof err)))
                status = fail(rc, err);
        if (!status)
            printf("ok\n");
    } else {
        if ((rc = store_delete(s, a[0], err, sizeof err)))
            status = fail(rc, err);
        else
            printf("ok\n");
    }
    store_close(s);
    if (fflush(stdout))
        status = 1;
    return status;
}
