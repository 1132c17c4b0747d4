/* store_xml — the S3 XML documents the store reads: ListObjectsV2 pages
 * and <Error> bodies, with a small scanner (no XML library: the documents
 * are flat and every byte of them is checked). */
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
int store_list_add(store_list_t *l, store_obj_t *o, const char *key)
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
        store_obj_t *v = buf_grow(l->v, &l->cap, sizeof *v, 64);
        if (!v) {
            free(o->key);
            return TRI_ENOMEM;
        }
        l->v = v;
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
        if (!store_is_temp_key(key) && store_list_add(out, &o, key + striplen)) {
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
