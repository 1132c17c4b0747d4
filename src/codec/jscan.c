#include "codec/jscan.h"
#include "core/tri_err.h"

#include <string.h>

typedef struct scan {
    const unsigned char *s;
    size_t i, len;
    int depth;
} scan_t;

static inline void skip_ws(scan_t *sc)
{
    while (sc->i < sc->len) {
        unsigned char c = sc->s[sc->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        sc->i++;
    }
}

/* Length of a valid UTF-8 sequence at s[i] (lead byte >= 0x80), or 0. Rejects
 * overlong forms, surrogates and code points above U+10FFFF. */
static inline size_t utf8_seq(const unsigned char *s, size_t i, size_t len)
{
    unsigned char c = s[i];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (i + n > len)
        return 0;
    if (s[i + 1] < lo || s[i + 1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if ((s[i + k] & 0xC0) != 0x80)
            return 0;
    return n;
}

static inline int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Scans a string starting at the opening quote. */
static int scan_string(scan_t *sc, int *escaped)
{
    const unsigned char *s = sc->s;
    size_t i = sc->i + 1, len = sc->len;
    *escaped = 0;
    for (;;) {
        /* Fast path over plain ASCII. */
        while (i < len && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\')
            i++;
        if (i >= len) {
            sc->i = i;
            return JSCAN_ESYNTAX;
        }
        unsigned char c = s[i];
        if (c == '"') {
            sc->i = i + 1;
            return JSCAN_OK;
        }
        if (c == '\\') {
            *escaped = 1;
            if (i + 1 >= len) {
                sc->i = i;
                return JSCAN_ESYNTAX;
            }
            unsigned char e = s[i + 1];
            if (e == 'u') {
                if (i + 6 > len) {
                    sc->i = i;
                    return JSCAN_ESYNTAX;
                }
                for (int k = 2; k < 6; k++)
                    if (hexval(s[i + k]) < 0) {
                        sc->i = i;
                        return JSCAN_ESYNTAX;
                    }
                i += 6;
            } else if (strchr("\"\\/bfnrt", e) && e) {
                i += 2;
            } else {
                sc->i = i;
                return JSCAN_ESYNTAX;
            }
            continue;
        }
        if (c < 0x20) {
            sc->i = i;
            return JSCAN_EUTF8;
        }
        size_t n = utf8_seq(s, i, len);
        if (!n) {
            sc->i = i;
            return JSCAN_EUTF8;
        }
        i += n;
    }
}

static int scan_number(scan_t *sc)
{
    const unsigned char *s = sc->s;
    size_t i = sc->i, len = sc->len;
    if (i < len && s[i] == '-')
        i++;
    if (i >= len)
        goto bad;
    if (s[i] == '0')
        i++;
    else if (s[i] >= '1' && s[i] <= '9')
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
    else
        goto bad;
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || s[i] < '0' || s[i] > '9')
            goto bad;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= len || s[i] < '0' || s[i] > '9')
            goto bad;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    sc->i = i;
    return JSCAN_OK;
bad:
    sc->i = i;
    return JSCAN_ESYNTAX;
}

static int scan_value(scan_t *sc, jscan_val_t *out);

static int scan_container(scan_t *sc, int is_obj, const char *const *keys, size_t nkeys, jscan_val_t *vals)
{
    if (++sc->depth > JSCAN_MAX_DEPTH)
        return JSCAN_EDEPTH;
    char close = is_obj ? '}' : ']';
    sc->i++; /* opening bracket */
    skip_ws(sc);
    if (sc->i < sc->len && sc->s[sc->i] == (unsigned char)close) {
        sc->i++;
        sc->depth--;
        return JSCAN_OK;
    }
    for (;;) {
        const unsigned char *key = NULL;
        size_t key_len = 0;
        int key_esc = 0;
        if (is_obj) {
            if (sc->i >= sc->len || sc->s[sc->i] != '"')
                return JSCAN_ESYNTAX;
            size_t k0 = sc->i;
            int rc = scan_string(sc, &key_esc);
            if (rc)
                return rc;
            key = sc->s + k0 + 1;
            key_len = sc->i - k0 - 2;
            skip_ws(sc);
            if (sc->i >= sc->len || sc->s[sc->i] != ':')
                return JSCAN_ESYNTAX;
            sc->i++;
            skip_ws(sc);
        }
        jscan_val_t v;
        int rc = scan_value(sc, &v);
        if (rc)
            return rc;
        if (key && nkeys) {
            if (!key_esc) {
                for (size_t k = 0; k < nkeys; k++)
                    if (strlen(keys[k]) == key_len && !memcmp(keys[k], key, key_len))
                        vals[k] = v;
            } else {
                /* Rare: an escaped key ("t\u0065xt"); decode and compare. */
                jscan_val_t kv = {JSCAN_STR, 1, (const char *)key - 1, key_len + 2};
                buf_t kb = BUF_INIT;
                if (jscan_str_decode(&kv, &kb) == 0)
                    for (size_t k = 0; k < nkeys; k++)
                        if (strlen(keys[k]) == kb.len && !memcmp(keys[k], kb.p, kb.len))
                            vals[k] = v;
                buf_free(&kb);
            }
        }
        skip_ws(sc);
        if (sc->i >= sc->len)
            return JSCAN_ESYNTAX;
        unsigned char c = sc->s[sc->i];
        if (c == ',') {
            sc->i++;
            skip_ws(sc);
            continue;
        }
        if (c == (unsigned char)close) {
            sc->i++;
            sc->depth--;
            return JSCAN_OK;
        }
        return JSCAN_ESYNTAX;
    }
}

static int scan_lit(scan_t *sc, const char *lit)
{
    size_t n = strlen(lit);
    if (sc->i + n > sc->len || memcmp(sc->s + sc->i, lit, n))
        return JSCAN_ESYNTAX;
    sc->i += n;
    return JSCAN_OK;
}

static int scan_value(scan_t *sc, jscan_val_t *out)
{
    if (sc->i >= sc->len)
        return JSCAN_ESYNTAX;
    size_t start = sc->i;
    int rc, esc = 0;
    unsigned char c = sc->s[sc->i];
    switch (c) {
    case '"': out->type = JSCAN_STR; rc = scan_string(sc, &esc); break;
    case '{': out->type = JSCAN_OBJ; rc = scan_container(sc, 1, NULL, 0, NULL); break;
    case '[': out->type = JSCAN_ARR; rc = scan_container(sc, 0, NULL, 0, NULL); break;
    case 't': out->type = JSCAN_TRUE; rc = scan_lit(sc, "true"); break;
    case 'f': out->type = JSCAN_FALSE; rc = scan_lit(sc, "false"); break;
    case 'n': out->type = JSCAN_NULL; rc = scan_lit(sc, "null"); break;
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            out->type = JSCAN_NUM;
            rc = scan_number(sc);
        } else {
            rc = JSCAN_ESYNTAX;
        }
    }
    out->escaped = (uint8_t)esc;
    out->raw = (const char *)sc->s + start;
    out->raw_len = sc->i - start;
    return rc;
}

int jscan_scan_object(const char *s, size_t len, const char *const *keys, size_t nkeys,
                   jscan_val_t *vals, size_t *errpos)
{
    scan_t sc = {(const unsigned char *)s, 0, len, 0};
    for (size_t k = 0; k < nkeys; k++)
        vals[k] = (jscan_val_t){JSCAN_MISSING, 0, NULL, 0};
    skip_ws(&sc);
    int rc;
    if (sc.i < len && sc.s[sc.i] == '{') {
        rc = scan_container(&sc, 1, keys, nkeys, vals);
    } else {
        jscan_val_t v;
        rc = scan_value(&sc, &v);
        if (!rc) {
            skip_ws(&sc);
            rc = sc.i == len ? JSCAN_ENOTOBJ : JSCAN_ESYNTAX;
        }
    }
    if (!rc) {
        skip_ws(&sc);
        if (sc.i != len)
            rc = JSCAN_ESYNTAX;
    }
    if (errpos)
        *errpos = sc.i;
    return rc;
}

static void put_utf8(buf_t *b, uint32_t cp)
{
    char t[4];
    size_t n;
    if (cp < 0x80) {
        t[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        t[0] = (char)(0xC0 | (cp >> 6));
        t[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | (cp >> 12));
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        t[0] = (char)(0xF0 | (cp >> 18));
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_append(b, t, n);
}

static uint32_t hex4(const char *p)
{
    return (uint32_t)(hexval((unsigned char)p[0]) << 12 | hexval((unsigned char)p[1]) << 8 |
                      hexval((unsigned char)p[2]) << 4 | hexval((unsigned char)p[3]));
}

int jscan_str_decode(const jscan_val_t *v, buf_t *out)
{
    const char *p = v->raw + 1, *end = v->raw + v->raw_len - 1;
    if (!v->escaped) {
        buf_append(out, p, (size_t)(end - p));
        return out->oom ? TRI_ENOMEM : 0;
    }
    /* The scanner validated the escapes, so each is complete here. */
    while (p < end) {
        const char *q = p;
        while (q < end && *q != '\\')
            q++;
        buf_append(out, p, (size_t)(q - p));
        if (q >= end)
            break;
        char e = q[1];
        p = q + 2;
        switch (e) {
        case 'b': buf_putc(out, '\b'); break;
        case 'f': buf_putc(out, '\f'); break;
        case 'n': buf_putc(out, '\n'); break;
        case 'r': buf_putc(out, '\r'); break;
        case 't': buf_putc(out, '\t'); break;
        case 'u': {
            uint32_t cp = hex4(p);
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                uint32_t lo = hex4(p + 2);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xFFFD;
            put_utf8(out, cp);
            break;
        }
        default: buf_putc(out, e); break; /* " \ / */
        }
    }
    return out->oom ? TRI_ENOMEM : 0;
}

int jscan_num_is_int(const jscan_val_t *v)
{
    if (v->type != JSCAN_NUM)
        return 0;
    for (size_t i = 0; i < v->raw_len; i++)
        if (v->raw[i] == '.' || v->raw[i] == 'e' || v->raw[i] == 'E')
            return 0;
    return 1;
}

void jscan_put_str(buf_t *b, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    if (buf_reserve(b, len + 2))
        return;
    b->p[b->len++] = '"';
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && s[j] >= 0x20 && s[j] < 0x80 && s[j] != '"' && s[j] != '\\')
            j++;
        buf_append(b, s + i, j - i);
        if (j >= len)
            break;
        unsigned char c = s[j];
        if (c >= 0x80) {
            size_t n = utf8_seq(s, j, len);
            if (n) {
                buf_append(b, s + j, n);
                i = j + n;
            } else {
                buf_append(b, "\xEF\xBF\xBD", 3);
                i = j + 1;
            }
            continue;
        }
        char esc[6] = {'\\', 0};
        size_t n = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        buf_append(b, esc, n);
        i = j + 1;
    }
    buf_putc(b, '"');
}

size_t jscan_str_fit(const char *str, size_t len, size_t max)
{
    /* The same classes as jscan_put_str: plain ASCII 1 byte, the short
     * escapes 2, other controls 6 (\u00XX), a valid sequence its length, an
     * invalid byte 3 (U+FFFD). */
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, used = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t in = 1, out;
        if (c >= 0x80) {
            size_t n = utf8_seq(s, i, len);
            in = n ? n : 1;
            out = n ? n : 3;
        } else if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t') {
            out = 2;
        } else if (c < 0x20) {
            out = 6;
        } else {
            out = 1;
        }
        if (used + out > max)
            break;
        used += out;
        i += in;
    }
    return i;
}

void jscan_put_unit(buf_t *b, double x)
{
    if (!(x > 0)) /* also NaN */
        x = 0;
    if (x > 1)
        x = 1;
    unsigned v = (unsigned)(x * 10000.0 + 0.5);
    char t[6];
    if (v >= 10000) {
        buf_append(b, "1.0000", 6);
        return;
    }
    t[0] = '0';
    t[1] = '.';
    t[2] = (char)('0' + v / 1000);
    t[3] = (char)('0' + v / 100 % 10);
    t[4] = (char)('0' + v / 10 % 10);
    t[5] = (char)('0' + v % 10);
    buf_append(b, t, 6);
}

int jscan_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < len;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_seq(s, i, len);
        if (!n)
            return 0;
        i += n;
    }
    return 1;
}

void jscan_put_base64(buf_t *b, const void *data, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = data;
    if (buf_reserve(b, (len + 2) / 3 * 4 + 2))
        return;
    char *o = b->p + b->len;
    *o++ = '"';
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}

const char *jscan_strerror(int st)
{
    switch (st) {
    case JSCAN_OK: return "ok";
    case JSCAN_ESYNTAX: return "not valid JSON";
    case JSCAN_EUTF8: return "invalid UTF-8 or control character in a string";
    case JSCAN_ENOTOBJ: return "not a JSON object";
    case JSCAN_EDEPTH: return "nested too deeply";
    default: return "unknown";
    }
}
