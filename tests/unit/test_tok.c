/* Unit tests for the tokenizer (include/tok.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libstemmer.h>

#include "core/tok.h"
#include "core/tri_err.h"

/* ---- helpers ---- */

static tok_t *new_tok(const char *stem, int stopwords)
{
    tok_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    if (stem)
        snprintf(cfg.stem, sizeof cfg.stem, "%s", stem);
    if (stopwords) {
        cfg.stopwords = tok_stopwords_en;
        cfg.stopwords_len = tok_stopwords_en_len;
    }
    tok_t *t = NULL;
    char err[TRI_ERRLEN] = "";
    int rc = tok_new(&cfg, &t, err, sizeof err);
    if (rc)
        fail_msg("tok_new: %s", err);
    assert_non_null(t);
    return t;
}

/* Runs the tokenizer over a copy of in[0..len) in an exactly-sized heap buffer,
 * so ASan reports any read past the end. */
static void run_exact(tok_t *t, const char *in, size_t len, tok_list_t *l)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, in, len);
    assert_int_equal(tok_run(t, copy, len, l), 0);
    free(copy);
}

static void print_toks(const tok_list_t *l)
{
    fprintf(stderr, "  got %zu tokens:", l->n);
    for (size_t i = 0; i < l->n; i++)
        fprintf(stderr, " [%.*s]", (int)l->v[i].len, l->text.p + l->v[i].off);
    fprintf(stderr, "\n");
}

/* Checks that tokenizing in[0..len) gives exactly the NULL-terminated list exp;
 * kinds (0-terminated, optional) are checked when given. */
static void check_toks_len(tok_t *t, const char *in, size_t len, const char *const *exp, const int *kinds)
{
    tok_list_t l = {0};
    run_exact(t, in, len, &l);
    size_t n = 0;
    while (exp[n])
        n++;
    int ok = l.n == n;
    for (size_t i = 0; ok && i < n; i++) {
        size_t el = strlen(exp[i]);
        if (l.v[i].len != el || memcmp(l.text.p + l.v[i].off, exp[i], el))
            ok = 0;
        if (kinds && kinds[i] && l.v[i].kind != kinds[i])
            ok = 0;
    }
    if (!ok) {
        fprintf(stderr, "  input: ");
        for (size_t i = 0; i < len; i++)
            fprintf(stderr, (unsigned char)in[i] >= 0x20 && (unsigned char)in[i] < 0x7F ? "%c" : "\\x%02X",
                    (unsigned char)in[i]);
        fprintf(stderr, "\n  expected:");
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " [%s]", exp[i]);
        fprintf(stderr, "\n");
        print_toks(&l);
        if (kinds) {
            fprintf(stderr, "  kinds:");
            for (size_t i = 0; i < l.n; i++)
                fprintf(stderr, " %d", l.v[i].kind);
            fprintf(stderr, "\n");
        }
    }
    tok_list_free(&l);
    assert_true(ok);
}

#define TOKS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NO_TOKS ((const char *const[]){NULL})
#define KINDS(...) ((const int[]){__VA_ARGS__, 0})
#define CHECK(t, in, exp) check_toks_len((t), (in), strlen(in), (exp), NULL)
#define CHECK_K(t, in, exp, kinds) check_toks_len((t), (in), strlen(in), (exp), (kinds))
/* For inputs with embedded NULs or that must keep an exact byte length. */
#define CHECK_B(t, lit, exp) check_toks_len((t), (lit), sizeof(lit) - 1, (exp), NULL)

/* Strict UTF-8 validation (no overlongs, surrogates, or > U+10FFFF). */

/* ---- tests ---- */

static void test_case_folding(void **state)
{
    (void)state;
    tok_t *t = new_tok(NULL, 0);
    CHECK_K(t, "ÉCOLE Straße", TOKS("école", "strasse"), KINDS(TOK_WORD, TOK_WORD));
    CHECK(t, "ΑΘΗΝΑ ΚΑΛΗΜΕΡΑ", TOKS("αθηνα", "καλημερα"));
    CHECK(t, "МОСКВА Привет", TOKS("москва", "привет"));
    CHECK(t, "HeLLo WORLD", TOKS("hello", "world"));
    /* Already lower-case non-ASCII is unchanged. */
    CHECK(t, "naïve café", TOKS("naïve", "café"));
    tok_free(t);
}

static void test_urls(void **state)
{
    (void)state;
    tok_t *t = new_tok(NULL, 0);
    CHECK_K(t, "https://www.Example.com/x?y", TOKS("<url>", "example.com"), KINDS(TOK_URL, TOK_HOST));
    CHECK_K(t, "http://t.co/abc", TOKS("<url>", "t.co"), KINDS(TOK_URL, TOK_HOST));
    /* Trailing punctuation belongs to the sentence, not the URL. */
    CHECK(t, "see http://t.co/abc.", TOKS("see", "<url>", "t.co"));
    CHECK(t, "(see http://t.co/abc), ok!", TOKS("see", "<url>", "t.co", "ok", "!"));
    CHECK(t, "http://t.co/abc... wow", TOKS("<url>", "t.co", "...", "wow"));
    /* A URL without a scheme, and one with a port. */
    CHECK(t, "go to www.United.com now", TOKS("go", "to", "<url>", "united.com", "now"));
    CHECK(t, "HTTPS://Host.ORG:8080/p", TOKS("<url>", "host.org"));
    /* A URL starts only at a token boundary. */
    CHECK(t, "xwww.a.com", TOKS("xwww", "a", "com"));
    tok_free(t);
}

static void test_mentions_hashtags(void **state)
{
    (void)state;
    tok_t *t = new_tok(NULL, 0);
    CHECK_K(t, "@United #NotHappy", TOKS("@united", "#nothappy"), KINDS(TOK_MENTION, TOK_HASHTAG));
    CHECK(t, "thanks @JetBlue_Airways!", TOKS("thanks", "@jetblue_airways", "!"));
    CHECK(t, "#ÉTÉ2015", TOKS("#été2015"));
    /* A lone sigil is not a token. */
    CHECK(t, "@ # ok", TOKS("ok"));
    tok_free(t);
}

static void test_emoji(void **state)
{
    (void)state;
    tok_t *t = new_tok(NULL, 0);
    /* Skin tone (U+1F3FD) dropped. */
    CHECK_K(t, "ok\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", TOKS("ok", "\xF0\x9F\x91\x8D"), KINDS(TOK_WORD, TOK_EMOJI));
    /* VS16 after a heart dropped. */
    CHECK_K(t, "\xE2\x9D\xA4\xEF\xB8\x8F", TOKS("\xE2\x9D\xA4"), KINDS(TOK_EMOJI));
    /* ZWJ family: one token per pictograph, joiners dropped. */
    CHECK(t, "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7",
          TOKS("\xF0\x9F\x91\xA8", "\xF0\x9F\x91\xA9", "\xF0\x9F\x91\xA7"));
    /* Repeated emoji are separate tokens, glued to words or not. */
    CHECK(t, "great\xF0\x9F\x98\x82\xF0\x9F\x98\x82 flight",
          TOKS("great", "\xF0\x9F\x98\x82", "\xF0\x9F\x98\x82", "flight"));
    tok_free(t);
}

static void test_emoticons(void **state)
{
    (void)state;
    tok_t *t = new_tok(NULL, 0);
    CHECK_K(t, ":) :-( <3 :D ;)", TOKS(":)", ":-(", "<3", ":d", ";)"),
            KINDS(TOK_EMOTICON, TOK_EMOTICON, TOK_EMOTICON, TOK_EMOTICON, TOK_EMOTICON));
    CHECK(t, "thanks:)", TOKS("thanks", ":)"));
    CHECK(t, "XD lol", TOKS("xd", "lol"));
    /* Letter emoticons do not cut words. */
    CHECK(t, "xdd dear :dear", TOKS("xdd", "dear", "dear"));
    tok_free(t);
}

static void test_ellipsis_and_bangs(void **state)
{
    (void)state;
    tok_t *t = new_tok(NULL, 0);
    CHECK_K(t, "wait... what\xE2\x80\xA6 really", TOKS("wait", "...", "what", "...", "really"),
            KINDS(TOK_WORD, TOK_ELLIPSIS, TOK_WORD, TOK_ELLIPSIS, TOK_WORD));
    CHECK(t, "so.....", TOKS("so", "..."));
    /* Two dots are not an ellipsis. */
    CHECK(t, "a.. b", TOKS("a", "b"));
    CHECK_K(t, "no!!! why? really?! huh?\?!?", TOKS("no", "!", "why", "?", "really", "?!", "huh", "?!"),
            KINDS(TOK_WORD, TOK_PUNCT, TOK_WORD, TOK_PUNCT, TOK_WORD, TOK_PUNCT, TOK_WORD, TOK_PUNCT));
    CHECK(t, "!?", TOKS("?!"));
    tok_free(t);
}

static void test_apostrophes_numbers(void **state)
{
    (void)state;
    tok_t *t = new_tok(NULL, 0);
    CHECK(t, "Don\xE2\x80\x99t", TOKS("don't"));
    CHECK(t, "can't won\xE2\x80\x98t", TOKS("can't", "won't"));
    /* Outer quotes are not part of the word. */
    CHECK(t, "'quoted'", TOKS("quoted"));
    CHECK_K(t, "at 3:45 paid 1,000 for 2.5", TOKS("at", "3:45", "paid", "1,000", "for", "2.5"),
            KINDS(TOK_WORD, TOK_NUM, TOK_WORD, TOK_NUM, TOK_WORD, TOK_NUM));
    CHECK_K(t, "UA123 42", TOKS("ua123", "42"), KINDS(TOK_WORD, TOK_NUM));
    /* A trailing separator is not part of the number. */
    CHECK(t, "1,000, then 5.", TOKS("1,000", "then", "5"));
    tok_free(t);
}

static void test_cjk_and_entities(void **state)
{
    (void)state;
    tok_t *t = new_tok(NULL, 0);
    CHECK_K(t, "東京タワー is", TOKS("東", "京", "タ", "ワ", "ー", "is"),
            KINDS(TOK_CJK, TOK_CJK, TOK_CJK, TOK_CJK, TOK_CJK, TOK_WORD));
    CHECK(t, "ok東京", TOKS("ok", "東", "京"));
    CHECK(t, "fish &amp; chips &#39;n&quot; more", TOKS("fish", "chips", "n", "more"));
    /* A lone ampersand is dropped, the words around it stay. */
    CHECK(t, "AT&T", TOKS("at", "t"));
    tok_free(t);
}

static void test_stopwords(void **state)
{
    (void)state;
    tok_t *t = new_tok(NULL, 1);
    assert_true(tok_stopword_count(t) > 100);
    /* Stop words are removed whatever their case; mentions/hashtags never. */
    CHECK(t, "The flight was THE worst", TOKS("flight", "worst"));
    CHECK_K(t, "@the #the the", TOKS("@the", "#the"), KINDS(TOK_MENTION, TOK_HASHTAG));
    /* The list has "don't" with an ASCII apostrophe; the typographic one matches too. */
    CHECK(t, "don\xE2\x80\x99t go", TOKS("go"));
    tok_free(t);

    /* A custom list with a folded entry and a comment line. */
    tok_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    static const char list[] = "# comment\nFlight\n  Delay  \n\nÉcole\n";
    cfg.stopwords = list;
    cfg.stopwords_len = sizeof list - 1;
    char err[TRI_ERRLEN];
    assert_int_equal(tok_new(&cfg, &t, err, sizeof err), 0);
    assert_int_equal(tok_stopword_count(t), 3);
    CHECK(t, "FLIGHT delay ÉCOLE comment x", TOKS("comment", "x"));
    tok_free(t);

    /* Invalid UTF-8 in a stop-word list is refused with a message. */
    static const char bad[] = "ok\n\xFF\xFE\n";
    cfg.stopwords = bad;
    cfg.stopwords_len = sizeof bad - 1;
    err[0] = '\0';
    t = NULL;
    assert_int_equal(tok_new(&cfg, &t, err, sizeof err), TRI_EINVAL);
    assert_null(t);
    assert_true(strlen(err) > 0);
}

static void test_stemming(void **state)
{
    (void)state;
    tok_t *t = new_tok("english", 0);
    CHECK(t, "flights cancelled", TOKS("flight", "cancel"));
    /* Cached stems give the same answer the second time. */
    CHECK(t, "Flights CANCELLED flights", TOKS("flight", "cancel", "flight"));
    /* Mentions, hashtags and URL hosts are never stemmed. */
    CHECK(t, "@flights #flights http://flights.com", TOKS("@flights", "#flights", "<url>", "flights.com"));
    tok_free(t);

    t = new_tok("english", 1);
    CHECK(t, "the flights were cancelled", TOKS("flight", "cancel"));
    tok_free(t);

    tok_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.stem, sizeof cfg.stem, "klingon");
    char err[TRI_ERRLEN] = "";
    t = NULL;
    assert_int_equal(tok_new(&cfg, &t, err, sizeof err), TRI_EINVAL);
    assert_null(t);
    assert_non_null(strstr(err, "klingon"));
}

static void test_long_tokens(void **state)
{
    (void)state;
    tok_t *t = new_tok(NULL, 0);
    char in[400];
    memset(in, 'a', 300);
    in[300] = '\0';
    tok_list_t l = {0};
    run_exact(t, in, 300, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].len, TOK_MAX_BYTES);
    /* A long non-ASCII word is cut at a character boundary. */
    size_t n = 0;
    for (int i = 0; i < 100; i++) {
        memcpy(in + n, "\xC3\xA9", 2);
        n += 2;
    }
    run_exact(t, in, n, &l);
    assert_int_equal(l.n, 1);
    assert_true(l.v[0].len <= TOK_MAX_BYTES);
    assert_true(l.v[0].len >= TOK_MAX_BYTES - 12);
    assert_true(valid_utf8((const unsigned char *)l.text.p + l.v[0].off, l.v[0].len));
    tok_list_free(&l);
    tok_free(t);
}

/* Hashtags and mentions obey TOK_MAX_BYTES too, and a cut token is cut: the
 * rest of it does not come out as another token. */
static void test_long_hashtag(void **state)
{
    (void)state;
    tok_t *t = new_tok(NULL, 0);
    char in[300];
    tok_list_t l = {0};
    in[0] = '#';
    memset(in + 1, 'a', 200);
    run_exact(t, in, 201, &l);
    size_t n = l.n;
    int kind = n ? l.v[0].kind : 0;
    uint32_t len = n ? l.v[0].len : 0;
    tok_list_free(&l);
    tok_free(t);
    assert_int_equal(n, 1);
    assert_int_equal(kind, TOK_HASHTAG);
    if (len > TOK_MAX_BYTES)
        fail_msg("'#' + 200 letters: hashtag token of %u bytes, TOK_MAX_BYTES is %d", len, TOK_MAX_BYTES);
}

static void test_long_mention(void **state)
{
    (void)state;
    tok_t *t = new_tok(NULL, 0);
    char in[300];
    tok_list_t l = {0};
    in[0] = '@';
    memset(in + 1, 'b', 60);
    memcpy(in + 61, " ok", 3);
    run_exact(t, in, 64, &l);
    int ok = l.n == 2 && l.v[0].kind == TOK_MENTION && l.v[0].len <= TOK_MAX_BYTES &&
             !memcmp(l.text.p + l.v[0].off, "@bbbbbbbbbb", 11) && l.v[1].len == 2 &&
             !memcmp(l.text.p + l.v[1].off, "ok", 2);
    if (!ok)
        print_toks(&l);
    size_t n = l.n;
    tok_list_free(&l);
    tok_free(t);
    if (!ok)
        fail_msg("'@' + 60 letters + ' ok' gave %zu tokens, expected the (cut) mention and 'ok'", n);
}

/* The stem cache (bounded, emptied when half full) gives exactly what the
 * stemmer gives, for more distinct words than the cache holds. */
static void test_stem_cache(void **state)
{
    (void)state;
    tok_t *t = new_tok("english", 0);
    struct sb_stemmer *ref = sb_stemmer_new("english", "UTF_8");
    assert_non_null(ref);
    static const char *const suffix[] = {"ing", "ed", "s", "ational", "ly", "", "ness", "ies"};
    tok_list_t l = {0};
    char word[64];
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 30000; i++) {
            int n = 0, k = i;
            word[n++] = 'w';
            do {
                word[n++] = (char)('a' + k % 26);
                k /= 26;
            } while (k);
            int sl = snprintf(word + n, sizeof word - (size_t)n, "%s", suffix[(i + pass) % 8]);
            n += sl;
            const sb_symbol *st = sb_stemmer_stem(ref, (const sb_symbol *)word, n);
            int stl = sb_stemmer_length(ref);
            assert_int_equal(tok_run(t, word, (size_t)n, &l), 0);
            assert_int_equal(l.n, 1);
            if (l.v[0].len != (uint32_t)stl || memcmp(l.text.p + l.v[0].off, st, (size_t)stl))
                fail_msg("'%.*s': tokenizer stem '%.*s', stemmer '%.*s'", n, word, (int)l.v[0].len,
                         l.text.p + l.v[0].off, stl, (const char *)st);
        }
    sb_stemmer_delete(ref);
    tok_list_free(&l);
    tok_free(t);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    tok_t *t = new_tok(NULL, 0);
    /* Truncated 2-, 3- and 4-byte sequences. */
    CHECK_B(t, "abc \xC3 def", TOKS("abc", "def"));
    CHECK_B(t, "abc \xE2\x82 def", TOKS("abc", "def"));
    CHECK_B(t, "abc \xF0\x9F\x98 def", TOKS("abc", "def"));
    /* Garbage glued to words separates them. */
    CHECK_B(t, "abc\xC3xyz", TOKS("abc", "xyz"));
    CHECK_B(t, "abc\xFF""def", TOKS("abc", "def"));
    /* Overlong encodings ('/' as C0 AF, E0 80 AF, F0 80 80 AF; NUL as C0 80). */
    CHECK_B(t, "abc\xC0\xAF""def", TOKS("abc", "def"));
    CHECK_B(t, "abc \xE0\x80\xAF def", TOKS("abc", "def"));
    CHECK_B(t, "abc \xF0\x80\x80\xAF def", TOKS("abc", "def"));
    CHECK_B(t, "abc \xC0\x80 def", TOKS("abc", "def"));
    /* Lone continuation bytes. */
    CHECK_B(t, "abc \x80\xBF\x80 def", TOKS("abc", "def"));
    CHECK_B(t, "\x80 abc", TOKS("abc"));
    /* UTF-16 surrogates encoded in UTF-8 (U+D800, U+DFFF, a CESU pair). */
    CHECK_B(t, "abc \xED\xA0\x80 def", TOKS("abc", "def"));
    CHECK_B(t, "abc\xED\xBF\xBF""def", TOKS("abc", "def"));
    CHECK_B(t, "abc \xED\xA0\xBD\xED\xB8\x80 def", TOKS("abc", "def"));
    /* Bytes that never occur in UTF-8, and code points above U+10FFFF. */
    CHECK_B(t, "abc \xFE\xFF def", TOKS("abc", "def"));
    CHECK_B(t, "abc \xF4\x90\x80\x80 def", TOKS("abc", "def"));
    CHECK_B(t, "abc \xF8\x88\x80\x80\x80 def", TOKS("abc", "def"));
    /* The buffer ends in the middle of a 4-byte sequence (😀 = F0 9F 98 80). */
    CHECK_B(t, "abc \xF0", TOKS("abc"));
    CHECK_B(t, "abc \xF0\x9F", TOKS("abc"));
    CHECK_B(t, "abc \xF0\x9F\x98", TOKS("abc"));
    CHECK_B(t, "abc\xF0\x9F\x98", TOKS("abc"));
    /* ... and in the middle of constructs that look ahead. */
    CHECK_B(t, "don\xE2\x80", TOKS("don"));
    CHECK_B(t, "don\xE2\x80\x99", TOKS("don"));
    CHECK_B(t, "don'\xC3", TOKS("don"));
    CHECK_B(t, "3:", TOKS("3"));
    CHECK_B(t, "3,\xE2", TOKS("3"));
    CHECK_B(t, "#", NO_TOKS);
    CHECK_B(t, "@", NO_TOKS);
    CHECK_B(t, "&am", TOKS("am"));
    CHECK_B(t, "&#", NO_TOKS);
    CHECK_B(t, ":", NO_TOKS);
    CHECK_B(t, ":-", NO_TOKS);
    CHECK_B(t, "<", NO_TOKS);
    CHECK_B(t, "http://", TOKS("<url>"));
    CHECK_B(t, "https://www.", TOKS("<url>", "www"));
    CHECK_B(t, "www.\xF0\x9F", TOKS("<url>", "www"));
    CHECK_B(t, "..", NO_TOKS);
    CHECK_B(t, "\xE2\x80", NO_TOKS);
    CHECK_B(t, "\xC3", NO_TOKS);
    CHECK_B(t, "", NO_TOKS);
    /* Embedded NUL is a separator. */
    CHECK_B(t, "abc\0def", TOKS("abc", "def"));
    /* A valid multi-byte word right after garbage still comes out whole. */
    CHECK_B(t, "\xFF\xC3\xA9t\xC3\xA9 \xE2\x82", TOKS("été"));
    tok_free(t);
}


/* Random bytes biased toward the pieces the tokenizer cares about. */
static size_t random_text(unsigned char *buf, size_t max)
{
    static const char *const pieces[] = {
        "http://", "https://", "www.", "@", "#", ":)", ":-(", "<3", ":D", "...", "\xE2\x80\xA6", "!", "?", "&amp;",
        "&#", "'", "\xE2\x80\x99", "3:45", "1,000", "\xC3\xA9", "\xC3\x89", "\xCE\x91", "\xF0\x9F\x91\x8D",
        "\xF0\x9F\x8F\xBD", "\xEF\xB8\x8F", "\xE2\x80\x8D", "\xE6\x9D\xB1", " ", "the", "Flights", "x", "d",
        "\xC3\x9F", "\xED\xA0\x80", "\xF0\x9F", "\xE2\x80", "\xC0\xAF", "\xFE", "\xFF", "\x80", ".", ",", ":",
        "\xEF\xBF\xBD", "\xCC\x81", "\xE1\xBA\x9E", "\xEF\xAC\x80",
    };
    size_t len = (size_t)(rng() % (max + 1)), n = 0;
    while (n < len) {
        uint64_t r = rng();
        if (r % 3 == 0) {
            const char *p = pieces[(r >> 8) % (sizeof pieces / sizeof *pieces)];
            size_t pl = strlen(p);
            if (n + pl > len)
                pl = len - n;
            memcpy(buf + n, p, pl);
            n += pl;
        } else if (r % 3 == 1) {
            buf[n++] = (unsigned char)(r >> 16);
        } else {
            buf[n++] = (unsigned char)(0x20 + (r >> 16) % 0x5F);
        }
    }
    return len;
}

static void check_random(tok_t *t, int iters, uint64_t seed)
{
    rng_state = seed;
    tok_list_t l = {0};
    unsigned char tmp[256];
    for (int it = 0; it < iters; it++) {
        size_t len = random_text(tmp, 200);
        char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, tmp, len);
        assert_int_equal(tok_run(t, copy, len, &l), 0);
        for (size_t i = 0; i < l.n; i++) {
            const tok_span_t *sp = &l.v[i];
            if (!(sp->len > 0 && (size_t)sp->off + sp->len <= l.text.len &&
                  valid_utf8((const unsigned char *)l.text.p + sp->off, sp->len) &&
                  sp->kind >= TOK_WORD && sp->kind <= TOK_CJK)) {
                fprintf(stderr, "  iteration %d, token %zu (off %u len %u kind %u, text len %zu)\n", it, i, sp->off,
                        sp->len, sp->kind, l.text.len);
                print_toks(&l);
                fail();
            }
        }
        free(copy);
    }
    tok_list_free(&l);
}

static void test_random_robustness(void **state)
{
    (void)state;
    tok_t *t = new_tok(NULL, 0);
    check_random(t, 20000, 0x9E3779B97F4A7C15ULL);
    tok_free(t);
    /* Stemming and stop words on the same kind of input. */
    t = new_tok("english", 1);
    check_random(t, 5000, 12345);
    tok_free(t);
}

/* The tok_list_t is reused: a second run replaces the first run's tokens. */
static void test_list_reuse(void **state)
{
    (void)state;
    tok_t *t = new_tok(NULL, 0);
    tok_list_t l = {0};
    run_exact(t, "one two three four", 18, &l);
    assert_int_equal(l.n, 4);
    run_exact(t, "five", 4, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].off, 0);
    assert_int_equal(l.v[0].len, 4);
    assert_memory_equal(l.text.p, "five", 4);
    run_exact(t, "", 0, &l);
    assert_int_equal(l.n, 0);
    tok_list_free(&l);
    tok_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_folding),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_mentions_hashtags),
        cmocka_unit_test(test_emoji),
        cmocka_unit_test(test_emoticons),
        cmocka_unit_test(test_ellipsis_and_bangs),
        cmocka_unit_test(test_apostrophes_numbers),
        cmocka_unit_test(test_cjk_and_entities),
        cmocka_unit_test(test_stopwords),
        cmocka_unit_test(test_stemming),
        cmocka_unit_test(test_long_tokens),
        cmocka_unit_test(test_long_hashtag),
        cmocka_unit_test(test_long_mention),
        cmocka_unit_test(test_stem_cache),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_random_robustness),
        cmocka_unit_test(test_list_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
