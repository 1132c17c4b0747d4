/* target — what the store subcommands share (push.c, versions.c): the
 * store and model a command acts on (--store, --name | --account), the
 * versions under it, and publishing one. Private to src/cli.
 *
 * Layout (shared with the daemon's registry): PREFIX/NAME/VERSION.tmodel and
 * its sidecar PREFIX/NAME/VERSION.json (metadata, so listing needs no model
 * download), PREFIX/NAME/PIN (a version name: rollback), and the same under
 * PREFIX/accounts/ACCOUNT/ for per-account models. VERSION is the UTC time
 * of the push, sortable: the greatest serves unless PIN names another. */
#ifndef CLI_TARGET_H
#define CLI_TARGET_H
#include "cli.h"
#include "io/store.h"

#include <getopt.h>
#include <stdio.h>

typedef struct target {
    const char *url, *name, *account, *endpoint, *region;
    char dir[400];
} target_t;

/* The versions under dir (sorted ascending) and the pinned one ("" if none). */
typedef struct versions {
    char **v;
    uint64_t *bytes;
    size_t n;
    char pinned[128];
} versions_t;

#define TARGET_OPTS                                                                                             \
    {"store", required_argument, 0, 'S'}, {"name", required_argument, 0, 'n'},                                  \
        {"account", required_argument, 0, 'a'}, {"endpoint", required_argument, 0, 'E'},                        \
        {"region", required_argument, 0, 'R'}, {"help", no_argument, 0, 'h'}

/* --store given, --name or --account (not both), valid; fills t->dir.
 * 0, or EXIT_USAGE after printing why. */
int target_check(const char *cmd, target_t *t);

/* Opens t's store (printing why not): 0 or -1. */
int target_open(const char *cmd, const target_t *t, store_t **s);

void versions_free(versions_t *vs);
/* The version that serves: the pinned one if it exists, else the newest. */
static inline const char *versions_in_use(const versions_t *vs)
{
    return store_pick_version(vs->v, vs->n, vs->pinned);
}
/* Lists the versions under dir and reads its PIN into vs. */
int target_versions(store_t *s, const char *dir, versions_t *vs, char *err, size_t errlen);

/* A new version name: the UTC time now, to the millisecond. */
void version_now(char *out, size_t n);

/* Accuracy of m on FILE's records with a label in field, reading the text
 * fields the model was trained with. */
int gate_accuracy(model_t *m, char *file, const char *field, double *acc, size_t *n);

/* TARGET_OPTS in a usage text; target_opt takes one of them (1) or not (0). */
void target_opts_usage(FILE *f);
int target_opt(int c, target_t *t);

/* Downloads and loads the version `using` under dir (through a temporary file). */
int target_load(store_t *s, const char *dir, const char *using, model_t **out, char *err, size_t errlen);

/* Publishes m (read from path) as a new version under dir, named by the
 * clock, which must be past every existing version; the version is copied
 * into version (64 bytes). */
int target_publish(store_t *s, const char *dir, const char *path, model_t *m, const versions_t *vs, char *version,
                   char *err, size_t errlen);

#endif
