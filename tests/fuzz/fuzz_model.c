/* libFuzzer harness: the model loader, then the scorer on what it accepts.
 *
 * A random mutation almost never keeps the XXH64 checksum right, so the
 * harness first writes the input's real size and checksum into its header:
 * the fuzzer then explores the section, value and table checks instead of
 * stopping at the checksum (which the unit tests cover). Whatever loads must
 * score any text to finite raw scores and to probabilities in [0, 1]. */
#include "core/clf.h"
#include "core/model.h"
#include "core/tri_err.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const texts[] = {
    "my flight was delayed three hours and nobody helped",
    "thanks @united for the upgrade :) #happy http://t.co/x",
    "", "the the the and and", "😡😡 ... ?! 1,000 ua123 飛行機",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *f = malloc(size ? size : 1);
    if (!f)
        return 0;
    memcpy(f, data, size);
    if (size >= 64) {
        uint64_t n = size, zero = 0;
        memcpy(f + 16, &n, 8);
        memcpy(f + 24, &zero, 8);
        uint64_t sum = XXH64(f, size, 0);
        memcpy(f + 24, &sum, 8);
    }
    model_t *m = NULL;
    char err[TRI_ERRLEN];
    if (model_load_mem(f, size, &m, err, sizeof err)) {
        free(f);
        return 0;
    }
    free(f);
    clf_t *c = NULL;
    if (!clf_new(m, &c, err, sizeof err)) {
        for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
            clf_result_t r;
            if (clf_classify(c, texts[i], strlen(texts[i]), &r))
                continue;
            if (r.label >= model_nlabels(m) || !(r.score >= 0.0f && r.score <= 1.0f))
                abort();
            for (uint32_t k = 0; k < model_nlabels(m); k++)
                if (!isfinite(r.raw[k]))
                    abort();
        }
        clf_free(c);
    }
    for (uint32_t row = 0; row < model_nrows(m); row++) {
        uint32_t bucket;
        if (model_row(m, row, &bucket, NULL) || bucket >> model_feat_config(m)->bits)
            abort();
    }
    clf_probe(m, err, sizeof err);
    model_unref(m);
    return 0;
}
