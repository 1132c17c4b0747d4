/* store_file — the directory backend of the store (file:///DIR), and the
 * local-file steps both backends share: a temporary file, fsync, rename. */
#include "io/store.h"
#include "core/buf.h"
#include "store_internal.h"
#include "core/tri_err.h"

#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


/* ---- local files shared by both backends ---- */

/* Creates PATH.tmp.<16 hex> (or PATH.uploading.<hex> for store files) with
 * O_EXCL and mode 0666 so the umask applies as for any new file. */
int store_open_temp(const char *path, const char *infix, char **tmp, int *fd, char *err, size_t errlen)
{
    for (int tries = 0; tries < 10; tries++) {
        char *t = store_fmt("%s%s%016" PRIx64, path, infix, store_rand64());
        if (!t)
            return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        int f = open(t, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f >= 0) {
            *tmp = t;
            *fd = f;
            return 0;
        }
        int e = errno;
        free(t);
        if (e != EEXIST)
            return tri_errf(err, errlen, TRI_EIO, "%s: cannot create a temporary file: %s", path, strerror(e));
    }
    return tri_errf(err, errlen, TRI_EIO, "%s: cannot create a temporary file", path);
}

int store_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Makes a renamed file durable: its directory entry must reach the disk too. */
int store_fsync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = -1;
    free(dir);
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* Renames a written and synced temporary over path, durably. */
int store_rename_durably(const char *tmp, const char *path, char *err, size_t errlen)
{
    if (rename(tmp, path) || store_fsync_parent(path))
        return tri_errf(err, errlen, TRI_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

/* fsync, close, rename. Closes fd in every case. */
int store_publish_temp(int fd, const char *tmp, const char *path, char *err, size_t errlen)
{
    int bad = fsync(fd), e = errno;
    if (close(fd) && !bad)
        bad = 1, e = errno;
    if (bad)
        return tri_errf(err, errlen, TRI_EIO, "%s: %s", path, strerror(e));
    return store_rename_durably(tmp, path, err, errlen);
}

/* ---- the directory backend ---- */

char *store_file_path(const store_t *s, const char *key)
{
    return store_fmt("%s/%s", strcmp(s->dir, "/") ? s->dir : "", key);
}

/* Changes whenever the file is replaced or rewritten: a rename brings a new
 * inode, an in-place write a new size or mtime. */
void store_file_etag(const struct stat *st, char out[80])
{
    snprintf(out, 80, "%" PRIx64 "-%" PRIx64 "-%" PRIx64, (uint64_t)st->st_ino, (uint64_t)st->st_size,
             (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec);
}

/* Opens key for reading: TRI_ENOENT when there is no such object. */
int store_file_open_obj(const store_t *s, const char *key, int *fd, struct stat *st, char *err, size_t errlen)
{
    char *p = store_file_path(s, key);
    if (!p)
        return tri_errf(err, errlen, TRI_ENOMEM, "GET %s: out of memory", key);
    int f = open(p, O_RDONLY | O_CLOEXEC), e = errno;
    free(p);
    if (f < 0) {
        if (e == ENOENT || e == ENOTDIR)
            return tri_errf(err, errlen, TRI_ENOENT, "GET %s: no such object", key);
        return tri_errf(err, errlen, TRI_EIO, "GET %s: %s", key, strerror(e));
    }
    if (fstat(f, st) || !S_ISREG(st->st_mode)) {
        int isdir = S_ISDIR(st->st_mode);
        close(f);
        if (isdir)
            return tri_errf(err, errlen, TRI_ENOENT, "GET %s: no such object (a directory)", key);
        return tri_errf(err, errlen, TRI_EIO, "GET %s: not a regular file", key);
    }
    *fd = f;
    return 0;
}

typedef struct walk {
    const char *prefix, *what;
    store_list_t *out;
    size_t max_keys;
    buf_t path;           /* DIR/ + rel, rebuilt as the walk descends */
    size_t root_len;      /* bytes of "DIR/" in path */
} walk_t;

static int obj_cmp(const void *a, const void *b)
{
    return strcmp(((const store_obj_t *)a)->key, ((const store_obj_t *)b)->key);
}

static int walk_dir(walk_t *w, char *err, size_t errlen)
{
    const char *dirpath = buf_cstr(&w->path);
    DIR *d = opendir(dirpath);
    if (!d) {
        /* Gone since we saw it (a concurrent delete) or never there: no objects. */
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return tri_errf(err, errlen, TRI_EIO, "LIST %s: %s: %s", w->what, dirpath, strerror(errno));
    }
    size_t mark = w->path.len, plen = strlen(w->prefix);
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                rc = tri_errf(err, errlen, TRI_EIO, "LIST %s: reading %.*s: %s", w->what, (int)mark, w->path.p,
                              strerror(errno));
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        w->path.len = mark;
        buf_puts(&w->path, de->d_name);
        buf_cstr(&w->path);
        if (w->path.oom) {
            rc = tri_errf(err, errlen, TRI_ENOMEM, "LIST %s: out of memory", w->what);
            break;
        }
        const char *rel = w->path.p + w->root_len;
        size_t rlen = strlen(rel);
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
            continue; /* vanished */
        if (S_ISDIR(st.st_mode)) {
            /* Descend only where keys could still match the prefix. */
            if (strncmp(rel, w->prefix, rlen < plen ? rlen : plen))
                continue;
            if (rlen < plen && w->prefix[rlen] != '/')
                continue;
            buf_putc(&w->path, '/');
            if ((rc = walk_dir(w, err, errlen)))
                break;
            continue;
        }
        /* A symlink counts if it leads to a file; linked directories are not
         * followed, so the walk cannot loop. */
        if (S_ISLNK(st.st_mode) && fstatat(dirfd(d), de->d_name, &st, 0))
            continue;
        if (!S_ISREG(st.st_mode) || strncmp(rel, w->prefix, plen) || store_is_temp_key(rel))
            continue;
        store_obj_t o = {.size = (uint64_t)st.st_size,
                         .mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000};
        store_file_etag(&st, o.etag);
        if (store_list_add(w->out, &o, rel)) {
            rc = tri_errf(err, errlen, TRI_ENOMEM, "LIST %s: out of memory", w->what);
            break;
        }
        if (w->out->n + w->out->nskipped > w->max_keys) {
            rc = tri_errf(err, errlen, TRI_ERANGE, "LIST %s: more than %zu keys", w->what, w->max_keys);
            break;
        }
    }
    closedir(d);
    w->path.len = mark;
    return rc;
}

int store_file_list(store_t *s, const char *prefix, store_list_t *out, char *err, size_t errlen)
{
    walk_t w = {.prefix = prefix, .what = *prefix ? prefix : "(all keys)", .out = out, .max_keys = s->max_keys};
    buf_puts(&w.path, strcmp(s->dir, "/") ? s->dir : "");
    buf_putc(&w.path, '/');
    w.root_len = w.path.len;
    /* Start at the deepest directory the prefix names. */
    const char *slash = strrchr(prefix, '/');
    if (slash)
        buf_append(&w.path, prefix, (size_t)(slash - prefix) + 1);
    int rc = w.path.oom ? tri_errf(err, errlen, TRI_ENOMEM, "LIST %s: out of memory", w.what)
                        : walk_dir(&w, err, errlen);
    buf_free(&w.path);
    if (!rc && out->n)
        qsort(out->v, out->n, sizeof *out->v, obj_cmp);
    return rc;
}

/* Creates the directories of key below the root (the root must exist). */
static int file_mkdirs(const store_t *s, const char *key, char *err, size_t errlen)
{
    char *p = store_file_path(s, key);
    if (!p)
        return tri_errf(err, errlen, TRI_ENOMEM, "PUT %s: out of memory", key);
    int rc = 0;
    for (char *c = p + strlen(p) - strlen(key); (c = strchr(c, '/')); c++) {
        *c = '\0';
        if (mkdir(p, 0777) && errno != EEXIST)
            rc = tri_errf(err, errlen, TRI_EIO, "PUT %s: mkdir %s: %s", key, p, strerror(errno));
        *c = '/';
        if (rc)
            break;
    }
    free(p);
    return rc;
}

/* Copies src_fd (or data) into a new file and renames it over dst. */
int store_copy_publish(int src_fd, const void *data, size_t len, const char *dst, const char *infix,
                        const char *what, char *err, size_t errlen)
{
    char *tmp = NULL;
    int fd, rc;
    if ((rc = store_open_temp(dst, infix, &tmp, &fd, err, errlen)))
        return rc;
    if (src_fd >= 0) {
        char chunk[65536];
        ssize_t n;
        while ((n = read(src_fd, chunk, sizeof chunk)) != 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 || store_write_all(fd, chunk, (size_t)n)) {
                rc = tri_errf(err, errlen, TRI_EIO, "%s: %s", what, strerror(errno));
                close(fd);
                goto done;
            }
        }
    } else if (store_write_all(fd, data, len)) {
        rc = tri_errf(err, errlen, TRI_EIO, "%s: %s", what, strerror(errno));
        close(fd);
        goto done;
    }
    rc = store_publish_temp(fd, tmp, dst, err, errlen);
done:
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

int store_file_put(store_t *s, const char *key, int src_fd, const void *data, size_t len, char *err, size_t errlen)
{
    char what[MAX_KEY + 8];
    snprintf(what, sizeof what, "PUT %s", key);
    int rc = file_mkdirs(s, key, err, errlen);
    if (rc)
        return rc;
    char *dst = store_file_path(s, key);
    if (!dst)
        return tri_errf(err, errlen, TRI_ENOMEM, "PUT %s: out of memory", key);
    rc = store_copy_publish(src_fd, data, len, dst, TEMP_SUFFIX, what, err, errlen);
    free(dst);
    return rc;
}

int store_open_dir(store_t *s, const char *path, char *err, size_t errlen)
{
    if (path[0] != '/')
        return tri_errf(err, errlen, TRI_EINVAL, "file:// URL needs an absolute path (file:///dir)");
    int n = (int)strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    if (!(s->dir = store_fmt("%.*s", n, path)) || !(s->url = store_fmt("file://%s", s->dir)))
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    struct stat st;
    if (stat(s->dir, &st))
        return tri_errf(err, errlen, errno == ENOENT ? TRI_ENOENT : TRI_EIO, "%s: %s", s->url, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return tri_errf(err, errlen, TRI_EINVAL, "%s: not a directory", s->url);
    return 0;
}
