/* Over-represented n-grams and example records per label (see explain.h). */
#include "core/explain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define MAX_TOKENS 128      /* words of a record looked at */
#define MAX_SCAN 4096       /* bytes of a record's text tokenised */
#define MAX_N 2             /* word 1- and 2-grams (3-grams multiply the distinct items, hence collisions) */
#define MIN_RATIO 1.5
#define ROWS 2              /* count-min rows: a count is the smaller of its two buckets */
#define TABLE (ROWS * EXPLAIN_BUCKETS)
#define MIN_SHARE 0.05      /* an n-gram of fewer of the window's records explains nothing */
#define MIN_Z 3.5           /* and one this close to its baseline count may be chance */

typedef struct example {
    int64_t ts;
    double prio;            /* smaller survives */
    char id[EXPLAIN_ID_MAX];
    char text[EXPLAIN_TEXT_MAX + 1];
} example_t;

/* The example reservoirs of one label, or of one (label, account). */
typedef struct pool {
    char *account;          /* NULL: all accounts */
    example_t res[EXPLAIN_MAX_SCALES][EXPLAIN_RESERVOIR];
    size_t nres[EXPLAIN_MAX_SCALES];
} pool_t;

typedef struct lab {
    char *label;
    float *cur, *base, *win[EXPLAIN_MAX_SCALES]; /* TABLE floats each, one allocation */
    double cur_docs, base_docs, win_docs[EXPLAIN_MAX_SCALES];
    uint32_t nb;            /* windows the baseline learned */
    pool_t all;             /* examples of every account */
    pool_t **acc;           /* examples per account */
    size_t nacc;
} lab_t;

struct explain {
    int64_t k[EXPLAIN_MAX_SCALES];
    size_t nscales;
    int64_t window_ms;
    double alpha;
    lab_t **l;
    size_t nl, npools;
    uint64_t dropped;
};

/* ---- words ---- */

typedef struct words {
    char s[MAX_SCAN + MAX_TOKENS]; /* lower-cased words joined by single spaces */
    uint16_t off[MAX_TOKENS], len[MAX_TOKENS];
    size_t n;
} words_t;

static int word_byte(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80; }

/* Bytes of the UTF-8 character at p that is punctuation or a symbol rather
 * than a letter (general punctuation, arrows and symbols U+2000-U+2BFF,
 * CJK punctuation U+3000-U+303F, variation selectors, emoji from U+1F000):
 * a separator, like ASCII punctuation; 0 for anything else. */
static size_t symbol_len(const unsigned char *p, size_t n)
{
    if (p[0] == 0xE2 && n >= 3 && p[1] >= 0x80 && p[1] <= 0xAF)
        return 3;
    if (p[0] == 0xE3 && n >= 3 && p[1] == 0x80)
        return 3;
    if (p[0] == 0xEF && n >= 3 && p[1] == 0xB8 && p[2] >= 0x80 && p[2] <= 0x8F)
        return 3;
    if (p[0] == 0xF0 && n >= 4 && p[1] == 0x9F)
        return 4;
    if (p[0] == 0xC2 && n >= 2 && p[1] < 0xC0) /* U+0080-U+00BF: no-break space, «, ©... */
        return 2;
    return 0;
}

static unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c; }

/* Splits text into words: letters, digits and any non-ASCII byte (so UTF-8
 * words stay whole), an apostrophe inside a word kept. A @mention names the
 * account, and a link is noise: both are skipped. */
static void tokenise(const char *text, size_t len, words_t *w)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0, o = 0;
    w->n = 0;
    if (len > MAX_SCAN)
        len = MAX_SCAN;
    while (i < len && w->n < MAX_TOKENS) {
        unsigned char c = lower(p[i]);
        if (c == '@' || (len - i > 4 && (!strncmp((const char *)p + i, "http", 4) || !strncmp((const char *)p + i, "www.", 4)) &&
                         (i == 0 || !word_byte(lower(p[i - 1]))))) {
            int link = c != '@';
            while (i < len && (link ? p[i] > ' ' : (word_byte(lower(p[i])) || p[i] == '@' || p[i] == '_')))
                i++;
            continue;
        }
        size_t sym = c >= 0x80 ? symbol_len(p + i, len - i) : 0;
        if (!word_byte(c) || sym) {
            i += sym ? sym : 1;
            continue;
        }
        size_t start = o;
        /* A word is cut at 255 bytes, between characters. */
        while (i < len && (o - start < 255 || (p[i] & 0xC0) == 0x80)) {
            c = lower(p[i]);
            if (c >= 0x80 && (p[i] & 0xC0) != 0x80 && symbol_len(p + i, len - i))
                break;
            if (word_byte(c))
                w->s[o++] = (char)c;
            else if (c == '\'' && i + 1 < len && word_byte(lower(p[i + 1])) && o > start)
                w->s[o++] = '\'';
            else
                break;
            i++;
        }
        w->off[w->n] = (uint16_t)start;
        w->len[w->n] = (uint16_t)(o - start);
        w->n++;
        w->s[o++] = ' ';
    }
    w->s[o ? o - 1 : 0] = '\0';
}

static const char *const STOP[] = {"a",    "about", "all",  "am",   "an",   "and",   "any",   "are",  "as",   "at",
                                   "be",   "been",  "but",  "by",   "can",  "could", "did",   "do",   "does", "for",
                                   "from", "get",   "got",  "had",  "has",  "have",  "he",    "her",  "his",  "how",
                                   "i",    "i'm",   "if",   "im",   "in",   "is",    "it",    "it's", "its",  "just",
                                   "me",   "my",    "no",   "not",  "of",   "on",    "or",    "our",  "out",  "she",
                                   "so",   "than",  "that", "the",  "them", "then",  "there", "they", "this", "to",
                                   "up",   "us",    "was",  "we",   "were", "what",  "when",  "why",  "will", "with",
                                   "would", "you",  "your"};

static int stop_word(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof STOP / sizeof STOP[0]; i++)
        if (strlen(STOP[i]) == n && !memcmp(STOP[i], s, n))
            return 1;
    return 0;
}

/* The n-gram of words i..i+n-1 as a span of w->s. */
static const char *ngram_at(const words_t *w, size_t i, size_t n, size_t *len)
{
    *len = (size_t)(w->off[i + n - 1] + w->len[i + n - 1] - w->off[i]);
    return w->s + w->off[i];
}

/* A word that cannot start or end a phrase: a stop word, or one character. */
static int weak(const words_t *w, size_t i) { return w->len[i] < 2 || stop_word(w->s + w->off[i], w->len[i]); }

/* A phrase worth naming: it neither starts nor ends with a weak word. */
static int phrase(const words_t *w, size_t i, size_t n) { return !weak(w, i) && !weak(w, i + n - 1); }

static uint64_t hash_of(const char *s, size_t n) { return XXH3_64bits(s, n); }

/* The n-gram's bucket in row r (rows take different bits of one hash). */
static uint32_t bucket(uint64_t h, int r) { return (uint32_t)((h >> (32 * r)) % EXPLAIN_BUCKETS) + (uint32_t)r * EXPLAIN_BUCKETS; }

/* Count-min: collisions only add, so the smaller row is the better count. */
static double cm(const float *t, uint64_t h)
{
    double a = t[bucket(h, 0)], b = t[bucket(h, 1)];
    return a < b ? a : b;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- labels ---- */

static lab_t *lab_find(const explain_t *x, const char *label)
{
    for (size_t i = 0; i < x->nl; i++)
        if (!strcmp(x->l[i]->label, label))
            return x->l[i];
    return NULL;
}

static lab_t *lab_get(explain_t *x, const char *label)
{
    lab_t *l = lab_find(x, label);
    if (l)
        return l;
    if (x->nl == EXPLAIN_MAX_LABELS) {
        x->dropped++;
        return NULL;
    }
    lab_t **v = realloc(x->l, (x->nl + 1) * sizeof *v);
    if (!v)
        return NULL;
    x->l = v;
    l = calloc(1, sizeof *l);
    float *t = calloc((x->nscales + 2) * TABLE, sizeof *t);
    if (!l || !t || !(l->label = strdup(label))) {
        free(t);
        free(l);
        return NULL;
    }
    l->cur = t;
    l->base = t + TABLE;
    for (size_t j = 0; j < x->nscales; j++)
        l->win[j] = t + (j + 2) * TABLE;
    x->l[x->nl++] = l;
    return l;
}

explain_t *explain_new(const int64_t *scale_windows, size_t nscales, int64_t window_ms, double alpha)
{
    if (!nscales || nscales > EXPLAIN_MAX_SCALES || window_ms <= 0 || !(alpha > 0 && alpha <= 1))
        return NULL;
    explain_t *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    for (size_t j = 0; j < nscales; j++)
        x->k[j] = scale_windows[j] > 0 ? scale_windows[j] : 1;
    x->nscales = nscales;
    x->window_ms = window_ms;
    x->alpha = alpha;
    return x;
}

void explain_free(explain_t *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->nl; i++) {
        for (size_t k = 0; k < x->l[i]->nacc; k++) {
            free(x->l[i]->acc[k]->account);
            free(x->l[i]->acc[k]);
        }
        free(x->l[i]->acc);
        free(x->l[i]->cur);
        free(x->l[i]->label);
        free(x->l[i]);
    }
    free(x->l);
    free(x);
}

/* Copies at most cap - 1 bytes of s, cut at a character boundary. */
static void copy_cut(char *dst, size_t cap, const char *s, size_t n)
{
    if (n > cap - 1) {
        n = cap - 1;
        while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Keeps the record in the scale's reservoir if its priority is among the
 * smallest: -log(u) shrunk by exp(t / k) (forward decay), as logarithms. */
static void reservoir_add(const explain_t *x, pool_t *l, size_t j, int64_t ts, uint64_t h, const char *id,
                          const char *text, size_t len)
{
    double u = ((double)(h >> 11) + 0.5) * 0x1.0p-53;
    double prio = log(-log(u)) - (double)ts / (double)x->window_ms / (double)x->k[j];
    example_t *e;
    if (l->nres[j] < EXPLAIN_RESERVOIR) {
        e = &l->res[j][l->nres[j]++];
    } else {
        e = &l->res[j][0];
        for (size_t i = 1; i < EXPLAIN_RESERVOIR; i++)
            if (l->res[j][i].prio > e->prio)
                e = &l->res[j][i];
        if (prio >= e->prio)
            return;
    }
    e->ts = ts;
    e->prio = prio;
    copy_cut(e->id, sizeof e->id, id ? id : "", id ? strlen(id) : 0);
    copy_cut(e->text, sizeof e->text, text, len);
}

static pool_t *pool_find(const lab_t *l, const char *account)
{
    if (!account)
        return (pool_t *)&l->all;
    for (size_t k = 0; k < l->nacc; k++)
        if (!strcmp(l->acc[k]->account, account))
            return l->acc[k];
    return NULL;
}

/* The account's pool, made on its first record while pools remain. */
static pool_t *pool_get(explain_t *x, lab_t *l, const char *account)
{
    pool_t *p = pool_find(l, account);
    if (p)
        return p;
    if (x->npools == EXPLAIN_MAX_POOLS) {
        x->dropped++;
        return NULL;
    }
    pool_t **v = realloc(l->acc, (l->nacc + 1) * sizeof *v);
    if (!v)
        return NULL;
    l->acc = v;
    if (!(p = calloc(1, sizeof *p)) || !(p->account = strdup(account))) {
        free(p);
        return NULL;
    }
    l->acc[l->nacc++] = p;
    x->npools++;
    return p;
}

void explain_add(explain_t *x, const char *label, const char *account, int64_t ts_ms, const char *id, const char *text,
                 size_t len)
{
    lab_t *l = lab_get(x, label);
    if (!l)
        return;
    l->cur_docs++;
    if (!text || !len)
        return;
    words_t *w = malloc(sizeof *w);
    if (!w)
        return;
    tokenise(text, len, w);
    /* Each bucket once per record: shares are shares of records. */
    uint32_t b[MAX_TOKENS * MAX_N * ROWS];
    size_t nb = 0;
    for (size_t i = 0; i < w->n; i++)
        for (size_t n = 1; n <= MAX_N && i + n <= w->n; n++) {
            size_t gl;
            const char *g = ngram_at(w, i, n, &gl);
            uint64_t hh = hash_of(g, gl);
            b[nb++] = bucket(hh, 0);
            b[nb++] = bucket(hh, 1);
        }
    qsort(b, nb, sizeof b[0], cmp_u32);
    for (size_t i = 0; i < nb; i++)
        if (!i || b[i] != b[i - 1])
            l->cur[b[i]] += 1;
    free(w);
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, &ts_ms, sizeof ts_ms);
    if (id)
        XXH3_64bits_update(&st, id, strlen(id) + 1);
    XXH3_64bits_update(&st, text, len);
    uint64_t h = XXH3_64bits_digest(&st);
    pool_t *pa = account && *account ? pool_get(x, l, account) : NULL;
    for (size_t j = 0; j < x->nscales; j++) {
        reservoir_add(x, &l->all, j, ts_ms, XXH3_64bits_withSeed(&h, sizeof h, j), id, text, len);
        if (pa)
            reservoir_add(x, pa, j, ts_ms, XXH3_64bits_withSeed(&h, sizeof h, j + EXPLAIN_MAX_SCALES), id, text, len);
    }
}

void explain_roll(explain_t *x)
{
    for (size_t i = 0; i < x->nl; i++) {
        lab_t *l = x->l[i];
        for (size_t j = 0; j < x->nscales; j++) {
            float d = (float)(1 - 1.0 / (double)x->k[j]), *t = l->win[j];
            for (size_t b = 0; b < TABLE; b++)
                t[b] = d * t[b] + l->cur[b];
            l->win_docs[j] = d * l->win_docs[j] + l->cur_docs;
        }
    }
}

void explain_learn(explain_t *x, int (*frozen)(void *ctx, const char *label), void *ctx)
{
    for (size_t i = 0; i < x->nl; i++) {
        lab_t *l = x->l[i];
        if (!frozen || !frozen(ctx, l->label)) {
            l->nb++;
            float al = (float)(x->alpha > 1.0 / l->nb ? x->alpha : 1.0 / l->nb);
            for (size_t b = 0; b < TABLE; b++)
                l->base[b] += al * (l->cur[b] - l->base[b]);
            l->base_docs += al * (l->cur_docs - l->base_docs);
        }
        memset(l->cur, 0, TABLE * sizeof *l->cur);
        l->cur_docs = 0;
    }
}

/* ---- ranking ---- */

typedef struct cand {
    uint64_t h;
    char text[EXPLAIN_NGRAM_MAX];
    double w, share, base, ratio;
} cand_t;

static int cmp_cand(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    if (x->ratio != y->ratio)
        return x->ratio > y->ratio ? -1 : 1;
    if (x->w != y->w)
        return x->w > y->w ? -1 : 1;
    size_t lx = strlen(x->text), ly = strlen(y->text); /* the longer phrase says more */
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return strcmp(x->text, y->text);
}

/* Whether phrase a holds phrase b as whole words. */
static int holds(const char *a, const char *b)
{
    size_t n = strlen(b);
    for (const char *p = strstr(a, b); p; p = strstr(p + 1, b))
        if ((p == a || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
            return 1;
    return 0;
}

/* The scored candidates of the scale's examples since `since` (caller frees). */
static cand_t *candidates(const explain_t *x, const lab_t *l, const pool_t *pl, size_t j, int64_t since, size_t *nc)
{
    size_t cap = EXPLAIN_RESERVOIR * MAX_TOKENS * MAX_N;
    cand_t *c = malloc(cap * sizeof *c);
    words_t *w = malloc(sizeof *w);
    *nc = 0;
    if (!c || !w) {
        free(w);
        free(c);
        return NULL;
    }
    double E = l->nb < 1 / x->alpha ? l->nb : 1 / x->alpha, nbase = l->base_docs * E, nwin = l->win_docs[j];
    for (size_t r = 0; r < pl->nres[j]; r++) {
        const example_t *e = &pl->res[j][r];
        if (e->ts < since)
            continue;
        tokenise(e->text, strlen(e->text), w);
        for (size_t i = 0; i < w->n; i++)
            for (size_t n = 1; n <= MAX_N && i + n <= w->n; n++) {
                size_t gl;
                const char *g = ngram_at(w, i, n, &gl);
                if (gl >= EXPLAIN_NGRAM_MAX || !phrase(w, i, n))
                    continue;
                uint64_t h = hash_of(g, gl);
                size_t k = 0;
                while (k < *nc && c[k].h != h)
                    k++;
                if (k < *nc)
                    continue;
                double win = cm(l->win[j], h), bc = cm(l->base, h) * E, p = (bc + 0.5) / (nbase + 1);
                double q = (win + EXPLAIN_PRIOR * p) / (nwin + EXPLAIN_PRIOR);
                /* Over-represented beyond chance: a Poisson z against the
                 * baseline's expectation (many n-grams are looked at). */
                double mu = nwin * p, z = (win - mu) / sqrt(mu > 1 ? mu : 1);
                if (win < EXPLAIN_MIN_RECORDS || win < MIN_SHARE * nwin || q / p < MIN_RATIO || z < MIN_Z)
                    continue;
                cand_t *o = &c[(*nc)++];
                o->h = h;
                memcpy(o->text, g, gl);
                o->text[gl] = '\0';
                o->w = win;
                o->share = nwin > 0 ? win / nwin : 0;
                o->base = nbase > 0 ? bc / nbase : 0;
                o->ratio = q / p;
            }
    }
    free(w);
    qsort(c, *nc, sizeof *c, cmp_cand);
    return c;
}

/* The best candidates, one per finding: a phrase inside a chosen one is the
 * same finding; a longer phrase holding a chosen one replaces it when it
 * holds most of its records. */
static void choose(const cand_t *c, size_t nc, explain_result_t *out)
{
    out->nngrams = 0;
    for (size_t i = 0; i < nc; i++) {
        int skip = 0;
        for (size_t k = 0; k < out->nngrams && !skip; k++) {
            explain_ngram_t *g = &out->ngrams[k];
            if (holds(g->text, c[i].text))
                skip = 1;
            else if (holds(c[i].text, g->text)) {
                skip = 1;
                if (c[i].w >= 0.7 * g->records) {
                    *g = (explain_ngram_t){.records = c[i].w, .share = c[i].share, .baseline_share = c[i].base,
                                           .ratio = c[i].ratio};
                    memcpy(g->text, c[i].text, sizeof g->text);
                    /* Other chosen parts of the longer phrase go with it. */
                    for (size_t m = out->nngrams; m-- > 0;)
                        if (m != k && holds(g->text, out->ngrams[m].text)) {
                            memmove(&out->ngrams[m], &out->ngrams[m + 1], (out->nngrams - m - 1) * sizeof *g);
                            out->nngrams--;
                            k -= m < k;
                            g = &out->ngrams[k];
                        }
                }
            }
        }
        if (skip || out->nngrams == EXPLAIN_TOP)
            continue;
        explain_ngram_t *g = &out->ngrams[out->nngrams++];
        *g = (explain_ngram_t){.records = c[i].w, .share = c[i].share, .baseline_share = c[i].base, .ratio = c[i].ratio};
        memcpy(g->text, c[i].text, sizeof g->text);
    }
}

typedef struct pick {
    const example_t *e;
    int hits;
} pick_t;

static int cmp_pick(const void *a, const void *b)
{
    const pick_t *x = a, *y = b;
    if (x->hits != y->hits)
        return y->hits - x->hits;
    return x->e->ts > y->e->ts ? -1 : x->e->ts < y->e->ts;
}

/* Examples that show the chosen phrases first, the newest among equals. */
static void examples(const pool_t *l, size_t j, int64_t since, explain_result_t *out)
{
    pick_t p[EXPLAIN_RESERVOIR];
    size_t np = 0;
    words_t *w = malloc(sizeof *w);
    if (!w)
        return;
    for (size_t r = 0; r < l->nres[j]; r++) {
        const example_t *e = &l->res[j][r];
        if (e->ts < since)
            continue;
        tokenise(e->text, strlen(e->text), w);
        p[np] = (pick_t){e, 0};
        for (size_t k = 0; k < out->nngrams; k++)
            p[np].hits += holds(w->s, out->ngrams[k].text);
        np++;
    }
    free(w);
    qsort(p, np, sizeof p[0], cmp_pick);
    for (size_t i = 0; i < np && out->nexamples < EXPLAIN_EXAMPLES; i++) {
        explain_example_t *o = &out->examples[out->nexamples++];
        memcpy(o->id, p[i].e->id, sizeof o->id);
        memcpy(o->text, p[i].e->text, sizeof o->text);
        o->ts_ms = p[i].e->ts;
    }
}

int explain_get(const explain_t *x, const char *label, const char *account, size_t j, int64_t since_ms,
                explain_result_t *out)
{
    memset(out, 0, sizeof *out);
    const lab_t *l = label ? lab_find(x, label) : NULL;
    const pool_t *pl = l ? pool_find(l, account) : NULL;
    if (!pl || j >= x->nscales)
        return -1;
    out->records = l->win_docs[j];
    size_t nc;
    cand_t *c = candidates(x, l, pl, j, since_ms, &nc);
    if (c)
        choose(c, nc, out);
    free(c);
    examples(pl, j, since_ms, out);
    return out->nngrams || out->nexamples ? 0 : -1;
}

uint64_t explain_dropped(const explain_t *x) { return x->dropped; }

size_t explain_bytes(const explain_t *x)
{
    return sizeof *x + x->nl * (sizeof(lab_t) + (x->nscales + 2) * TABLE * sizeof(float)) + x->npools * sizeof(pool_t);
}
