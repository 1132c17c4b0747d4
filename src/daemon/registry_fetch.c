/* registry_fetch — what a registry job does off the loop, on the libuv
 * thread pool: list the store and find each directory's version to serve;
 * download a version into model.cache.dir (or fall back to the cached last
 * good one), validate and smoke-test it. A job touches only its own fields
 * and the registry's immutable settings (cache directory, source); a check
 * lists through the registry's store connection and keeps its PIN cache
 * (one check runs at a time), a load downloads through its own connection
 * (j->store), as several loads run at once. */
#include "registry_internal.h"
#include "core/tri_err.h"
#include "io/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reason a store or load failure is counted under, from its code (the
 * loader says what was wrong with a file's content). */
static const char *reason_of(int rc, model_fault_t fault)
{
    if (fault != MODEL_FAULT_NONE)
        return model_fault_name(fault);
    if (rc == TRI_ENOENT)
        return "missing";
    if (rc == TRI_EIO || rc == TRI_EAGAIN)
        return "store";
    return "invalid";
}

int registry_mkdirs(const char *path)
{
    char tmp[1024];
    if (strlen(path) >= sizeof tmp)
        return -1;
    strcpy(tmp, path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

typedef struct dirinfo {
    char *dir;
    char **versions;
    uint64_t *sizes;           /* listed size of each version */
    size_t n, cap;
    int has_pin;
    char pin_etag[80];
} dirinfo_t;

static dirinfo_t *dir_of(dirinfo_t **v, size_t *n, size_t *cap, const char *dir, size_t dl)
{
    for (size_t i = 0; i < *n; i++)
        if (strlen((*v)[i].dir) == dl && !memcmp((*v)[i].dir, dir, dl))
            return &(*v)[i];
    if (*n == *cap) {
        dirinfo_t *nv = buf_grow(*v, cap, sizeof *nv, 16);
        if (!nv)
            return NULL;
        *v = nv;
    }
    dirinfo_t *d = &(*v)[(*n)++];
    memset(d, 0, sizeof *d);
    d->dir = strndup(dir, dl);
    return d->dir ? d : NULL;
}

static int collect(const store_list_t *l, dirinfo_t **dirs, size_t *n, size_t *cap)
{
    for (size_t i = 0; i < l->n; i++) {
        const char *k = l->v[i].key, *slash = strrchr(k, '/');
        if (!slash)
            continue;
        const char *file = slash + 1;
        size_t fl = strlen(file);
        int is_pin = !strcmp(file, "PIN");
        int is_model = fl > 7 && !strcmp(file + fl - 7, ".tmodel") && !strchr(file, '/');
        if (!is_pin && !is_model)
            continue; /* sidecars, uploads in progress, anything else */
        dirinfo_t *d = dir_of(dirs, n, cap, k, (size_t)(slash - k));
        if (!d)
            return TRI_ENOMEM;
        if (is_pin) {
            d->has_pin = 1;
            snprintf(d->pin_etag, sizeof d->pin_etag, "%s", l->v[i].etag);
            continue;
        }
        if (fl - 7 >= VERSION_MAX)
            continue;
        if (d->n == d->cap) {
            size_t c = d->cap ? d->cap * 2 : 8;
            char **nv = realloc(d->versions, c * sizeof *nv);
            if (nv)
                d->versions = nv;
            uint64_t *ns = realloc(d->sizes, c * sizeof *ns);
            if (ns)
                d->sizes = ns;
            if (!nv || !ns)
                return TRI_ENOMEM;
            d->cap = c;
        }
        if (!(d->versions[d->n] = strndup(file, fl - 7)))
            return TRI_ENOMEM;
        d->sizes[d->n++] = l->v[i].size;
    }
    return 0;
}

/* A PIN is read again only when its ETag in the listing changed: with
 * thousands of pinned accounts, every poll would otherwise cost a GET each.
 * r->pins (dir -> [etag, version]) is touched only by check jobs, which run
 * one at a time on the pool. */
static int read_pin_cached(registry_t *r, const dirinfo_t *d, char *pinned, size_t n, char *err, size_t errlen)
{
    json_t *c = json_object_get(r->pins, d->dir);
    if (d->pin_etag[0] && c && !strcmp(json_string_value(json_array_get(c, 0)) ?: "", d->pin_etag)) {
        snprintf(pinned, n, "%s", json_string_value(json_array_get(c, 1)) ?: "");
        return 0;
    }
    int rc = store_read_pin(r->store, d->dir, pinned, n, err, errlen);
    if (!rc && d->pin_etag[0])
        json_object_set_new(r->pins, d->dir, json_pack("[s,s]", d->pin_etag, pinned));
    return rc;
}

static void check_work_store(job_t *j)
{
    registry_t *r = j->reg;
    store_list_t l1 = {0}, l2 = {0};
    dirinfo_t *dirs = NULL;
    size_t nd = 0, capd = 0;
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s/", r->name);
    j->rc = store_list(r->store, prefix, &l1, j->err, sizeof j->err);
    if (!j->rc)
        j->rc = store_list(r->store, "accounts/", &l2, j->err, sizeof j->err);
    if (!j->rc && (collect(&l1, &dirs, &nd, &capd) || collect(&l2, &dirs, &nd, &capd)))
        j->rc = tri_errf(j->err, sizeof j->err, TRI_ENOMEM, "out of memory");
    /* Bad keys were left out by the listing, one by one: name them. */
    const store_list_t *ls[2] = {&l1, &l2};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < ls[k]->nskipped && i < STORE_LIST_SKIP_NAMES; i++)
            memcpy(j->skipped[k * STORE_LIST_SKIP_NAMES + i], ls[k]->skipped[i], sizeof j->skipped[0]);
        j->nskipped += ls[k]->nskipped;
    }
    if (!j->rc)
        j->cat = calloc(nd ? nd : 1, sizeof *j->cat);
    for (size_t i = 0; !j->rc && i < nd; i++) {
        char pinned[PIN_MAX] = "", perr[TRI_ERRLEN];
        cat_ent_t *c = &j->cat[j->ncat];
        int prc = dirs[i].has_pin ? read_pin_cached(r, &dirs[i], pinned, sizeof pinned, perr, sizeof perr) : 0;
        if (prc == TRI_EAGAIN || prc == TRI_ENOMEM) { /* the store, not this entry: the whole check failed */
            j->rc = tri_errf(j->err, sizeof j->err, prc, "%s", perr);
            break;
        }
        if (!(c->dir = strdup(dirs[i].dir))) {
            j->rc = tri_errf(j->err, sizeof j->err, TRI_ENOMEM, "out of memory");
            break;
        }
        j->ncat++;
        if (prc) { /* this directory's PIN only: the others go on */
            c->unreadable = 1;
            log_event(LOG_LEVEL_WARN, "model_pin_unreadable", "dir=%s msg=%s", log_q(dirs[i].dir), log_q(perr));
            continue;
        }
        const char *t = store_pick_version(dirs[i].versions, dirs[i].n, pinned);
        snprintf(c->target, VERSION_MAX, "%s", t ? t : "");
        for (size_t k = 0; t && k < dirs[i].n; k++)
            if (dirs[i].versions[k] == t)
                c->size = dirs[i].sizes[k];
        const char *ch = strcmp(dirs[i].dir, r->name) ? NULL
                                                      : registry_challenger_pick(r, dirs[i].versions, dirs[i].n, pinned);
        snprintf(c->chal, VERSION_MAX, "%s", ch ? ch : "");
        for (size_t k = 0; ch && k < dirs[i].n; k++)
            if (dirs[i].versions[k] == ch)
                c->chal_size = dirs[i].sizes[k];
    }
    for (size_t i = 0; i < nd; i++) {
        for (size_t k = 0; k < dirs[i].n; k++)
            free(dirs[i].versions[k]);
        free(dirs[i].versions);
        free(dirs[i].sizes);
        free(dirs[i].dir);
    }
    free(dirs);
    store_list_free(&l1);
    store_list_free(&l2);
}

static int read_last_good(const char *cache, const char *dir, char *version, size_t n)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/last-good", cache, dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return TRI_ENOENT;
    int ok = fgets(version, (int)n, f) != NULL;
    fclose(f);
    if (!ok)
        return TRI_ENOENT;
    version[strcspn(version, "\r\n")] = '\0';
    return *version && !strchr(version, '/') ? 0 : TRI_ENOENT;
}

static void write_last_good(const char *cache, const char *dir, const char *version)
{
    char path[1200], tmp[1300];
    snprintf(path, sizeof path, "%s/%s/last-good", cache, dir);
    snprintf(tmp, sizeof tmp, "%s.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    int ok = fprintf(f, "%s\n", version) > 0;
    if (fclose(f) || !ok || rename(tmp, path))
        unlink(tmp);
}

/* Loads and smoke-tests a model file; on failure *reason says why. */
int registry_load_verified(const char *path, model_t **out, const char **reason, char *err, size_t errlen)
{
    model_fault_t fault;
    int rc = model_load_file_why(path, out, &fault, err, errlen);
    if (rc) {
        *reason = reason_of(rc, fault);
        return rc;
    }
    char perr[TRI_ERRLEN / 2];
    if ((rc = clf_probe(*out, perr, sizeof perr))) {
        model_unref(*out);
        *out = NULL;
        *reason = "probe_mismatch";
        return tri_errf(err, errlen, rc, "%.200s: %s", path, perr);
    }
    return 0;
}

static void load_work_store(job_t *j)
{
    registry_t *r = j->reg;
    char dirpath[1100], path[1300], key[700];
    snprintf(dirpath, sizeof dirpath, "%s/%s", r->cache_dir, j->dir);
    if (registry_mkdirs(dirpath)) {
        j->rc = tri_errf(j->err, sizeof j->err, TRI_EIO, "cache %s: %s", dirpath, strerror(errno));
        j->reason = reason_of(j->rc, MODEL_FAULT_NONE);
        return;
    }
    if (!j->version[0]) { /* no store answer: the last good version in the cache */
        if (read_last_good(r->cache_dir, j->dir, j->version, sizeof j->version)) {
            j->rc = tri_errf(j->err, sizeof j->err, TRI_ENOENT, "no cached model in %s", dirpath);
            j->reason = reason_of(j->rc, MODEL_FAULT_NONE);
            return;
        }
        j->from_cache = 1;
    }
    snprintf(path, sizeof path, "%s/%s.tmodel", dirpath, j->version);
    if (access(path, R_OK)) {
        snprintf(key, sizeof key, "%s/%s.tmodel", j->dir, j->version);
        int rc = store_get_file(j->store, key, path, j->size, NULL, NULL, j->err, sizeof j->err);
        if (rc) {
            j->rc = rc;
            /* Decided here, not from the message: a failed or short transfer
             * is the store's fault and is retried; only an object listed
             * over the size limit is refused. */
            j->reason = rc == TRI_ENOENT ? "missing" : rc == TRI_ERANGE ? "too_large" : "store";
            /* The store failed (not the model): fall back to the cached last
             * good, unless a model serves already (it goes on serving); if
             * that fails too, the store's failure is what counts. */
            char v[VERSION_MAX];
            const char *cache_reason;
            if (rc != TRI_ENOENT && j->may_fall_back && !read_last_good(r->cache_dir, j->dir, v, sizeof v) && strcmp(v, j->version)) {
                snprintf(path, sizeof path, "%s/%s.tmodel", dirpath, v);
                if (!registry_load_verified(path, &j->model, &cache_reason, j->err, sizeof j->err)) {
                    snprintf(j->version, sizeof j->version, "%s", v);
                    j->from_cache = 1;
                    j->rc = 0;
                }
            }
            return;
        }
    }
    if ((j->rc = registry_load_verified(path, &j->model, &j->reason, j->err, sizeof j->err))) {
        unlink(path); /* never keep a refused file as a cache hit */
        return;
    }
    if (!j->challenger) /* the cache's last good is the champion's, for a start without the store */
        write_last_good(r->cache_dir, j->dir, j->version);
}

void registry_job_work(uv_work_t *w)
{
    job_t *j = w->data;
    if (j->kind == J_CHECK)
        check_work_store(j);
    else if (j->file_mode) {
        j->rc = registry_load_verified(j->reg->source, &j->model, &j->reason, j->err, sizeof j->err);
        if (!j->rc)
            registry_file_version(j->model, j->version, sizeof j->version);
    } else
        load_work_store(j);
}
