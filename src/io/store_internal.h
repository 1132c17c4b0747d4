/* store_internal — what the store's files share (store.c: the API, key
 * rules and helpers; store_xml.c: S3 listing and error documents;
 * store_s3.c: signed S3 requests; store_file.c: the directory backend and
 * local files), and the pure pieces the unit tests reach without a server
 * (key rules, URI encoding, the XML scanner, backoff). Nothing outside
 * src/io/store*.c and the store's tests includes this. */
#ifndef STORE_INTERNAL_H
#define STORE_INTERNAL_H
#include "core/buf.h"
#include "io/store.h"

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

/* Checks a key (is_prefix 0) or a list prefix (is_prefix 1): not empty (a
 * prefix may be), at most 1024 bytes, no leading '/', no "." or ".." segment,
 * no empty segment ("a//b"; a prefix may end in '/'), no control character,
 * and not a temporary name (store_is_temp_key). 0 or TRI_EINVAL. */
int store_check_key(const char *key, int is_prefix, char *err, size_t errlen);
/* Keys of the form "....uploading.<16 hex digits>" are uploads in progress
 * (or left behind by a crash); store_list hides them. */
int store_is_temp_key(const char *key);

/* Appends s percent-encoded as SigV4 wants it: everything but A-Z a-z 0-9
 * - . _ ~ and the characters in keep ("/" for paths) as %XX, upper-case hex. */
void store_uri_encode(buf_t *b, const char *s, const char *keep);

/* Decodes XML character data ([s, s+n): &amp; &lt; &gt; &quot; &apos; &#N;
 * &#xN;) into a new NUL-terminated string. 0, TRI_EFORMAT or TRI_ENOMEM. */
int store_xml_text(const char *s, size_t n, char **out);

/* Parses one ListObjectsV2 page. Keys must start with strip (the store's
 * prefix), which is removed; temporary keys are skipped. Objects are appended
 * to out; *truncated and *next_token (malloc'd, NULL when absent) tell whether
 * and how to ask for the next page. 0, TRI_EFORMAT or TRI_ENOMEM. */
int store_parse_list(const char *xml, size_t len, const char *strip, store_list_t *out, int *truncated,
                     char **next_token, char *err, size_t errlen);

/* Fills code and msg from an S3 <Error> document (control characters
 * replaced by spaces); returns 0, or -1 when the body is not one. */
int store_parse_error(const char *xml, size_t len, char *code, size_t codelen, char *msg, size_t msglen);

/* "2026-11-23T15:16:32.123Z" to milliseconds since the epoch; 0 or -1. */
int store_parse_time(const char *s, int64_t *ms);

/* The wait before retry number attempt+1 (attempt counts from 0):
 * d = min(200 ms * 2^attempt, 5 s), plus jitter in [0, d/2] taken from rnd. */
long store_backoff_ms(int attempt, uint64_t rnd);

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

static inline int is_cancelled(store_t *s) { return __atomic_load_n(&s->cancelled, __ATOMIC_RELAXED); }

/* small helpers (store.c) */
uint64_t store_rand64(void);
void store_sleep_ms(long ms);
void store_sleep_cancellable(store_t *s, long ms);
__attribute__((format(printf, 1, 2))) char *store_fmt(const char *f, ...);
const char *store_env(const char *name);
const char *store_first(const char *a, const char *b);
int store_has_ctl(const char *s);

/* listing (store_xml.c) */
int store_list_add(store_list_t *l, store_obj_t *o, const char *key);

/* local files, shared by both backends (store_file.c) */
int store_open_temp(const char *path, const char *infix, char **tmp, int *fd, char *err, size_t errlen);
int store_write_all(int fd, const void *p, size_t n);
int store_fsync_parent(const char *path);
int store_rename_durably(const char *tmp, const char *path, char *err, size_t errlen);
int store_publish_temp(int fd, const char *tmp, const char *path, char *err, size_t errlen);
int store_copy_publish(int src_fd, const void *data, size_t len, const char *dst, const char *infix,
                        const char *what, char *err, size_t errlen);

/* the directory backend (store_file.c) */
int store_open_dir(store_t *s, const char *path, char *err, size_t errlen);
char *store_file_path(const store_t *s, const char *key);
void store_file_etag(const struct stat *st, char out[80]);
int store_file_open_obj(const store_t *s, const char *key, int *fd, struct stat *st, char *err, size_t errlen);
int store_file_list(store_t *s, const char *prefix, store_list_t *out, char *err, size_t errlen);
int store_file_put(store_t *s, const char *key, int src_fd, const void *data, size_t len, char *err, size_t errlen);

/* the S3 backend (store_s3.c) */
int store_open_s3(store_t *s, const char *rest, const store_opts_t *o, char *err, size_t errlen);
int store_s3_get(store_t *s, const char *key, FILE *out_file, buf_t *out_mem, uint64_t max, const char *inm,
                  char *etag_out, uint64_t *got, char *err, size_t errlen);
int store_s3_delete(store_t *s, const char *key, const char *what, char *err, size_t errlen);
int store_s3_put(store_t *s, const char *key, FILE *f, uint64_t fsize, const void *data, size_t len, char *err,
                  size_t errlen);
int store_s3_list(store_t *s, const char *prefix, store_list_t *out, char *err, size_t errlen);

#endif
