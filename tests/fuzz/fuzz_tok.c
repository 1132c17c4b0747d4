/* libFuzzer harness: the tokenizer, with and without stemming and stop words,
 * then feature hashing. Every token must be valid UTF-8, non-empty, at most
 * TOK_MAX_BYTES, inside the token text, with a known kind. */
#include "codec/jscan.h"
#include "core/feat.h"
#include "core/tok.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const tok_list_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const tok_span_t *s = &l->v[i];
        if (!s->len || s->len > TOK_MAX_BYTES || (size_t)s->off + s->len > l->text.len || s->kind < TOK_WORD ||
            s->kind > TOK_CJK || !jscan_utf8_valid(l->text.p + s->off, s->len))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tok_t *plain, *english;
    static feat_config_t fc;
    if (!plain) {
        char err[256];
        tok_config_t a = {.stem = ""}, b = {.stem = "english", .stopwords = tok_stopwords_en,
                                            .stopwords_len = tok_stopwords_en_len};
        if (tok_new(&a, &plain, err, sizeof err) || tok_new(&b, &english, err, sizeof err))
            abort();
        fc = (feat_config_t){.ngram_min = 1, .ngram_max = 3, .bits = 18, .seed = 7, .mode = FEAT_COUNTS};
    }
    tok_list_t l = {0};
    feat_vec_t ids = {0};
    tok_t *ts[] = {plain, english};
    for (int i = 0; i < 2; i++) {
        if (tok_run(ts[i], (const char *)data, size, &l))
            continue;
        check(&l);
        if (!feat_extract(&fc, &l, &ids, 0))
            for (size_t k = 0; k < ids.n; k++)
                if (ids.id[k] >> fc.bits)
                    abort();
    }
    feat_vec_free(&ids);
    tok_list_free(&l);
    return 0;
}
