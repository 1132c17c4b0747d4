/* store — object storage for models: S3-compatible services through libcurl
 * (requests signed with AWS SigV4 by libcurl itself), or a local directory.
 *
 * URLs:
 *   s3://BUCKET/PREFIX     path-style requests to `endpoint` (default
 *                          https://s3.REGION.amazonaws.com); credentials from
 *                          the options or AWS_ACCESS_KEY_ID /
 *                          AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN; missing
 *                          credentials fail store_open
 *   file:///DIR            a directory, which must exist (keys are paths below
 *                          it; subdirectories are created as needed)
 * Keys passed to the functions below are relative to the URL's prefix
 * ("default/20261123T151632.123Z.tmodel"). Keys that could escape or alias
 * (empty, leading '/', "." or ".." or empty segments, control characters,
 * over 1024 bytes) are refused with TRI_EINVAL by every call, for both kinds.
 *
 * Every remote call has a timeout, is retried with exponential backoff and
 * jitter (200 ms * 2^n, at most 5 s, plus up to half again) on connection
 * errors, timeouts, 429 and 5xx, verifies TLS, and on failure fills err with
 * the HTTP status and the S3 error code and message ("GET default/x.tmodel:
 * 403 AccessDenied: Access Denied"). Credentials are never written into
 * messages. Downloads stream to a file.
 *
 * Errors: TRI_ENOENT no such object (S3: 404); TRI_EAGAIN transient failures
 * (connection, timeout, 429, 5xx) outlasted the retries; TRI_EIO any other
 * failure, remote or local; TRI_EINVAL bad URL, key, options or a missing
 * bucket; TRI_EFORMAT an unreadable listing; TRI_ERANGE an object or a
 * listing over its limit (store_opts_t).
 *
 * Uploads in progress live under "KEY.uploading.<16 hex digits>" (a file of
 * that name for file://); store_list never shows such names, so one left by a
 * crash is invisible, and keys of that form are refused.
 *
 * Threads: a store_t may be used from one thread at a time (store_cancel
 * excepted); the daemon uses
 * it only from the thread pool, one job at a time. libcurl runs with
 * CURLOPT_NOSIGNAL, so a program using an s3:// store must ignore SIGPIPE
 * (a TLS peer that hangs up would otherwise kill it).
 *
 * Ownership: store_t is created by store_open and freed by store_close;
 * store_list_t by store_list, freed by store_list_free. */
#ifndef STORE_H
#define STORE_H
#include <stddef.h>
#include <stdint.h>

/* opts may be NULL (all defaults). Note that a zeroed struct means no
 * retries: set retries = -1 for the default. */
typedef struct store_opts {
    const char *endpoint;        /* http(s)://HOST[:PORT][/PATH]; NULL: AWS_ENDPOINT_URL_S3, else
                                  * AWS_ENDPOINT_URL, else AWS's regional endpoint */
    const char *region;          /* NULL: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1 */
    /* The key pair comes as a set: from here when access_key or secret_key
     * is set (then both must be), else from the environment. A session token
     * from the environment is used only with a pair from the environment. */
    const char *access_key;      /* NULL: AWS_ACCESS_KEY_ID */
    const char *secret_key;      /* NULL: AWS_SECRET_ACCESS_KEY */
    const char *session_token;   /* NULL: AWS_SESSION_TOKEN (may be absent) */
    long timeout_ms;             /* per attempt, connecting included; 0: 30000 */
    int retries;                 /* extra attempts; < 0: 3 */
    int insecure;                /* skip TLS verification (tests only; never the default) */
    /* Bounds on what a hostile or broken store can make us hold: 0 takes
     * the default below. */
    uint64_t max_object_bytes;   /* largest object store_get_file fetches */
    size_t max_list_keys;        /* keys in one listing (all pages) */
    unsigned max_list_pages;     /* pages in one S3 listing */
} store_opts_t;

#define STORE_MAX_OBJECT (1ull << 30)
#define STORE_MAX_LIST_KEYS 100000
#define STORE_MAX_LIST_PAGES 1000

typedef struct store store_t;

typedef struct store_obj {
    char *key;                   /* relative to the store prefix */
    uint64_t size;
    char etag[80];               /* as the service reports it, quotes stripped */
    int64_t mtime_ms;
} store_obj_t;

#define STORE_LIST_SKIP_NAMES 4
typedef struct store_list {
    store_obj_t *v;
    size_t n, cap;
    /* Keys the key rules refuse (a control character, "..", an empty
     * segment...) are left out one by one, so one bad name cannot block the
     * rest; they are counted here and the first few named (at most 127
     * bytes each, control characters as '?') for the log. */
    size_t nskipped;
    char skipped[STORE_LIST_SKIP_NAMES][128];
} store_list_t;

/* Error codes beyond tri_err.h's: an object that does not exist is
 * TRI_ENOENT; a conditional GET whose ETag still matches is STORE_NOT_MODIFIED. */
#define STORE_NOT_MODIFIED 1

int store_open(const char *url, const store_opts_t *opts, store_t **out, char *err, size_t errlen);
void store_close(store_t *s);
/* Makes the transfer in progress (and any backoff wait) stop within about a
 * second, and every later call fail with TRI_EAGAIN: for shutdown. The one
 * call that may come from any thread. */
void store_cancel(store_t *s);
/* "s3://bucket/prefix" or "file:///dir", credentials never included. */
const char *store_url(const store_t *s);

/* Lists every object whose key starts with prefix (all pages), sorted by key
 * for file:// (S3 returns them in that order), leaving out (and counting)
 * keys that every other call would refuse. prefix may be "" or a partial
 * name ("default/2026"). *out is set in every case (empty on failure), so
 * store_list_free is always safe. */
int store_list(store_t *s, const char *prefix, store_list_t *out, char *err, size_t errlen);
void store_list_free(store_list_t *l);

/* Downloads key into the file path (created or truncated; written through a
 * temporary name and renamed on success). size is the size the listing
 * gave (0: unknown): a transfer that brings more or fewer bytes is stopped
 * and fails with TRI_EAGAIN (a store or transfer fault, worth a retry); an
 * object over max_object_bytes fails with TRI_ERANGE without being fetched
 * when its size is known, as soon as it passes the limit otherwise. With
 * if_none_match (an ETag), an unchanged object returns STORE_NOT_MODIFIED
 * and leaves path alone. The object's ETag is copied into etag_out (80
 * bytes) when not NULL. */
int store_get_file(store_t *s, const char *key, const char *path, uint64_t size, const char *if_none_match,
                   char *etag_out, char *err, size_t errlen);
/* Small objects (a PIN) into memory: *data (NUL-terminated, caller frees),
 * at most max bytes. */
int store_get_small(store_t *s, const char *key, size_t max, char **data, size_t *len, char *err, size_t errlen);

/* Uploads so that no reader ever sees a partial object: to a temporary key
 * first, then published under key (S3: server-side copy, then delete of the
 * temporary; file: rename). */
int store_put_file(store_t *s, const char *key, const char *path, char *err, size_t errlen);
int store_put_data(store_t *s, const char *key, const void *data, size_t len, char *err, size_t errlen);
/* file:// reports a missing key as TRI_ENOENT; S3 cannot tell and succeeds
 * (deleting nothing), so treat TRI_ENOENT as done. */
int store_delete(store_t *s, const char *key, char *err, size_t errlen);

/* The model layout shared by the daemon and the CLI: DIR/VERSION.tmodel
 * versions and an optional DIR/PIN naming the one to serve.
 * store_read_pin fills pinned (whitespace trimmed) or leaves it "" when
 * there is no PIN; other failures are returned. */
int store_read_pin(store_t *s, const char *dir, char *pinned, size_t n, char *err, size_t errlen);
/* The version to serve: the pinned one if it is among versions, else the
 * greatest. NULL when there are none. */
const char *store_pick_version(char *const *versions, size_t n, const char *pinned);
/* The challenger `next`: the newest version after the one that serves (so
 * only a pinned champion has one), or NULL. */
const char *store_pick_next(char *const *versions, size_t n, const char *pinned);

#endif
