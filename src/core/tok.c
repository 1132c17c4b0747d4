#include "core/tok.h"
#include "core/tri_err.h"

#include <libstemmer.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

/* Stop-word set: open addressing over the words' own hashes. Built once per
 * tokenizer; a few hundred entries. */
typedef struct sw_entry {
    uint64_t h;
    uint32_t off, len;   /* into tok.sw_text */
} sw_entry_t;

/* Stemming costs ~150 ns a word and word frequencies are Zipfian, so stems
 * are memoized: a bounded open-addressing cache, emptied when half full. */
#define STEM_SLOTS 16384
typedef struct stem_slot {
    uint64_t h;
    uint32_t off;            /* into stem_arena: word bytes, then stem bytes */
    uint16_t wlen, slen;     /* wlen 0: empty */
} stem_slot_t;

struct tok {
    struct sb_stemmer *stemmer;
    stem_slot_t *stem_cache;
    size_t stem_n;
    buf_t stem_arena;
    char *sw_text;
    sw_entry_t *sw;
    size_t sw_cap, sw_n;
};

/* ASCII byte classes for the fast path. */
enum { C_SP = 1, C_AL = 2, C_DG = 4 };
static unsigned char ascii_cls[128];
static unsigned char ascii_lower[128];
static int ascii_ready;

static void ascii_init(void)
{
    if (__atomic_load_n(&ascii_ready, __ATOMIC_ACQUIRE))
        return;
    for (int c = 0; c < 128; c++) {
        unsigned char k = 0;
        if (c == ' ' || (c >= 9 && c <= 13))
            k = C_SP;
        else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
            k = C_AL;
        else if (c >= '0' && c <= '9')
            k = C_DG;
        ascii_cls[c] = k;
        ascii_lower[c] = (unsigned char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    __atomic_store_n(&ascii_ready, 1, __ATOMIC_RELEASE);
}

/* ---- stop words ---- */

static int sw_find(const tok_t *t, const char *w, size_t len)
{
    if (!t->sw_n)
        return 0;
    uint64_t h = XXH3_64bits(w, len);
    size_t mask = t->sw_cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const sw_entry_t *e = &t->sw[i];
        if (!e->len)
            return 0;
        if (e->h == h && e->len == len && !memcmp(t->sw_text + e->off, w, len))
            return 1;
    }
}

/* Folds one stop word the way the tokenizer folds words (case fold, ’ -> '). */
static char *fold_word(const char *w, size_t len)
{
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)w, (utf8proc_ssize_t)len, &out,
                                      UTF8PROC_CASEFOLD | UTF8PROC_STABLE);
    if (n < 0)
        return NULL;
    /* Normalize typographic apostrophes to ASCII in place (3 bytes -> 1). */
    char *s = (char *)out, *d = s;
    for (char *p = s; *p;) {
        if ((unsigned char)p[0] == 0xE2 && (unsigned char)p[1] == 0x80 &&
            ((unsigned char)p[2] == 0x99 || (unsigned char)p[2] == 0x98)) {
            *d++ = '\'';
            p += 3;
        } else {
            *d++ = *p++;
        }
    }
    *d = '\0';
    return s;
}

static int sw_build(tok_t *t, const char *text, size_t len, char *err, size_t errlen)
{
    buf_t words = BUF_INIT;
    size_t count = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        size_t a = i, b = j;
        while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r'))
            a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r'))
            b--;
        if (b > a && text[a] != '#') {
            char *f = fold_word(text + a, b - a);
            if (!f) {
                buf_free(&words);
                return tri_errf(err, errlen, TRI_EINVAL, "stop word list: invalid UTF-8 near byte %zu", a);
            }
            buf_puts(&words, f);
            buf_putc(&words, '\n');
            free(f);
            count++;
        }
        i = j + 1;
    }
    if (words.oom) {
        buf_free(&words);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    if (!count) {
        buf_free(&words);
        return 0;
    }
    size_t cap = 16;
    while (cap < count * 2)
        cap *= 2;
    t->sw = calloc(cap, sizeof *t->sw);
    if (!t->sw) {
        buf_free(&words);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    t->sw_cap = cap;
    t->sw_text = words.p; /* ownership moves to t */
    for (size_t i = 0; i < words.len;) {
        size_t j = i;
        while (words.p[j] != '\n')
            j++;
        size_t wl = j - i;
        if (wl && !sw_find(t, words.p + i, wl)) {
            uint64_t h = XXH3_64bits(words.p + i, wl);
            size_t k = (size_t)h & (cap - 1);
            while (t->sw[k].len)
                k = (k + 1) & (cap - 1);
            t->sw[k] = (sw_entry_t){h, (uint32_t)i, (uint32_t)wl};
            t->sw_n++;
        }
        i = j + 1;
    }
    return 0;
}

size_t tok_stopword_count(const tok_t *t) { return t->sw_n; }

int tok_new(const tok_config_t *cfg, tok_t **out, char *err, size_t errlen)
{
    ascii_init();
    tok_t *t = calloc(1, sizeof *t);
    if (!t)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    int rc = 0;
    if (cfg->stem[0]) {
        t->stemmer = sb_stemmer_new(cfg->stem, "UTF_8");
        if (!t->stemmer) {
            rc = tri_errf(err, errlen, TRI_EINVAL, "unknown stemmer '%s' (see --stem list)", cfg->stem);
            goto fail;
        }
        t->stem_cache = calloc(STEM_SLOTS, sizeof *t->stem_cache);
        if (!t->stem_cache) {
            rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
            goto fail;
        }
    }
    if (cfg->stopwords && cfg->stopwords_len) {
        rc = sw_build(t, cfg->stopwords, cfg->stopwords_len, err, errlen);
        if (rc)
            goto fail;
    }
    *out = t;
    return 0;
fail:
    tok_free(t);
    return rc;
}

void tok_free(tok_t *t)
{
    if (!t)
        return;
    if (t->stemmer)
        sb_stemmer_delete(t->stemmer);
    free(t->stem_cache);
    buf_free(&t->stem_arena);
    free(t->sw_text);
    free(t->sw);
    free(t);
}

void tok_list_free(tok_list_t *l)
{
    buf_free(&l->text);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ---- scanning helpers ---- */

/* Decodes one code point at s[i..len); invalid input yields U+FFFD and a length
 * of 1, so the scan always advances and never reads past len. */
static inline size_t decode(const unsigned char *s, size_t i, size_t len, int32_t *cp)
{
    utf8proc_ssize_t n = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), cp);
    if (n <= 0) {
        *cp = 0xFFFD;
        return 1;
    }
    return (size_t)n;
}

static inline int is_vs_or_joiner(int32_t cp)
{
    return (cp >= 0xFE00 && cp <= 0xFE0F) || cp == 0x200D || cp == 0x20E3 ||
           (cp >= 0x1F3FB && cp <= 0x1F3FF) || (cp >= 0xE0020 && cp <= 0xE007F);
}

static inline int is_cjk(int32_t cp)
{
    return (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0x20000 && cp <= 0x2FFFF);
}

static inline int is_apostrophe(int32_t cp) { return cp == '\'' || cp == 0x2019 || cp == 0x2018 || cp == 0x02BC; }

/* Letters, marks and digits make words; ideographs are split out separately. */
static inline int is_word_cp(int32_t cp)
{
    if (cp < 128)
        return cp >= 0 && (ascii_cls[cp] & (C_AL | C_DG));
    if (is_vs_or_joiner(cp) || is_cjk(cp))
        return 0;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

static inline int is_emoji(int32_t cp)
{
    if (cp < 0x2000)
        return cp == 0xA9 || cp == 0xAE;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_SO || (cp >= 0x1F000 && cp <= 0x1FAFF && c != UTF8PROC_CATEGORY_CN);
}

static inline int is_space_cp(int32_t cp)
{
    if (cp < 128)
        return ascii_cls[cp] & C_SP;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

/* Appends the case folding of cp; returns bytes written (0 on oom). */
static inline size_t put_folded(buf_t *b, int32_t cp)
{
    if (buf_reserve(b, 4 * 4))
        return 0;
    if (cp < 128) {
        b->p[b->len++] = (char)ascii_lower[cp];
        return 1;
    }
    utf8proc_int32_t f[4];
    int last = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char(cp, f, 4, UTF8PROC_CASEFOLD, &last);
    if (n <= 0 || n > 4) {
        f[0] = cp;
        n = 1;
    }
    size_t w = 0;
    for (utf8proc_ssize_t i = 0; i < n; i++) {
        utf8proc_ssize_t k = utf8proc_encode_char(f[i], (utf8proc_uint8_t *)b->p + b->len);
        b->len += (size_t)k;
        w += (size_t)k;
    }
    return w;
}

static int push_span(tok_list_t *out, size_t off, size_t len, int kind)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 64;
        tok_span_t *v = realloc(out->v, cap * sizeof *v);
        if (!v)
            return TRI_ENOMEM;
        out->v = v;
        out->cap = cap;
    }
    out->v[out->n++] = (tok_span_t){(uint32_t)off, (uint32_t)len, (uint8_t)kind};
    return 0;
}

static int emit_lit(tok_list_t *out, const char *s, size_t n, int kind)
{
    size_t off = out->text.len;
    buf_append(&out->text, s, n);
    if (out->text.oom)
        return TRI_ENOMEM;
    return push_span(out, off, n, kind);
}

/* Emoticons, matched longest first at a token boundary; stored already folded. */
#define EMO(s) {s, sizeof s - 1}
static const struct { const char *s; size_t n; } emoticons[] = {
    EMO(":-)"), EMO(":-("), EMO(":-d"), EMO(":-p"), EMO(":-/"), EMO(":-|"), EMO(":-o"), EMO(";-)"),
    EMO(":'("), EMO(":')"), EMO("^_^"), EMO("-_-"), EMO("^^"),  EMO(":)"),  EMO(":("),  EMO(":d"),
    EMO(":p"),  EMO(":/"),  EMO(":|"),  EMO(":o"),  EMO(";)"),  EMO("<3"),  EMO("=)"),  EMO("=("),
    EMO("xd"),  EMO("d:"),  EMO(":*"),  EMO(":3"),
};
#undef EMO

/* First bytes that can start an emoticon, to skip the table quickly. */
static inline int emoticon_start(unsigned char c)
{
    return c == ':' || c == ';' || c == '^' || c == '-' || c == '<' || c == '=' || c == 'x' || c == 'X' ||
           c == 'd' || c == 'D';
}

static size_t match_emoticon(const unsigned char *s, size_t i, size_t len, const char **which)
{
    if (!emoticon_start(s[i]))
        return 0;
    for (size_t k = 0; k < sizeof emoticons / sizeof *emoticons; k++) {
        const char *e = emoticons[k].s;
        size_t n = emoticons[k].n;
        if (i + n > len)
            continue;
        size_t j = 0;
        for (; j < n; j++) {
            unsigned char c = s[i + j];
            if (c >= 128 || ascii_lower[c] != (unsigned char)e[j])
                break;
        }
        if (j < n)
            continue;
        /* The character after must not continue a word ("xdd", ":dear"). */
        if (i + n < len && s[i + n] < 128 && (ascii_cls[s[i + n]] & (C_AL | C_DG)))
            continue;
        *which = e;
        return n;
    }
    return 0;
}

static int ieq_prefix(const unsigned char *s, size_t i, size_t len, const char *p)
{
    size_t n = strlen(p);
    if (i + n > len)
        return 0;
    for (size_t j = 0; j < n; j++)
        if (s[i + j] >= 128 || ascii_lower[s[i + j]] != (unsigned char)p[j])
            return 0;
    return 1;
}

/* A URL runs to the next space, quote or non-ASCII byte; trailing punctuation
 * belongs to the sentence. Returns the end, and the host span through *h0,*h1. */
static size_t scan_url(const unsigned char *s, size_t i, size_t len, size_t *h0, size_t *h1)
{
    size_t j = i;
    while (j < len && s[j] > 0x20 && s[j] < 0x7F && s[j] != '"' && s[j] != '<' && s[j] != '>')
        j++;
    while (j > i && strchr(".,;:!?)]}'", s[j - 1]))
        j--;
    size_t h = i;
    if (ieq_prefix(s, i, j, "http://"))
        h = i + 7;
    else if (ieq_prefix(s, i, j, "https://"))
        h = i + 8;
    size_t e = h;
    while (e < j && s[e] != '/' && s[e] != '?' && s[e] != '#' && s[e] != ':' && s[e] != '@')
        e++;
    if (ieq_prefix(s, h, e, "www."))
        h += 4;
    *h0 = h;
    *h1 = e;
    return j;
}

/* Stems w through the cache. *st stays valid until the next call. */
static int stem(tok_t *t, const char *w, size_t len, const char **st, size_t *sl)
{
    if (len > 0xFFFF)
        len = 0xFFFF;
    uint64_t h = XXH3_64bits(w, len);
    size_t mask = STEM_SLOTS - 1, i = (size_t)h & mask;
    for (;; i = (i + 1) & mask) {
        stem_slot_t *e = &t->stem_cache[i];
        if (!e->wlen)
            break;
        if (e->h == h && e->wlen == len && !memcmp(t->stem_arena.p + e->off, w, len)) {
            *st = t->stem_arena.p + e->off + e->wlen;
            *sl = e->slen;
            return 0;
        }
    }
    const sb_symbol *r = sb_stemmer_stem(t->stemmer, (const sb_symbol *)w, (int)len);
    if (!r)
        return TRI_ENOMEM;
    int n = sb_stemmer_length(t->stemmer);
    if (n < 0 || n > 0xFFFF)
        n = 0;
    if (t->stem_n >= STEM_SLOTS / 2 || t->stem_arena.len > (64u << 20)) {
        memset(t->stem_cache, 0, STEM_SLOTS * sizeof *t->stem_cache);
        buf_reset(&t->stem_arena);
        t->stem_n = 0;
        for (i = (size_t)h & mask; t->stem_cache[i].wlen; i = (i + 1) & mask)
            ;
    }
    /* Copy w first: it may point into a buffer the arena growth cannot move,
     * but the stem result is libstemmer's own buffer. */
    size_t off = t->stem_arena.len;
    buf_append(&t->stem_arena, w, len);
    buf_append(&t->stem_arena, r, (size_t)n);
    if (t->stem_arena.oom)
        return TRI_ENOMEM;
    t->stem_cache[i] = (stem_slot_t){h, (uint32_t)off, (uint16_t)len, (uint16_t)n};
    t->stem_n++;
    *st = t->stem_arena.p + off + len;
    *sl = (size_t)n;
    return 0;
}

/* Emits a finished word token, applying stop words and stemming. */
static int finish_word(tok_t *t, tok_list_t *out, size_t off, int kind)
{
    size_t len = out->text.len - off;
    if (!len)
        return 0;
    if (kind == TOK_WORD) {
        if (t->sw_n && sw_find(t, out->text.p + off, len)) {
            out->text.len = off;
            return 0;
        }
        if (t->stemmer) {
            const char *st;
            size_t sl;
            if (stem(t, out->text.p + off, len, &st, &sl))
                return TRI_ENOMEM;
            if (sl <= len) {
                memmove(out->text.p + off, st, sl);
                out->text.len = off + sl;
            } else {
                out->text.len = off;
                buf_append(&out->text, st, sl);
                if (out->text.oom)
                    return TRI_ENOMEM;
            }
            len = sl;
        }
    }
    return push_span(out, off, len, kind);
}

/* Scans a word starting at s[i]: letters/digits/marks, inner apostrophes before
 * a letter, and inner . , : between digits of a number. Returns the end. */
/* off: where the token started in text (a sigil such as '#' may precede
 * the word: it counts toward TOK_MAX_BYTES through `start`). */
static size_t scan_word(const unsigned char *s, size_t i, size_t len, buf_t *text, size_t off, size_t start,
                        int *kind)
{
    int digits_only = 1;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 128 && (ascii_cls[c] & (C_AL | C_DG))) {
            /* ASCII run: the common case, copied in one go. */
            size_t j = i;
            while (j < len && s[j] < 128 && (ascii_cls[s[j]] & (C_AL | C_DG)))
                j++;
            size_t room = TOK_MAX_BYTES > text->len - start ? TOK_MAX_BYTES - (text->len - start) : 0;
            size_t n = j - i < room ? j - i : room;
            if (n && !buf_reserve(text, n)) {
                char *d = text->p + text->len;
                for (size_t k = 0; k < n; k++)
                    d[k] = (char)ascii_lower[s[i + k]];
                text->len += n;
            }
            if (digits_only)
                for (size_t k = i; k < j; k++)
                    if (!(ascii_cls[s[k]] & C_DG)) {
                        digits_only = 0;
                        break;
                    }
            i = j;
            continue;
        }
        int32_t cp = c;
        size_t n = 1;
        if (c >= 128)
            n = decode(s, i, len, &cp);
        if (c >= 128 && is_word_cp(cp)) {
            if (utf8proc_category(cp) != UTF8PROC_CATEGORY_ND)
                digits_only = 0;
            if (text->len - start + 12 <= TOK_MAX_BYTES)
                put_folded(text, cp);
            i += n;
            continue;
        }
        /* Lookahead for connectors that stay inside a token. */
        if (i + n < len && text->len > off) {
            int32_t nx = s[i + n];
            if (nx >= 128)
                decode(s, i + n, len, &nx);
            if (is_apostrophe(cp) && !digits_only && is_word_cp(nx) && !(nx < 128 && (ascii_cls[nx] & C_DG))) {
                if (text->len - start + 12 <= TOK_MAX_BYTES)
                    buf_putc(text, '\'');
                i += n;
                continue;
            }
            if ((cp == '.' || cp == ',' || cp == ':') && digits_only && nx < 128 && nx >= 0 &&
                (ascii_cls[nx] & C_DG)) {
                if (text->len - start + 12 <= TOK_MAX_BYTES)
                    buf_putc(text, (char)cp);
                i += n;
                continue;
            }
        }
        break;
    }
    *kind = digits_only ? TOK_NUM : TOK_WORD;
    return i;
}

/* "@handle" or "#tag" at s[*pi]: a token, *pi past it and *prev_word set;
 * a lone '@' or '#' is skipped. 0 or an error. */
static int take_tag(tok_list_t *out, const unsigned char *s, size_t len, size_t *pi, int *prev_word)
{
    size_t i = *pi, off = out->text.len;
    unsigned char c = s[i];
    buf_putc(&out->text, (char)c);
    size_t j = i + 1;
    if (c == '@') {
        /* Handles are ASCII; a longer run than any real handle is
         * cut, and the rest of it skipped, not made a word. */
        for (; j < len && s[j] < 128 && (ascii_cls[s[j]] & (C_AL | C_DG)); j++)
            if (j - i <= 50)
                buf_putc(&out->text, (char)ascii_lower[s[j]]);
    } else {
        int kind;
        j = scan_word(s, j, len, &out->text, off + 1, off, &kind);
    }
    if (out->text.oom)
        return TRI_ENOMEM;
    if (out->text.len > off + 1) {
        *pi = j;
        *prev_word = 1;
        return push_span(out, off, out->text.len - off, c == '@' ? TOK_MENTION : TOK_HASHTAG);
    }
    out->text.len = off;
    *pi = i + 1;
    return 0;
}

/* The character outside ASCII at s[*pi]: skipped, or the start of a word,
 * or "...", a CJK character or an emoji as a token; *pi moves past what was
 * taken and *prev_word says whether it continued a word. 0 or TRI_ENOMEM. */
static int take_unicode(tok_t *t, tok_list_t *out, const unsigned char *s, size_t len, size_t *pi, int *prev_word)
{
    size_t i = *pi;
    int32_t cp;
    size_t n = decode(s, i, len, &cp);
    if (cp == 0xFFFD || is_vs_or_joiner(cp) || is_space_cp(cp)) {
        *pi = i + n;
        *prev_word = 0;
        return 0;
    }
    if (is_word_cp(cp)) {
        size_t off = out->text.len;
        int kind;
        *pi = scan_word(s, i, len, &out->text, off, off, &kind);
        if (out->text.oom || finish_word(t, out, off, kind))
            return TRI_ENOMEM;
        *prev_word = 1;
        return 0;
    }
    *pi = i + n;
    *prev_word = 0;
    if (cp == 0x2026)
        return emit_lit(out, "...", 3, TOK_ELLIPSIS);
    if (is_cjk(cp) || is_emoji(cp)) {
        size_t off = out->text.len;
        put_folded(&out->text, cp);
        if (out->text.oom || push_span(out, off, out->text.len - off, is_cjk(cp) ? TOK_CJK : TOK_EMOJI))
            return TRI_ENOMEM;
        *prev_word = is_cjk(cp);
    }
    return 0;
}

int tok_run(tok_t *t, const char *text, size_t len, tok_list_t *out)
{
    const unsigned char *s = (const unsigned char *)text;
    buf_reset(&out->text);
    out->n = 0;
    size_t i = 0;
    int prev_word = 0; /* previous character continued a word (for @, # and emoticons) */
    int rc = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 128) {
            unsigned char k = ascii_cls[c];
            if (k & C_SP) {
                i++;
                prev_word = 0;
                continue;
            }
            if (!prev_word && (c == 'h' || c == 'H' || c == 'w' || c == 'W') &&
                (ieq_prefix(s, i, len, "http://") || ieq_prefix(s, i, len, "https://") ||
                 ieq_prefix(s, i, len, "www."))) {
                size_t h0, h1, j = scan_url(s, i, len, &h0, &h1);
                if ((rc = emit_lit(out, "<url>", 5, TOK_URL)))
                    return rc;
                if (h1 > h0) {
                    size_t off = out->text.len;
                    for (size_t q = h0; q < h1 && q - h0 < TOK_MAX_BYTES; q++)
                        buf_putc(&out->text, (char)ascii_lower[s[q]]);
                    if (out->text.oom || (rc = push_span(out, off, out->text.len - off, TOK_HOST)))
                        return TRI_ENOMEM;
                }
                i = j > i ? j : i + 1;
                prev_word = 0;
                continue;
            }
            /* Emoticons may follow a word directly ("thanks:)") unless they start
             * with a letter ("xd", "d:"), which would cut real words. */
            if (!prev_word || !(k & (C_AL | C_DG))) {
                const char *emo;
                size_t n = match_emoticon(s, i, len, &emo);
                if (n) {
                    if ((rc = emit_lit(out, emo, n, TOK_EMOTICON)))
                        return rc;
                    i += n;
                    continue;
                }
            }
            if (k & (C_AL | C_DG)) {
                size_t off = out->text.len;
                int kind;
                i = scan_word(s, i, len, &out->text, off, off, &kind);
                if (out->text.oom || (rc = finish_word(t, out, off, kind)))
                    return TRI_ENOMEM;
                prev_word = 1;
                continue;
            }
            if ((c == '@' || c == '#') && !prev_word && i + 1 < len) {
                if ((rc = take_tag(out, s, len, &i, &prev_word)))
                    return rc;
                continue;
            }
            if (c == '.') {
                size_t j = i;
                while (j < len && s[j] == '.')
                    j++;
                if (j - i >= 3 && (rc = emit_lit(out, "...", 3, TOK_ELLIPSIS)))
                    return rc;
                i = j;
                prev_word = 0;
                continue;
            }
            if (c == '!' || c == '?') {
                int bang = 0, q = 0;
                while (i < len && (s[i] == '!' || s[i] == '?')) {
                    bang |= s[i] == '!';
                    q |= s[i] == '?';
                    i++;
                }
                const char *p = bang && q ? "?!" : bang ? "!" : "?";
                if ((rc = emit_lit(out, p, strlen(p), TOK_PUNCT)))
                    return rc;
                prev_word = 0;
                continue;
            }
            if (c == '&') {
                /* HTML entities in scraped text (&amp; &#39;) are markup, not words. */
                size_t j = i + 1;
                if (j < len && s[j] == '#')
                    j++;
                while (j < len && j - i < 10 && s[j] < 128 && (ascii_cls[s[j]] & (C_AL | C_DG)))
                    j++;
                i = (j < len && s[j] == ';' && j > i + 1) ? j + 1 : i + 1;
                prev_word = 0;
                continue;
            }
            i++;
            prev_word = 0;
            continue;
        }
        if ((rc = take_unicode(t, out, s, len, &i, &prev_word)))
            return rc;
    }
    return 0;
}

size_t tok_memory(const tok_t *t)
{
    /* The stop-word text is at most one byte per slot's word; counted as the table. */
    return sizeof *t + (t->stem_cache ? STEM_SLOTS * sizeof *t->stem_cache : 0) + t->stem_arena.cap +
           t->sw_cap * (sizeof *t->sw + 8);
}
