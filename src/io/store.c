/* store — where models are published and fetched from: an S3-compatible
 * bucket (AWS, MinIO, s3rver) or a local directory, behind one small API
 * (include/store.h).
 *
 * The S3 backend is store_s3.c (its notes are there), listing documents
 * store_xml.c, the directory backend and local files store_file.c.
 *
 * Uploads never expose a partial object: S3 gets the bytes under a temporary
 * key, then a server-side copy publishes them and the temporary is deleted; a
 * directory gets a temporary file, fsync, rename. Temporary names end in
 * ".uploading.<16 hex>" in both backends and store_list hides them. */
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


/* ---- small helpers ---- */

uint64_t store_rand64(void)
{
    uint64_t v;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
        return v;
    /* Early boot or a seccomp filter: names only need to differ, not to be secret. */
    static uint64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    v = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 48);
    return v ^ (__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0x9E3779B97F4A7C15ull);
}


/* Sleeps ms, in short steps so that store_cancel cuts a backoff short. */
void store_sleep_cancellable(store_t *s, long ms)
{
    for (long left = ms; left > 0 && !is_cancelled(s); left -= 50)
        store_sleep_ms(left < 50 ? left : 50);
}

void store_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* asprintf that returns the string, or NULL when out of memory. */
__attribute__((format(printf, 1, 2))) char *store_fmt(const char *f, ...)
{
    va_list ap;
    char *p = NULL;
    va_start(ap, f);
    int n = vasprintf(&p, f, ap);
    va_end(ap);
    return n < 0 ? NULL : p;
}

const char *store_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

const char *store_first(const char *a, const char *b)
{
    return a && *a ? a : b;
}

/* Header values must not smuggle in CR/LF (header injection) or other controls. */
int store_has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

int store_is_temp_key(const char *key)
{
    size_t n = strlen(key), sl = strlen(TEMP_SUFFIX);
    if (n < sl + 16)
        return 0;
    const char *h = key + n - 16;
    if (memcmp(h - sl, TEMP_SUFFIX, sl))
        return 0;
    for (int i = 0; i < 16; i++)
        if (!isxdigit((unsigned char)h[i]))
            return 0;
    return 1;
}

int store_check_key(const char *key, int is_prefix, char *err, size_t errlen)
{
    const char *what = is_prefix ? "prefix" : "key";
    size_t n = strlen(key);
    if (!n && !is_prefix)
        return tri_errf(err, errlen, TRI_EINVAL, "empty key");
    if (n > MAX_KEY)
        return tri_errf(err, errlen, TRI_EINVAL, "%s longer than %d bytes", what, MAX_KEY);
    if (key[0] == '/')
        return tri_errf(err, errlen, TRI_EINVAL, "%s \"%s\" starts with '/'", what, key);
    if (store_has_ctl(key))
        return tri_errf(err, errlen, TRI_EINVAL, "%s contains a control character", what);
    for (const char *seg = key; *seg;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        /* "a//b" is a distinct S3 key but the same file; "." and ".." escape
         * the directory or are normalised away by URL parsers. */
        if (!len && !(is_prefix && !slash))
            return tri_errf(err, errlen, TRI_EINVAL, "%s \"%s\" has an empty path segment", what, key);
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return tri_errf(err, errlen, TRI_EINVAL, "%s \"%s\" has a \".\" or \"..\" segment", what, key);
        if (!slash)
            break;
        seg = slash + 1;
        if (!*seg && !is_prefix)
            return tri_errf(err, errlen, TRI_EINVAL, "key \"%s\" ends with '/'", key);
    }
    if (!is_prefix && store_is_temp_key(key))
        return tri_errf(err, errlen, TRI_EINVAL, "key \"%s\" has the form of a temporary upload", key);
    return 0;
}

void store_uri_encode(buf_t *b, const char *s, const char *keep)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~' || (*keep && strchr(keep, *p))) {
            buf_putc(b, (char)*p);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            buf_append(b, e, 3);
        }
    }
}

long store_backoff_ms(int attempt, uint64_t rnd)
{
    long d = attempt >= 5 ? BACKOFF_CAP_MS : (long)BACKOFF_BASE_MS << attempt;
    if (d > BACKOFF_CAP_MS)
        d = BACKOFF_CAP_MS;
    return d + (long)(rnd % (uint64_t)(d / 2 + 1));
}

int store_parse_time(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || !n)
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || h < 0 || mi < 0 ||
        sec < 0)
        return -1;
    const char *p = s + n;
    int frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 3)
                frac = frac * 10 + (*p - '0');
        if (!digits)
            return -1;
        for (; digits < 3; digits++)
            frac *= 10;
    }
    if (strcmp(p, "Z") && strcmp(p, "+00:00"))
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *ms = (int64_t)t * 1000 + frac;
    return 0;
}

/* ---- the API ---- */

int store_open(const char *url, const store_opts_t *opts, store_t **out, char *err, size_t errlen)
{
    static const store_opts_t defaults = {.retries = -1};
    const store_opts_t *o = opts ? opts : &defaults;
    *out = NULL;
    store_t *s = calloc(1, sizeof *s);
    if (!s)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    int rc;
    if (!strncmp(url, "s3://", 5)) {
        s->kind = KIND_S3;
        rc = store_open_s3(s, url + 5, o, err, errlen);
    } else if (!strncmp(url, "file://", 7)) {
        s->kind = KIND_FILE;
        rc = store_open_dir(s, url + 7, err, errlen);
    } else {
        rc = tri_errf(err, errlen, TRI_EINVAL, "unsupported store URL \"%s\" (s3://BUCKET/PREFIX or file:///DIR)",
                      url);
    }
    s->max_object = o->max_object_bytes ? o->max_object_bytes : STORE_MAX_OBJECT;
    s->max_keys = o->max_list_keys ? o->max_list_keys : STORE_MAX_LIST_KEYS;
    s->max_pages = o->max_list_pages ? o->max_list_pages : STORE_MAX_LIST_PAGES;
    if (rc) {
        store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void store_cancel(store_t *s) { __atomic_store_n(&s->cancelled, 1, __ATOMIC_RELAXED); }

void store_close(store_t *s)
{
    if (!s)
        return;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    free(s->url);
    free(s->endpoint);
    free(s->bucket);
    free(s->prefix);
    free(s->sigv4);
    free_secret(s->access);
    free_secret(s->secret);
    free_secret(s->token);
    free(s->dir);
    free(s);
}

const char *store_url(const store_t *s) { return s->url; }

int store_list(store_t *s, const char *prefix, store_list_t *out, char *err, size_t errlen)
{
    store_list_t l = {0};
    *out = l;
    if (!prefix)
        prefix = "";
    int rc = store_check_key(prefix, 1, err, errlen);
    if (!rc)
        rc = s->kind == KIND_S3 ? store_s3_list(s, prefix, &l, err, errlen) : store_file_list(s, prefix, &l, err, errlen);
    if (rc) {
        store_list_free(&l);
        return rc;
    }
    *out = l;
    return 0;
}

int store_get_file(store_t *s, const char *key, const char *path, uint64_t size, const char *if_none_match,
                   char *etag_out, char *err, size_t errlen)
{
    char *tmp = NULL;
    int fd = -1, src = -1, rc;
    FILE *f = NULL;
    uint64_t got = 0;
    if ((rc = store_check_key(key, 0, err, errlen)))
        return rc;
    if (size > s->max_object)
        return tri_errf(err, errlen, TRI_ERANGE, "GET %s: listed at %llu bytes, over the %llu-byte limit", key,
                        (unsigned long long)size, (unsigned long long)s->max_object);
    if (if_none_match && !*if_none_match)
        if_none_match = NULL;
    if (s->kind == KIND_FILE) {
        struct stat st;
        char etag[80];
        if ((rc = store_file_open_obj(s, key, &src, &st, err, errlen)))
            return rc;
        if ((size && (uint64_t)st.st_size != size) || (uint64_t)st.st_size > s->max_object) {
            rc = size ? tri_errf(err, errlen, TRI_EAGAIN, "GET %s: %lld bytes, listed at %llu (changed since?)", key,
                                 (long long)st.st_size, (unsigned long long)size)
                      : tri_errf(err, errlen, TRI_ERANGE, "GET %s: object larger than %llu bytes", key,
                                 (unsigned long long)s->max_object);
            close(src);
            return rc;
        }
        store_file_etag(&st, etag);
        if (etag_out)
            snprintf(etag_out, 80, "%s", etag);
        if (if_none_match && !strcmp(if_none_match, etag))
            rc = STORE_NOT_MODIFIED;
        else
            rc = store_copy_publish(src, NULL, 0, path, ".tmp.", path, err, errlen);
        close(src);
        return rc;
    }
    if ((rc = store_open_temp(path, ".tmp.", &tmp, &fd, err, errlen)))
        return rc;
    if (!(f = fdopen(fd, "w"))) {
        rc = tri_errf(err, errlen, TRI_EIO, "%s: %s", path, strerror(errno));
        close(fd);
        goto done;
    }
    rc = store_s3_get(s, key, f, NULL, size ? size : s->max_object, if_none_match, etag_out, &got, err, errlen);
    /* Not what the listing promised: the transfer (or the store) is at
     * fault, not the object; the caller retries later. */
    if ((rc == TRI_ERANGE && size) || (!rc && size && got != size)) {
        rc = tri_errf(err, errlen, TRI_EAGAIN, "GET %s: %s%llu bytes, listed at %llu", key, rc ? "over " : "",
                      (unsigned long long)got, (unsigned long long)size);
    }
    if (rc) {
        fclose(f);
        goto done;
    }
    int bad = fflush(f) || fsync(fileno(f)), e = errno;
    if (fclose(f) && !bad)
        bad = 1, e = errno;
    rc = bad ? tri_errf(err, errlen, TRI_EIO, "%s: %s", path, strerror(e)) : store_rename_durably(tmp, path, err, errlen);
done:
    if (rc)
        unlink(tmp); /* failed, or not modified */
    free(tmp);
    return rc;
}

int store_get_small(store_t *s, const char *key, size_t max, char **data, size_t *len, char *err, size_t errlen)
{
    buf_t b = BUF_INIT;
    int rc;
    *data = NULL;
    *len = 0;
    if ((rc = store_check_key(key, 0, err, errlen)))
        return rc;
    if (s->kind == KIND_S3) {
        rc = store_s3_get(s, key, NULL, &b, max, NULL, NULL, NULL, err, errlen);
    } else {
        int fd;
        struct stat st;
        if ((rc = store_file_open_obj(s, key, &fd, &st, err, errlen)))
            return rc;
        if ((uint64_t)st.st_size > max)
            rc = tri_errf(err, errlen, TRI_ERANGE, "GET %s: object larger than %zu bytes", key, max);
        else if (buf_reserve(&b, (size_t)st.st_size + 1))
            rc = tri_errf(err, errlen, TRI_ENOMEM, "GET %s: out of memory", key);
        /* Read to EOF rather than trusting st_size: the file may change under us. */
        while (!rc) {
            char chunk[4096];
            ssize_t n = read(fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                rc = tri_errf(err, errlen, TRI_EIO, "GET %s: %s", key, strerror(errno));
            else if (!n)
                break;
            else if (b.len + (size_t)n > max)
                rc = tri_errf(err, errlen, TRI_ERANGE, "GET %s: object larger than %zu bytes", key, max);
            else
                buf_append(&b, chunk, (size_t)n);
        }
        close(fd);
    }
    if (!rc) {
        buf_cstr(&b);
        if (b.oom) {
            rc = tri_errf(err, errlen, TRI_ENOMEM, "GET %s: out of memory", key);
        } else {
            *len = b.len;
            *data = b.p;
            b.p = NULL;
        }
    }
    buf_free(&b);
    return rc;
}

int store_put_file(store_t *s, const char *key, const char *path, char *err, size_t errlen)
{
    int rc = store_check_key(key, 0, err, errlen);
    if (rc)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tri_errf(err, errlen, TRI_EIO, "PUT %s: %s: %s", key, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return tri_errf(err, errlen, TRI_EIO, "PUT %s: %s: not a regular file", key, path);
    }
    if (s->kind == KIND_FILE) {
        rc = store_file_put(s, key, fd, NULL, 0, err, errlen);
        close(fd);
        return rc;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return tri_errf(err, errlen, TRI_ENOMEM, "PUT %s: out of memory", key);
    }
    rc = store_s3_put(s, key, f, (uint64_t)st.st_size, NULL, 0, err, errlen);
    fclose(f);
    return rc;
}

int store_put_data(store_t *s, const char *key, const void *data, size_t len, char *err, size_t errlen)
{
    int rc = store_check_key(key, 0, err, errlen);
    if (rc)
        return rc;
    if (s->kind == KIND_FILE)
        return store_file_put(s, key, -1, data, len, err, errlen);
    return store_s3_put(s, key, NULL, 0, data, len, err, errlen);
}

int store_delete(store_t *s, const char *key, char *err, size_t errlen)
{
    int rc = store_check_key(key, 0, err, errlen);
    if (rc)
        return rc;
    if (s->kind == KIND_S3)
        return store_s3_delete(s, key, key, err, errlen);
    char *p = store_file_path(s, key);
    if (!p)
        return tri_errf(err, errlen, TRI_ENOMEM, "DELETE %s: out of memory", key);
    if (unlink(p)) {
        int e = errno;
        rc = e == ENOENT || e == ENOTDIR ? tri_errf(err, errlen, TRI_ENOENT, "DELETE %s: no such object", key)
                                         : tri_errf(err, errlen, TRI_EIO, "DELETE %s: %s", key, strerror(e));
    } else if (store_fsync_parent(p)) {
        rc = tri_errf(err, errlen, TRI_EIO, "DELETE %s: %s", key, strerror(errno));
    }
    free(p);
    return rc;
}

int store_read_pin(store_t *s, const char *dir, char *pinned, size_t n, char *err, size_t errlen)
{
    char key[1100], *data = NULL;
    size_t len = 0;
    pinned[0] = '\0';
    snprintf(key, sizeof key, "%s/PIN", dir);
    int rc = store_get_small(s, key, n - 1, &data, &len, err, errlen);
    if (rc)
        return rc == TRI_ENOENT ? 0 : rc;
    size_t a = 0, b = len;
    while (a < b && strchr(" \t\r\n", data[a]))
        a++;
    while (b > a && strchr(" \t\r\n", data[b - 1]))
        b--;
    snprintf(pinned, n, "%.*s", (int)(b - a), data + a);
    free(data);
    return 0;
}

const char *store_pick_version(char *const *versions, size_t n, const char *pinned)
{
    const char *best = NULL;
    for (size_t i = 0; i < n; i++) {
        if (pinned && *pinned && !strcmp(versions[i], pinned))
            return versions[i];
        if (!best || strcmp(versions[i], best) > 0)
            best = versions[i];
    }
    return best;
}

const char *store_pick_next(char *const *versions, size_t n, const char *pinned)
{
    const char *serving = store_pick_version(versions, n, pinned), *best = NULL;
    for (size_t i = 0; serving && i < n; i++)
        if (strcmp(versions[i], serving) > 0 && (!best || strcmp(versions[i], best) > 0))
            best = versions[i];
    return best;
}
