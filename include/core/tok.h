/* tok — the tokenizer: untrusted UTF-8 text in, folded tokens out.
 *
 * Every model stores the tokenizer configuration it was trained with, and the
 * scorer builds its tokenizer from that copy, so training and serving can never
 * disagree about what a token is.
 *
 * What a token is (all text is Unicode case-folded):
 *   words and numbers     "don't" (’ becomes '), "3:45", "1,000", "ua123"
 *   URLs                  "<url>" followed by the host ("t.co"; "www." dropped)
 *   @mentions, #hashtags  "@united", "#nothappy"
 *   emoji                 one token per pictograph; skin tones, VS16 and ZWJ dropped
 *   emoticons             ":)", ":-(", ":d", "<3", ";)", ...
 *   ellipsis              "..." for "..." (three or more dots) and for "…"
 *   ! and ?               a run of them becomes "!", "?" or "?!"
 *   CJK ideographs, kana  one token per character (no spaces to split on)
 * Invalid UTF-8 is replaced (U+FFFD, treated as a separator); no input can make
 * the tokenizer read outside [text, text+len) or write past its own buffers.
 * Stop words (optional) are removed and words stemmed with Snowball (optional);
 * both apply to plain words only, never to mentions, hashtags or URLs.
 *
 * Ownership: tok_t is created by tok_new and owned by the caller (tok_free).
 * It is not thread-safe (the stemmer keeps state): one per thread. tok_list_t
 * is caller-owned, reused across calls, released with tok_list_free. */
#ifndef TOK_H
#define TOK_H
#include "core/buf.h"
#include <stddef.h>
#include <stdint.h>

enum tok_kind {
    TOK_WORD = 1, TOK_NUM, TOK_MENTION, TOK_HASHTAG, TOK_URL, TOK_HOST,
    TOK_EMOJI, TOK_EMOTICON, TOK_ELLIPSIS, TOK_PUNCT, TOK_CJK,
};

/* Longest token kept, in bytes; longer ones are cut at a character boundary. */
#define TOK_MAX_BYTES 96

typedef struct tok_config {
    char stem[32];          /* "" for none, else a libstemmer algorithm ("english") */
    const char *stopwords;  /* newline-separated words, borrowed; NULL for none */
    size_t stopwords_len;
} tok_config_t;

typedef struct tok_span {
    uint32_t off, len;      /* into tok_list_t.text */
    uint8_t kind;           /* enum tok_kind */
} tok_span_t;

typedef struct tok_list {
    buf_t text;
    tok_span_t *v;
    size_t n, cap;
} tok_list_t;

typedef struct tok tok_t;

int tok_new(const tok_config_t *cfg, tok_t **out, char *err, size_t errlen);
void tok_free(tok_t *t);
/* Bytes t holds now (its stem cache grows with use, up to a bound). */
size_t tok_memory(const tok_t *t);

/* Tokenizes text[0..len) into out (cleared first). Returns 0 or TRI_ENOMEM. */
int tok_run(tok_t *t, const char *text, size_t len, tok_list_t *out);

void tok_list_free(tok_list_t *l);

/* The English stop-word list compiled in from conf/stopwords-en.txt. */
extern const char tok_stopwords_en[];
extern const size_t tok_stopwords_en_len;

/* Number of words in the stop-word set of t (for inspection and tests). */
size_t tok_stopword_count(const tok_t *t);

#endif
