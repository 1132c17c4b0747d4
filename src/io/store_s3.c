/* store_s3 — the S3 backend of the store: signed requests with libcurl,
 * retries with backoff, uploads through a temporary key.
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
 *    If-None-Match), which S3 accepts. */
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
            store_sleep_cancellable(s, store_backoff_ms(a - 1, store_rand64()));
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
int store_s3_get(store_t *s, const char *key, FILE *out_file, buf_t *out_mem, uint64_t max, const char *inm,
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

int store_s3_delete(store_t *s, const char *key, const char *what, char *err, size_t errlen)
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
int store_s3_put(store_t *s, const char *key, FILE *f, uint64_t fsize, const void *data, size_t len, char *err,
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
    snprintf(tmpkey, sizeof tmpkey, "%s%s%016" PRIx64, key, TEMP_SUFFIX, store_rand64());
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
        (void)store_s3_delete(s, tmpkey, key, derr, sizeof derr);
    }
    req_free(&put);
    req_free(&copy);
    buf_free(&url);
    buf_free(&src);
    return rc;
}

int store_s3_list(store_t *s, const char *prefix, store_list_t *out, char *err, size_t errlen)
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

int store_open_s3(store_t *s, const char *rest, const store_opts_t *o, char *err, size_t errlen)
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
    if (!(s->bucket = strndup(rest, blen)) || !(s->prefix = store_fmt("%.*s%s", plen, pre, plen ? "/" : "")) ||
        !(s->url = store_fmt("s3://%s%s%.*s", s->bucket, plen ? "/" : "", plen, pre)))
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    /* The prefix obeys the key rules (a trailing '/' added above is fine for a prefix). */
    int rc = store_check_key(s->prefix, 1, err, errlen);
    if (rc)
        return rc;

    const char *region = store_first(o->region, store_first(store_env("AWS_REGION"), store_env("AWS_DEFAULT_REGION")));
    if (!region)
        region = "us-east-1";
    if (store_has_ctl(region) || strchr(region, ':') || strlen(region) > 64)
        return tri_errf(err, errlen, TRI_EINVAL, "bad region \"%s\"", region);
    const char *ep = store_first(o->endpoint, store_first(store_env("AWS_ENDPOINT_URL_S3"), store_env("AWS_ENDPOINT_URL")));
    if (ep) {
        int elen = (int)strlen(ep);
        while (elen && ep[elen - 1] == '/')
            elen--;
        if ((strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)) || store_has_ctl(ep) || strchr(ep, '?'))
            return tri_errf(err, errlen, TRI_EINVAL, "endpoint \"%s\" is not an http:// or https:// URL", ep);
        s->endpoint = store_fmt("%.*s", elen, ep);
    } else {
        s->endpoint = store_fmt("https://s3.%s.amazonaws.com", region);
    }
    if (!s->endpoint || !(s->sigv4 = store_fmt("aws:amz:%s:s3", region)))
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");

    /* The set comes from one place: the options if they name a key, else the
     * environment; mixing a key from one with a secret from the other only
     * produces confusing signature errors. */
    const char *ak, *sk, *tok;
    if (o->access_key || o->secret_key) {
        ak = o->access_key, sk = o->secret_key, tok = o->session_token;
    } else {
        ak = store_env("AWS_ACCESS_KEY_ID"), sk = store_env("AWS_SECRET_ACCESS_KEY");
        tok = store_first(o->session_token, store_env("AWS_SESSION_TOKEN"));
    }
    if (!ak || !*ak || !sk || !*sk)
        return tri_errf(err, errlen, TRI_EINVAL,
                        "%s: no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", s->url);
    if (store_has_ctl(ak) || store_has_ctl(sk) || (tok && store_has_ctl(tok)))
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
