/* store — where models are published and fetched from: an S3-compatible
 * bucket (AWS, MinIO, s3rver) or a local directory, behind one small API
 * (include/store.h).
 *
 * S3 notes, all learnt the hard way with libcurl 7.88:
 *  - libcurl signs (CURLOPT_AWS_SIGV4) but canonicalises nothing: the path
 *    and query go into the canonical request exactly as they appear in the
 *    URL. So keys are percent-encoded here the way SigV4 wants (RFC 3986
 *    unreserved kept, upper-case hex) and query parameters are written
 *    already sorted by name.
 *  - 7.88 hashes only CURLOPT_POSTFIELDS as the payload and sends no
 *    x-amz-content-sha256 header, which S3 (and s3rver) require. When the
 *    request carries that header, libcurl uses its value as the payload hash
 *    and signs it like every other header from CURLOPT_HTTPHEADER, so we
 *    compute the SHA-256 ourselves (OpenSSL) and send it.
 *  - Every header we add is signed (x-amz-security-token, x-amz-copy-source,
 *    If-None-Match), which S3 accepts.
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

enum { KIND_S3 = 1, KIND_FILE };

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_RETRIES 3
#define BACKOFF_BASE_MS 200
#define BACKOFF_CAP_MS 5000
#define MAX_KEY 1024
#define ERRBODY_MAX (64 * 1024)       /* error documents are small; keep no more */
#define LIST_PAGE_MAX (32u << 20)     /* one ListObjectsV2 page (1000 keys) */
#define TEMP_SUFFIX ".uploading."
#define COPY_KEEP "/!$&'()*,:;=@"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct store {
    int kind;
    char *url;            /* for store_url: no credentials */
    /* s3 */
    char *endpoint;       /* scheme://host[:port][/path], no trailing '/' */
    char *bucket;
    char *prefix;         /* "" or ending in '/' */
    char *access, *secret, *token;
    char *sigv4;          /* "aws:amz:REGION:s3" */
    long timeout_ms;
    int retries;
    int insecure;
    CURL *curl;           /* one handle, reset per request, so connections are reused */
    /* file */
    char *dir;            /* absolute, no trailing '/' (except "/") */
    /* both */
    uint64_t max_object;  /* bytes */
    size_t max_keys;      /* per listing */
    unsigned max_pages;   /* per listing */
    int cancelled;        /* store_cancel: atomic, any thread */
};

static int is_cancelled(store_t *s) { return __atomic_load_n(&s->cancelled, __ATOMIC_RELAXED); }

/* ---- small helpers ---- */

static uint64_t rand64(void)
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

static void sleep_ms(long ms);

/* Sleeps ms, in short steps so that store_cancel cuts a backoff short. */
static void sleep_cancellable(store_t *s, long ms)
{
    for (long left = ms; left > 0 && !is_cancelled(s); left -= 50)
        sleep_ms(left < 50 ? left : 50);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* asprintf that returns the string, or NULL when out of memory. */
__attribute__((format(printf, 1, 2))) static char *fmt(const char *f, ...)
{
    va_list ap;
    char *p = NULL;
    va_start(ap, f);
    int n = vasprintf(&p, f, ap);
    va_end(ap);
    return n < 0 ? NULL : p;
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static const char *first(const char *a, const char *b)
{
    return a && *a ? a : b;
}

/* Header values must not smuggle in CR/LF (header injection) or other controls. */
static int has_ctl(const char *s)
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
    if (has_ctl(key))
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

/* ---- the XML scanner ----
 * S3 responses are flat, machine-written documents in which '<' only ever
 * starts markup (text has it as &lt;; S3 uses no CDATA), so finding an element
 * is a search for its start tag and the next matching end tag. */

/* Finds the next element called name in [p, end); sets [*v, *ve) to its
 * content ("" for <name/>) and returns the position after it, or NULL. */
static const char *xml_find(const char *p, const char *end, const char *name, const char **v, const char **ve)
{
    size_t nl = strlen(name);
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt)
            return NULL;
        p = lt + 1;
        if (end - p >= 3 && !memcmp(p, "!--", 3)) {
            const char *c = memmem(p + 3, (size_t)(end - p - 3), "-->", 3);
            if (!c)
                return NULL;
            p = c + 3;
            continue;
        }
        if ((size_t)(end - p) <= nl || memcmp(p, name, nl))
            continue;
        const char *q = p + nl;
        if (*q != '>' && *q != '/' && *q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')
            continue; /* a longer name: <KeyCount> when looking for <Key> */
        const char *gt = memchr(q, '>', (size_t)(end - q));
        if (!gt)
            return NULL;
        if (gt[-1] == '/') {
            *v = *ve = gt;
            return gt + 1;
        }
        const char *start = gt + 1;
        for (const char *c = start; c < end;) {
            c = memmem(c, (size_t)(end - c), "</", 2);
            if (!c)
                return NULL;
            const char *cn = c + 2;
            if ((size_t)(end - cn) > nl && !memcmp(cn, name, nl)) {
                const char *t = cn + nl;
                while (t < end && (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n'))
                    t++;
                if (t < end && *t == '>') {
                    *v = start;
                    *ve = c;
                    return t + 1;
                }
            }
            c = cn;
        }
        return NULL;
    }
    return NULL;
}

static void put_utf8(buf_t *b, uint32_t cp)
{
    if (cp < 0x80) {
        buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        buf_putc(b, (char)(0xC0 | (cp >> 6)));
        buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        buf_putc(b, (char)(0xE0 | (cp >> 12)));
        buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        buf_putc(b, (char)(0xF0 | (cp >> 18)));
        buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
        buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    }
}

int store_xml_text(const char *s, size_t n, char **out)
{
    static const struct { const char *name; char c; } ents[] = {
        {"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    buf_t b = BUF_INIT;
    int rc = TRI_EFORMAT;
    *out = NULL;
    for (size_t i = 0; i < n;) {
        if (s[i] != '&') {
            buf_putc(&b, s[i++]);
            continue;
        }
        const char *semi = memchr(s + i, ';', n - i);
        if (!semi)
            goto done;
        size_t elen = (size_t)(semi - (s + i)) + 1; /* "&...;" */
        size_t k;
        for (k = 0; k < sizeof ents / sizeof *ents; k++)
            if (elen - 1 == strlen(ents[k].name) && !memcmp(s + i + 1, ents[k].name, elen - 1))
                break;
        if (k < sizeof ents / sizeof *ents) {
            buf_putc(&b, ents[k].c);
        } else if (elen >= 4 && s[i + 1] == '#') {
            int hex = s[i + 2] == 'x' || s[i + 2] == 'X';
            uint32_t cp = 0;
            size_t j = i + 2 + (size_t)hex;
            if (s + j == semi)
                goto done;
            for (; s + j < semi; j++) {
                int c = (unsigned char)s[j], dv;
                if (isdigit(c))
                    dv = c - '0';
                else if (hex && isxdigit(c))
                    dv = tolower(c) - 'a' + 10;
                else
                    goto done;
                cp = cp * (hex ? 16 : 10) + (uint32_t)dv;
                if (cp > 0x10FFFF)
                    goto done;
            }
            if (!cp || (cp >= 0xD800 && cp <= 0xDFFF))
                goto done;
            put_utf8(&b, cp);
        } else {
            goto done;
        }
        i += elen;
    }
    buf_cstr(&b);
    if (b.oom) {
        rc = TRI_ENOMEM;
        goto done;
    }
    *out = b.p;
    b.p = NULL;
    rc = 0;
done:
    buf_free(&b);
    return rc;
}

/* Copies decoded text into a fixed buffer, controls replaced: error texts end up in logs. */
static void xml_copy_clean(const char *v, const char *ve, char *dst, size_t dstlen)
{
    char *t = NULL;
    if (store_xml_text(v, (size_t)(ve - v), &t)) {
        snprintf(dst, dstlen, "?");
        return;
    }
    for (char *c = t; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
    snprintf(dst, dstlen, "%s", t);
    free(t);
}

int store_parse_error(const char *xml, size_t len, char *code, size_t codelen, char *msg, size_t msglen)
{
    const char *end = xml + len, *es, *ee, *v, *ve;
    if (!xml || !xml_find(xml, end, "Error", &es, &ee) || !xml_find(es, ee, "Code", &v, &ve) || v == ve)
        return -1;
    xml_copy_clean(v, ve, code, codelen);
    msg[0] = '\0';
    if (xml_find(es, ee, "Message", &v, &ve))
        xml_copy_clean(v, ve, msg, msglen);
    return 0;
}

/* Adds o under key (copied) unless the key rules refuse it: then it is
 * counted and, among the first few, named in l->skipped. */
static int list_add(store_list_t *l, store_obj_t *o, const char *key)
{
    if (store_check_key(key, 0, NULL, 0)) {
        if (l->nskipped < STORE_LIST_SKIP_NAMES) {
            char *d = l->skipped[l->nskipped];
            size_t i = 0;
            for (; key[i] && i < sizeof l->skipped[0] - 1; i++)
                d[i] = (unsigned char)key[i] < 0x20 || key[i] == 0x7F ? '?' : key[i];
            d[i] = '\0';
        }
        l->nskipped++;
        return 0;
    }
    if (!(o->key = strdup(key)))
        return TRI_ENOMEM;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        store_obj_t *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            free(o->key);
            return TRI_ENOMEM;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *o;
    return 0;
}

/* Reads the text of child element name of [p, end) into *out (NULL if absent). */
static int xml_child(const char *p, const char *end, const char *name, char **out)
{
    const char *v, *ve;
    *out = NULL;
    if (!xml_find(p, end, name, &v, &ve))
        return 0;
    return store_xml_text(v, (size_t)(ve - v), out);
}

int store_parse_list(const char *xml, size_t len, const char *strip, store_list_t *out, int *truncated,
                     char **next_token, char *err, size_t errlen)
{
    const char *end = xml + len, *rs, *re, *cs, *ce;
    char *key = NULL, *size = NULL, *etag = NULL, *mtime = NULL, *trunc = NULL;
    size_t striplen = strlen(strip);
    int rc;
    *truncated = 0;
    *next_token = NULL;
    if (!xml_find(xml, end, "ListBucketResult", &rs, &re))
        return tri_errf(err, errlen, TRI_EFORMAT, "response is not a ListBucketResult document");
    for (const char *p = rs; (p = xml_find(p, re, "Contents", &cs, &ce));) {
        if ((rc = xml_child(cs, ce, "Key", &key)) || (rc = xml_child(cs, ce, "Size", &size)) ||
            (rc = xml_child(cs, ce, "ETag", &etag)) || (rc = xml_child(cs, ce, "LastModified", &mtime)))
            goto bad;
        rc = TRI_EFORMAT;
        if (!key || !size)
            goto bad;
        store_obj_t o = {0};
        char *e;
        errno = 0;
        unsigned long long sz = strtoull(size, &e, 10);
        if (!isdigit((unsigned char)size[0]) || *e || errno)
            goto bad;
        o.size = sz;
        if (mtime && store_parse_time(mtime, &o.mtime_ms))
            goto bad;
        if (etag) {
            const char *t = etag;
            size_t tl = strlen(t);
            if (tl >= 2 && t[0] == '"' && t[tl - 1] == '"')
                t++, tl -= 2;
            if (tl >= sizeof o.etag)
                goto bad;
            memcpy(o.etag, t, tl);
            o.etag[tl] = '\0';
        }
        if (strncmp(key, strip, striplen))
            goto bad; /* the service ignored our prefix */
        if (!store_is_temp_key(key) && list_add(out, &o, key + striplen)) {
            rc = TRI_ENOMEM;
            goto bad;
        }
        free(key), free(size), free(etag), free(mtime);
        key = size = etag = mtime = NULL;
    }
    if ((rc = xml_child(rs, re, "IsTruncated", &trunc)) || (rc = xml_child(rs, re, "NextContinuationToken", next_token)))
        goto bad;
    *truncated = trunc && !strcmp(trunc, "true");
    free(trunc);
    return 0;
bad:
    free(key), free(size), free(etag), free(mtime), free(trunc);
    free(*next_token);
    *next_token = NULL;
    if (rc == TRI_ENOMEM)
        return tri_errf(err, errlen, rc, "out of memory parsing the object list");
    return tri_errf(err, errlen, TRI_EFORMAT, "malformed object list (entry %zu)", out->n + 1);
}

void store_list_free(store_list_t *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].key);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = l->nskipped = 0;
}

/* ---- local files shared by both backends ---- */

/* Creates PATH.tmp.<16 hex> (or PATH.uploading.<hex> for store files) with
 * O_EXCL and mode 0666 so the umask applies as for any new file. */
static int open_temp(const char *path, const char *infix, char **tmp, int *fd, char *err, size_t errlen)
{
    for (int tries = 0; tries < 10; tries++) {
        char *t = fmt("%s%s%016" PRIx64, path, infix, rand64());
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

static int write_all(int fd, const void *p, size_t n)
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
static int fsync_parent(const char *path)
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
static int rename_durably(const char *tmp, const char *path, char *err, size_t errlen)
{
    if (rename(tmp, path) || fsync_parent(path))
        return tri_errf(err, errlen, TRI_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

/* fsync, close, rename. Closes fd in every case. */
static int publish_temp(int fd, const char *tmp, const char *path, char *err, size_t errlen)
{
    int bad = fsync(fd), e = errno;
    if (close(fd) && !bad)
        bad = 1, e = errno;
    if (bad)
        return tri_errf(err, errlen, TRI_EIO, "%s: %s", path, strerror(e));
    return rename_durably(tmp, path, err, errlen);
}

/* ---- S3 requests ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct req {
    const char *method;          /* GET, PUT, DELETE */
    const char *op, *what;       /* for messages: "GET", "default/x.tmodel" */
    const char *url;
    struct curl_slist *hdrs;
    int conditional;             /* If-None-Match sent: 304 is an answer */
    int check_body_error;        /* CopyObject may fail inside a 200 */
    /* request body: memory or file */
    const unsigned char *body;
    size_t body_len, body_pos;
    FILE *body_file;
    uint64_t body_size;
    /* 2xx body: to a file or to memory, at most max bytes (got so far);
     * else to resp */
    FILE *out_file;
    buf_t *out_mem;
    uint64_t max, got;
    store_t *store;              /* for the cancel flag */
    /* per attempt */
    CURL *curl;
    long status;
    int got_status;
    int sink_err;                /* a local failure inside a callback: TRI_EIO, TRI_ERANGE */
    int sink_errno;
    buf_t resp;                  /* non-2xx (or copy) body, at most ERRBODY_MAX */
    char etag[80];
} req_t;

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    req_t *r = ud;
    size_t len = size * n;
    if (len > 5 && !strncasecmp(p, "ETag:", 5)) {
        const char *v = p + 5, *e = p + len;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e - v >= 2 && *v == '"' && e[-1] == '"')
            v++, e--;
        size_t k = (size_t)(e - v);
        if (k < sizeof r->etag) {
            memcpy(r->etag, v, k);
            r->etag[k] = '\0';
        }
    }
    return len;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    req_t *r = ud;
    size_t len = size * n;
    if (!r->got_status) {
        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
        r->got_status = 1;
    }
    int ok = r->status >= 200 && r->status < 300;
    if (ok && (r->out_file || r->out_mem) && len > r->max - r->got) {
        r->sink_err = TRI_ERANGE;
        return 0;
    }
    if (ok)
        r->got += len;
    if (ok && r->out_file) {
        if (fwrite(p, 1, len, r->out_file) != len) {
            r->sink_err = TRI_EIO;
            r->sink_errno = errno;
            return 0;
        }
    } else if (ok && r->out_mem) {
        buf_append(r->out_mem, p, len);
        if (r->out_mem->oom) {
            r->sink_err = TRI_ENOMEM;
            return 0;
        }
    } else if (r->resp.len < ERRBODY_MAX) {
        buf_append(&r->resp, p, len < ERRBODY_MAX - r->resp.len ? len : ERRBODY_MAX - r->resp.len);
    }
    return len;
}

/* libcurl calls this at least once a second during a transfer: a nonzero
 * return aborts it, so store_cancel stops a trickling download at once. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    req_t *r = ud;
    return is_cancelled(r->store);
}

static size_t on_read(char *dst, size_t size, size_t n, void *ud)
{
    req_t *r = ud;
    size_t want = size * n;
    if (r->body_file) {
        size_t got = fread(dst, 1, want, r->body_file);
        if (got < want && ferror(r->body_file))
            return CURL_READFUNC_ABORT;
        return got;
    }
    size_t left = r->body_len - r->body_pos;
    if (want > left)
        want = left;
    if (want)
        memcpy(dst, r->body + r->body_pos, want);
    r->body_pos += want;
    return want;
}

/* libcurl rewinds the body when it must resend it (e.g. a reused connection
 * that turned out closed). */
static int on_seek(void *ud, curl_off_t off, int origin)
{
    req_t *r = ud;
    if (origin != SEEK_SET || off < 0)
        return CURL_SEEKFUNC_CANTSEEK;
    if (r->body_file)
        return fseeko(r->body_file, (off_t)off, SEEK_SET) ? CURL_SEEKFUNC_FAIL : CURL_SEEKFUNC_OK;
    if ((uint64_t)off > r->body_len)
        return CURL_SEEKFUNC_FAIL;
    r->body_pos = (size_t)off;
    return CURL_SEEKFUNC_OK;
}

static int retryable_curl(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

/* Adds the headers every signed request carries; hash is the payload's hex SHA-256. */
static int base_headers(const store_t *s, req_t *r, const char *hash)
{
    char h[128];
    snprintf(h, sizeof h, "x-amz-content-sha256: %s", hash);
    struct curl_slist *l = curl_slist_append(r->hdrs, h);
    if (!l)
        return TRI_ENOMEM;
    r->hdrs = l;
    if (s->token) {
        buf_t t = BUF_INIT;
        buf_printf(&t, "x-amz-security-token: %s", s->token);
        l = t.oom ? NULL : curl_slist_append(r->hdrs, buf_cstr(&t));
        if (t.p)
            explicit_bzero(t.p, t.len);
        buf_free(&t);
        if (!l)
            return TRI_ENOMEM;
        r->hdrs = l;
    }
    return 0;
}

static int add_header(req_t *r, const char *name, const char *value)
{
    buf_t t = BUF_INIT;
    buf_printf(&t, "%s: %s", name, value);
    struct curl_slist *l = t.oom ? NULL : curl_slist_append(r->hdrs, buf_cstr(&t));
    buf_free(&t);
    if (!l)
        return TRI_ENOMEM;
    r->hdrs = l;
    return 0;
}

static int set_options(store_t *s, req_t *r, char *curlerr)
{
    CURL *c = s->curl;
    int bad = 0;
#define SET(opt, val) bad |= curl_easy_setopt(c, opt, val) != CURLE_OK
    SET(CURLOPT_URL, r->url);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_TIMEOUT_MS, s->timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, s->timeout_ms < 10000 ? s->timeout_ms : 10000L);
    SET(CURLOPT_SSL_VERIFYPEER, s->insecure ? 0L : 1L);
    SET(CURLOPT_SSL_VERIFYHOST, s->insecure ? 0L : 2L);
    SET(CURLOPT_AWS_SIGV4, s->sigv4);
    /* Separate options, not "ACCESS:SECRET": nothing to split wrongly. */
    SET(CURLOPT_USERNAME, s->access);
    SET(CURLOPT_PASSWORD, s->secret);
    SET(CURLOPT_HTTPHEADER, r->hdrs);
    SET(CURLOPT_USERAGENT, "triage-store/1");
    SET(CURLOPT_ERRORBUFFER, curlerr);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, r);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, r);
    SET(CURLOPT_NOPROGRESS, 0L);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(CURLOPT_XFERINFODATA, r);
    if (r->out_file || r->out_mem)
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max); /* a larger Content-Length fails at once */
    if (!strcmp(r->method, "PUT")) {
        SET(CURLOPT_UPLOAD, 1L);
        SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)(r->body_file ? r->body_size : r->body_len));
        SET(CURLOPT_READFUNCTION, on_read);
        SET(CURLOPT_READDATA, r);
        SET(CURLOPT_SEEKFUNCTION, on_seek);
        SET(CURLOPT_SEEKDATA, r);
    } else if (strcmp(r->method, "GET")) {
        SET(CURLOPT_CUSTOMREQUEST, r->method);
    }
#undef SET
    return bad ? TRI_ENOMEM : 0;
}

/* Resets everything an attempt may have left behind. */
static int rewind_req(req_t *r)
{
    r->status = 0;
    r->got_status = 0;
    r->sink_err = 0;
    r->got = 0;
    r->etag[0] = '\0';
    buf_reset(&r->resp);
    r->body_pos = 0;
    if (r->body_file && fseeko(r->body_file, 0, SEEK_SET))
        return -1;
    if (r->out_file && (fflush(r->out_file) || ftruncate(fileno(r->out_file), 0) || fseeko(r->out_file, 0, SEEK_SET)))
        return -1;
    if (r->out_mem)
        buf_reset(r->out_mem);
    return 0;
}

/* Runs r with retries. 0 (2xx), STORE_NOT_MODIFIED, or an error in err:
 * TRI_ENOENT for 404, TRI_EAGAIN when transient failures outlasted the
 * retries, TRI_EIO for other failures. */
static int perform(store_t *s, req_t *r, char *err, size_t errlen)
{
    char curlerr[CURL_ERROR_SIZE];
    int attempts = 1 + s->retries;
    r->curl = s->curl;
    r->store = s;
    for (int a = 0;; a++) {
        if (a > 0)
            sleep_cancellable(s, store_backoff_ms(a - 1, rand64()));
        if (is_cancelled(s))
            return tri_errf(err, errlen, TRI_EAGAIN, "%s %s: cancelled (shutting down)", r->op, r->what);
        if (rewind_req(r))
            return tri_errf(err, errlen, TRI_EIO, "%s %s: cannot rewind a local file: %s", r->op, r->what,
                            strerror(errno));
        curl_easy_reset(s->curl);
        curlerr[0] = '\0';
        if (set_options(s, r, curlerr))
            return tri_errf(err, errlen, TRI_ENOMEM, "%s %s: cannot set up the request", r->op, r->what);
        CURLcode cc = curl_easy_perform(s->curl);
        /* Stop the handle pointing at our stack frame and at r between calls. */
        curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, NULL);
        int last = a + 1 >= attempts;
        char tail[48] = "", note[48] = ""; /* for failures that were retried / came after retries */
        if (a > 0) {
            snprintf(tail, sizeof tail, " (gave up after %d attempts)", a + 1);
            snprintf(note, sizeof note, " (attempt %d)", a + 1);
        }
        if (cc != CURLE_OK) {
            if (cc == CURLE_ABORTED_BY_CALLBACK && is_cancelled(s))
                return tri_errf(err, errlen, TRI_EAGAIN, "%s %s: cancelled (shutting down)", r->op, r->what);
            if (r->sink_err == TRI_ERANGE || cc == CURLE_FILESIZE_EXCEEDED)
                return tri_errf(err, errlen, TRI_ERANGE, "%s %s: object larger than %llu bytes", r->op, r->what,
                                (unsigned long long)r->max);
            if (r->sink_err == TRI_ENOMEM)
                return tri_errf(err, errlen, TRI_ENOMEM, "%s %s: out of memory", r->op, r->what);
            if (r->sink_err)
                return tri_errf(err, errlen, TRI_EIO, "%s %s: writing the download: %s", r->op, r->what,
                                strerror(r->sink_errno));
            if (retryable_curl(cc) && !last)
                continue;
            return tri_errf(err, errlen, retryable_curl(cc) ? TRI_EAGAIN : TRI_EIO, "%s %s: %s%s", r->op, r->what,
                            curlerr[0] ? curlerr : curl_easy_strerror(cc), retryable_curl(cc) ? tail : note);
        }
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &r->status);
        char code[64] = "", msg[256] = "";
        int parsed = !store_parse_error(r->resp.p, r->resp.len, code, sizeof code, msg, sizeof msg);
        if (r->status >= 200 && r->status < 300 && !(r->check_body_error && parsed))
            return 0;
        if (r->status == 304 && r->conditional)
            return STORE_NOT_MODIFIED;
        /* S3 reports a failed copy inside a 200 and asks for a retry, like a 500. */
        int transient = r->status == 429 || r->status >= 500 || (r->status >= 200 && r->status < 300) ||
                        (r->status == 400 && !strcmp(code, "RequestTimeout"));
        if (transient && !last)
            continue;
        int rc = transient ? TRI_EAGAIN : TRI_EIO;
        if (r->status == 404)
            rc = strcmp(code, "NoSuchBucket") ? TRI_ENOENT : TRI_EINVAL;
        if (parsed)
            return tri_errf(err, errlen, rc, "%s %s: %ld %s%s%s%s", r->op, r->what, r->status, code,
                            msg[0] ? ": " : "", msg, transient ? tail : note);
        return tri_errf(err, errlen, rc, "%s %s: HTTP %ld%s", r->op, r->what, r->status, transient ? tail : note);
    }
}

static void req_free(req_t *r)
{
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;
    buf_free(&r->resp);
}

/* ENDPOINT/BUCKET/PREFIXKEY with the key encoded per segment. */
static void object_url(const store_t *s, buf_t *u, const char *key)
{
    buf_puts(u, s->endpoint);
    buf_putc(u, '/');
    store_uri_encode(u, s->bucket, "");
    buf_putc(u, '/');
    store_uri_encode(u, s->prefix, "/");
    store_uri_encode(u, key, "/");
}

static int sha256_hex(const void *data, size_t len, FILE *f, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int rc = -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
        goto done;
    if (f) {
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            if (!EVP_DigestUpdate(ctx, chunk, n))
                goto done;
        if (ferror(f))
            goto done;
    } else if (len && !EVP_DigestUpdate(ctx, data, len)) {
        goto done;
    }
    if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 32)
        goto done;
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    rc = 0;
done:
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* A GET of key into out_file or out_mem. */
static int s3_get(store_t *s, const char *key, FILE *out_file, buf_t *out_mem, uint64_t max, const char *inm,
                  char *etag_out, uint64_t *got, char *err, size_t errlen)
{
    buf_t url = BUF_INIT;
    req_t r = {.method = "GET", .op = "GET", .what = key, .out_file = out_file, .out_mem = out_mem, .max = max};
    int rc = TRI_ENOMEM;
    object_url(s, &url, key);
    if (url.oom || base_headers(s, &r, EMPTY_SHA256))
        goto oom;
    if (inm && *inm) {
        /* S3 compares the quoted form; s3rver compares strings exactly. */
        char q[84];
        snprintf(q, sizeof q, "\"%s\"", inm);
        if (add_header(&r, "If-None-Match", q))
            goto oom;
        r.conditional = 1;
    }
    r.url = buf_cstr(&url);
    rc = perform(s, &r, err, errlen);
    if (got)
        *got = r.got;
    if (rc >= 0 && etag_out)
        snprintf(etag_out, 80, "%s", r.etag[0] ? r.etag : rc == STORE_NOT_MODIFIED ? inm : "");
    goto done;
oom:
    rc = tri_errf(err, errlen, TRI_ENOMEM, "GET %s: out of memory", key);
done:
    req_free(&r);
    buf_free(&url);
    return rc;
}

static int s3_delete(store_t *s, const char *key, const char *what, char *err, size_t errlen)
{
    buf_t url = BUF_INIT;
    req_t r = {.method = "DELETE", .op = "DELETE", .what = what};
    int rc;
    object_url(s, &url, key);
    if (url.oom || base_headers(s, &r, EMPTY_SHA256))
        rc = tri_errf(err, errlen, TRI_ENOMEM, "DELETE %s: out of memory", what);
    else {
        r.url = buf_cstr(&url);
        rc = perform(s, &r, err, errlen);
    }
    req_free(&r);
    buf_free(&url);
    return rc;
}

/* PUT to a temporary key, copy to key, delete the temporary. Body from f or data. */
static int s3_put(store_t *s, const char *key, FILE *f, uint64_t fsize, const void *data, size_t len, char *err,
                  size_t errlen)
{
    char hash[65], tmpkey[MAX_KEY + 64];
    buf_t url = BUF_INIT, src = BUF_INIT;
    req_t put = {.method = "PUT", .op = "PUT", .what = key, .body = data, .body_len = len, .body_file = f,
                 .body_size = fsize};
    req_t copy = {.method = "PUT", .op = "PUT (copy)", .what = key, .check_body_error = 1};
    int rc, uploaded = 0;
    if (f && fseeko(f, 0, SEEK_SET)) {
        rc = tri_errf(err, errlen, TRI_EIO, "PUT %s: %s", key, strerror(errno));
        goto done;
    }
    if (sha256_hex(data, len, f, hash)) {
        rc = tri_errf(err, errlen, TRI_EIO, "PUT %s: cannot hash the payload", key);
        goto done;
    }
    snprintf(tmpkey, sizeof tmpkey, "%s%s%016" PRIx64, key, TEMP_SUFFIX, rand64());
    object_url(s, &url, tmpkey);
    if (url.oom || base_headers(s, &put, hash))
        goto oom;
    put.url = buf_cstr(&url);
    if ((rc = perform(s, &put, err, errlen)))
        goto done;
    uploaded = 1;

    buf_reset(&url);
    object_url(s, &url, key);
    /* The copy source is a header, not a URL: sub-delimiters may stay literal,
     * and must for s3rver, which decodes it with JavaScript's decodeURI (that
     * leaves %3A, %40, %26, ... encoded). '+', '?' and '#' stay encoded: S3
     * would read "?" as the start of a versionId. */
    buf_putc(&src, '/');
    store_uri_encode(&src, s->bucket, "");
    buf_putc(&src, '/');
    store_uri_encode(&src, s->prefix, COPY_KEEP);
    store_uri_encode(&src, tmpkey, COPY_KEEP);
    if (url.oom || src.oom || base_headers(s, &copy, EMPTY_SHA256) ||
        add_header(&copy, "x-amz-copy-source", buf_cstr(&src)))
        goto oom;
    copy.url = buf_cstr(&url);
    rc = perform(s, &copy, err, errlen);
    goto done;
oom:
    rc = tri_errf(err, errlen, TRI_ENOMEM, "PUT %s: out of memory", key);
done:
    if (uploaded) {
        /* After a successful copy the object is published: a failed delete
         * only leaves a temporary behind, which store_list hides, so it does
         * not turn the upload into a failure. */
        char derr[TRI_ERRLEN];
        (void)s3_delete(s, tmpkey, key, derr, sizeof derr);
    }
    req_free(&put);
    req_free(&copy);
    buf_free(&url);
    buf_free(&src);
    return rc;
}

static int s3_list(store_t *s, const char *prefix, store_list_t *out, char *err, size_t errlen)
{
    buf_t url = BUF_INIT, page = BUF_INIT, full = BUF_INIT;
    char *token = NULL;
    const char *what = *prefix ? prefix : "(all keys)";
    int rc = 0;
    buf_puts(&full, s->prefix);
    buf_puts(&full, prefix);
    if (full.oom) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "LIST %s: out of memory", what);
        goto done;
    }
    for (unsigned pages = 0;; pages++) {
        /* A listing that never ends (always "truncated") must not take all
         * memory and time: pages and keys are capped. */
        if (pages >= s->max_pages || out->n + out->nskipped > s->max_keys) {
            rc = tri_errf(err, errlen, TRI_ERANGE, "LIST %s: more than %zu keys or %u pages (a listing that never ends?)",
                          what, s->max_keys, s->max_pages);
            goto done;
        }
        req_t r = {.method = "GET", .op = "LIST", .what = what, .out_mem = &page, .max = LIST_PAGE_MAX};
        /* Parameters in name order: libcurl 7.88 signs the query as written. */
        buf_reset(&url);
        buf_puts(&url, s->endpoint);
        buf_putc(&url, '/');
        store_uri_encode(&url, s->bucket, "");
        buf_putc(&url, '?');
        if (token) {
            buf_puts(&url, "continuation-token=");
            store_uri_encode(&url, token, "");
            buf_putc(&url, '&');
        }
        buf_puts(&url, "list-type=2&prefix=");
        store_uri_encode(&url, buf_cstr(&full), "");
        if (url.oom || base_headers(s, &r, EMPTY_SHA256)) {
            req_free(&r);
            rc = tri_errf(err, errlen, TRI_ENOMEM, "LIST %s: out of memory", what);
            goto done;
        }
        r.url = buf_cstr(&url);
        rc = perform(s, &r, err, errlen);
        req_free(&r);
        if (rc)
            goto done;
        int truncated;
        char *next = NULL, perr[TRI_ERRLEN];
        if ((rc = store_parse_list(page.p, page.len, s->prefix, out, &truncated, &next, perr, sizeof perr))) {
            tri_errf(err, errlen, rc, "LIST %s: %s", what, perr);
            goto done;
        }
        /* A truncated page must say where to go on, and somewhere new. */
        if (truncated && (!next || !*next || (token && !strcmp(next, token)))) {
            free(next);
            rc = tri_errf(err, errlen, TRI_EFORMAT, "LIST %s: truncated page without a new continuation token", what);
            goto done;
        }
        free(token);
        token = next;
        if (!truncated)
            break;
    }
done:
    free(token);
    buf_free(&url);
    buf_free(&page);
    buf_free(&full);
    return rc;
}

/* ---- the directory backend ---- */

static char *file_path(const store_t *s, const char *key)
{
    return fmt("%s/%s", strcmp(s->dir, "/") ? s->dir : "", key);
}

/* Changes whenever the file is replaced or rewritten: a rename brings a new
 * inode, an in-place write a new size or mtime. */
static void file_etag(const struct stat *st, char out[80])
{
    snprintf(out, 80, "%" PRIx64 "-%" PRIx64 "-%" PRIx64, (uint64_t)st->st_ino, (uint64_t)st->st_size,
             (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec);
}

/* Opens key for reading: TRI_ENOENT when there is no such object. */
static int file_open_obj(const store_t *s, const char *key, int *fd, struct stat *st, char *err, size_t errlen)
{
    char *p = file_path(s, key);
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
        file_etag(&st, o.etag);
        if (list_add(w->out, &o, rel)) {
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

static int file_list(store_t *s, const char *prefix, store_list_t *out, char *err, size_t errlen)
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
    char *p = file_path(s, key);
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
static int copy_publish(int src_fd, const void *data, size_t len, const char *dst, const char *infix,
                        const char *what, char *err, size_t errlen)
{
    char *tmp = NULL;
    int fd, rc;
    if ((rc = open_temp(dst, infix, &tmp, &fd, err, errlen)))
        return rc;
    if (src_fd >= 0) {
        char chunk[65536];
        ssize_t n;
        while ((n = read(src_fd, chunk, sizeof chunk)) != 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 || write_all(fd, chunk, (size_t)n)) {
                rc = tri_errf(err, errlen, TRI_EIO, "%s: %s", what, strerror(errno));
                close(fd);
                goto done;
            }
        }
    } else if (write_all(fd, data, len)) {
        rc = tri_errf(err, errlen, TRI_EIO, "%s: %s", what, strerror(errno));
        close(fd);
        goto done;
    }
    rc = publish_temp(fd, tmp, dst, err, errlen);
done:
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

static int file_put(store_t *s, const char *key, int src_fd, const void *data, size_t len, char *err, size_t errlen)
{
    char what[MAX_KEY + 8];
    snprintf(what, sizeof what, "PUT %s", key);
    int rc = file_mkdirs(s, key, err, errlen);
    if (rc)
        return rc;
    char *dst = file_path(s, key);
    if (!dst)
        return tri_errf(err, errlen, TRI_ENOMEM, "PUT %s: out of memory", key);
    rc = copy_publish(src_fd, data, len, dst, TEMP_SUFFIX, what, err, errlen);
    free(dst);
    return rc;
}

/* ---- the API ---- */

static int open_s3(store_t *s, const char *rest, const store_opts_t *o, char *err, size_t errlen)
{
    const char *slash = strchr(rest, '/');
    size_t blen = slash ? (size_t)(slash - rest) : strlen(rest);
    if (!blen)
        return tri_errf(err, errlen, TRI_EINVAL, "s3:// URL without a bucket");
    for (size_t i = 0; i < blen; i++)
        if (!isalnum((unsigned char)rest[i]) && rest[i] != '-' && rest[i] != '.' && rest[i] != '_')
            return tri_errf(err, errlen, TRI_EINVAL, "s3:// URL: bad bucket name \"%.*s\"", (int)blen, rest);
    const char *pre = slash ? slash + 1 : "";
    int plen = (int)strlen(pre);
    while (plen && pre[plen - 1] == '/')
        plen--;
    if (!(s->bucket = strndup(rest, blen)) || !(s->prefix = fmt("%.*s%s", plen, pre, plen ? "/" : "")) ||
        !(s->url = fmt("s3://%s%s%.*s", s->bucket, plen ? "/" : "", plen, pre)))
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    /* The prefix obeys the key rules (a trailing '/' added above is fine for a prefix). */
    int rc = store_check_key(s->prefix, 1, err, errlen);
    if (rc)
        return rc;

    const char *region = first(o->region, first(env_nonempty("AWS_REGION"), env_nonempty("AWS_DEFAULT_REGION")));
    if (!region)
        region = "us-east-1";
    if (has_ctl(region) || strchr(region, ':') || strlen(region) > 64)
        return tri_errf(err, errlen, TRI_EINVAL, "bad region \"%s\"", region);
    const char *ep = first(o->endpoint, first(env_nonempty("AWS_ENDPOINT_URL_S3"), env_nonempty("AWS_ENDPOINT_URL")));
    if (ep) {
        int elen = (int)strlen(ep);
        while (elen && ep[elen - 1] == '/')
            elen--;
        if ((strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)) || has_ctl(ep) || strchr(ep, '?'))
            return tri_errf(err, errlen, TRI_EINVAL, "endpoint \"%s\" is not an http:// or https:// URL", ep);
        s->endpoint = fmt("%.*s", elen, ep);
    } else {
        s->endpoint = fmt("https://s3.%s.amazonaws.com", region);
    }
    if (!s->endpoint || !(s->sigv4 = fmt("aws:amz:%s:s3", region)))
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");

    /* The set comes from one place: the options if they name a key, else the
     * environment; mixing a key from one with a secret from the other only
     * produces confusing signature errors. */
    const char *ak, *sk, *tok;
    if (o->access_key || o->secret_key) {
        ak = o->access_key, sk = o->secret_key, tok = o->session_token;
    } else {
        ak = env_nonempty("AWS_ACCESS_KEY_ID"), sk = env_nonempty("AWS_SECRET_ACCESS_KEY");
        tok = first(o->session_token, env_nonempty("AWS_SESSION_TOKEN"));
    }
    if (!ak || !*ak || !sk || !*sk)
        return tri_errf(err, errlen, TRI_EINVAL,
                        "%s: no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", s->url);
    if (has_ctl(ak) || has_ctl(sk) || (tok && has_ctl(tok)))
        return tri_errf(err, errlen, TRI_EINVAL, "%s: credentials contain control characters", s->url);
    if (!(s->access = strdup(ak)) || !(s->secret = strdup(sk)) || (tok && *tok && !(s->token = strdup(tok))))
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");

    s->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    s->retries = o->retries >= 0 ? o->retries : DEFAULT_RETRIES;
    s->insecure = o->insecure;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return tri_errf(err, errlen, TRI_EIO, "libcurl initialisation failed: %s", curl_easy_strerror(curl_init_rc));
    if (!(s->curl = curl_easy_init()))
        return tri_errf(err, errlen, TRI_ENOMEM, "cannot create a libcurl handle");
    return 0;
}

static int open_file(store_t *s, const char *path, char *err, size_t errlen)
{
    if (path[0] != '/')
        return tri_errf(err, errlen, TRI_EINVAL, "file:// URL needs an absolute path (file:///dir)");
    int n = (int)strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    if (!(s->dir = fmt("%.*s", n, path)) || !(s->url = fmt("file://%s", s->dir)))
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    struct stat st;
    if (stat(s->dir, &st))
        return tri_errf(err, errlen, errno == ENOENT ? TRI_ENOENT : TRI_EIO, "%s: %s", s->url, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return tri_errf(err, errlen, TRI_EINVAL, "%s: not a directory", s->url);
    return 0;
}

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
        rc = open_s3(s, url + 5, o, err, errlen);
    } else if (!strncmp(url, "file://", 7)) {
        s->kind = KIND_FILE;
        rc = open_file(s, url + 7, err, errlen);
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
        rc = s->kind == KIND_S3 ? s3_list(s, prefix, &l, err, errlen) : file_list(s, prefix, &l, err, errlen);
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
        if ((rc = file_open_obj(s, key, &src, &st, err, errlen)))
            return rc;
        if ((size && (uint64_t)st.st_size != size) || (uint64_t)st.st_size > s->max_object) {
            rc = size ? tri_errf(err, errlen, TRI_EAGAIN, "GET %s: %lld bytes, listed at %llu (changed since?)", key,
                                 (long long)st.st_size, (unsigned long long)size)
                      : tri_errf(err, errlen, TRI_ERANGE, "GET %s: object larger than %llu bytes", key,
                                 (unsigned long long)s->max_object);
            close(src);
            return rc;
        }
        file_etag(&st, etag);
        if (etag_out)
            snprintf(etag_out, 80, "%s", etag);
        if (if_none_match && !strcmp(if_none_match, etag))
            rc = STORE_NOT_MODIFIED;
        else
            rc = copy_publish(src, NULL, 0, path, ".tmp.", path, err, errlen);
        close(src);
        return rc;
    }
    if ((rc = open_temp(path, ".tmp.", &tmp, &fd, err, errlen)))
        return rc;
    if (!(f = fdopen(fd, "w"))) {
        rc = tri_errf(err, errlen, TRI_EIO, "%s: %s", path, strerror(errno));
        close(fd);
        goto done;
    }
    rc = s3_get(s, key, f, NULL, size ? size : s->max_object, if_none_match, etag_out, &got, err, errlen);
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
    rc = bad ? tri_errf(err, errlen, TRI_EIO, "%s: %s", path, strerror(e)) : rename_durably(tmp, path, err, errlen);
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
        rc = s3_get(s, key, NULL, &b, max, NULL, NULL, NULL, err, errlen);
    } else {
        int fd;
        struct stat st;
        if ((rc = file_open_obj(s, key, &fd, &st, err, errlen)))
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
        rc = file_put(s, key, fd, NULL, 0, err, errlen);
        close(fd);
        return rc;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return tri_errf(err, errlen, TRI_ENOMEM, "PUT %s: out of memory", key);
    }
    rc = s3_put(s, key, f, (uint64_t)st.st_size, NULL, 0, err, errlen);
    fclose(f);
    return rc;
}

int store_put_data(store_t *s, const char *key, const void *data, size_t len, char *err, size_t errlen)
{
    int rc = store_check_key(key, 0, err, errlen);
    if (rc)
        return rc;
    if (s->kind == KIND_FILE)
        return file_put(s, key, -1, data, len, err, errlen);
    return s3_put(s, key, NULL, 0, data, len, err, errlen);
}

int store_delete(store_t *s, const char *key, char *err, size_t errlen)
{
    int rc = store_check_key(key, 0, err, errlen);
    if (rc)
        return rc;
    if (s->kind == KIND_S3)
        return s3_delete(s, key, key, err, errlen);
    char *p = file_path(s, key);
    if (!p)
        return tri_errf(err, errlen, TRI_ENOMEM, "DELETE %s: out of memory", key);
    if (unlink(p)) {
        int e = errno;
        rc = e == ENOENT || e == ENOTDIR ? tri_errf(err, errlen, TRI_ENOENT, "DELETE %s: no such object", key)
                                         : tri_errf(err, errlen, TRI_EIO, "DELETE %s: %s", key, strerror(e));
    } else if (fsync_parent(p)) {
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
