/* model — a loaded model's life (reference counting), its accessors, and the
 * checks the writer and the loader share. The format is described in
 * model_int.h; writing is model_write.c, loading model_load.c, scoring
 * model_score.c. */
#include "model_int.h"
#include "core/tri_err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

uint64_t model_file_checksum(const unsigned char *d, size_t n)
{
    XXH64_state_t st;
    static const unsigned char zero[8];
    XXH64_reset(&st, 0);
    XXH64_update(&st, d, 24);
    XXH64_update(&st, zero, 8);
    XXH64_update(&st, d + 32, n - 32);
    return XXH64_digest(&st);
}

int model_check_values(float temperature, const float *bias, uint32_t nlabels, const float *weights,
                       uint64_t nweights, char *err, size_t errlen)
{
    if (!(temperature >= MODEL_MIN_TEMPERATURE && temperature <= MODEL_MAX_TEMPERATURE))
        return tri_errf(err, errlen, TRI_EFORMAT, "temperature %g is outside [%g, %g]", (double)temperature,
                        (double)MODEL_MIN_TEMPERATURE, (double)MODEL_MAX_TEMPERATURE);
    for (uint32_t i = 0; i < nlabels; i++)
        if (!(fabsf(bias[i]) <= MODEL_MAX_ABS_WEIGHT))
            return tri_errf(err, errlen, TRI_EFORMAT, "bias of label %u (%g) is not a number within +-%g", i,
                            (double)bias[i], (double)MODEL_MAX_ABS_WEIGHT);
    for (uint64_t i = 0; i < nweights; i++) {
        int rc = model_check_weight(i, weights[i], err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

int model_label_ok(const char *s, size_t n)
{
    if (n < 1 || n > MODEL_MAX_LABEL_BYTES)
        return 0;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0 || cp < 0x20 || cp == 0x7F)
            return 0;
        i += (size_t)k;
    }
    return 1;
}

void model_destroy(model_t *m)
{
    if (!m)
        return;
    if (m->labels) {
        for (uint32_t i = 0; i < m->nlabels; i++)
            free(m->labels[i]);
        free(m->labels);
    }
    free((void *)m->row_bucket);
    free(m->floats_owned);
    free(m->fused);
    free((void *)m->tok.stopwords);
    if (m->meta)
        json_decref(m->meta);
    free((void *)m->data);
    free(m);
}

const char *model_fault_name(model_fault_t f)
{
    static const char *const names[] = {"none", "not_a_model", "version", "truncated", "checksum", "invalid"};
    return (unsigned)f < sizeof names / sizeof *names ? names[f] : "invalid";
}

model_t *model_ref(model_t *m)
{
    __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
    return m;
}

void model_unref(model_t *m)
{
    if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0)
        model_destroy(m);
}

uint32_t model_nlabels(const model_t *m) { return m->nlabels; }
const char *model_label(const model_t *m, uint32_t i) { return i < m->nlabels ? m->labels[i] : "?"; }
const tok_config_t *model_tok_config(const model_t *m) { return &m->tok; }
const feat_config_t *model_feat_config(const model_t *m) { return &m->feat; }
float model_temperature(const model_t *m) { return m->temperature; }
uint32_t model_nrows(const model_t *m) { return m->nrows; }
size_t model_bytes(const model_t *m) { return m->size; }
size_t model_index_bytes(const model_t *m) { return ((size_t)m->fused_mask + 1) * m->fused_stride; }
size_t model_memory(const model_t *m) { return m->held + model_index_bytes(m); }
uint64_t model_checksum(const model_t *m) { return m->checksum; }
json_t *model_meta(const model_t *m) { return m->meta; }
const float *model_bias(const model_t *m) { return m->bias; }
const float *model_idf(const model_t *m) { return m->idf; }
float model_review_below(const model_t *m) { return m->review_below; }
const float *model_decision(const model_t *m) { return m->decision; }
uint32_t model_format_version(const model_t *m) { return m->version; }

int model_weights_q8(const model_t *m) { return m->wq8; }

int model_label_index(const model_t *m, const char *name)
{
    for (uint32_t i = 0; i < m->nlabels; i++)
        if (!strcmp(m->labels[i], name))
            return (int)i;
    return -1;
}

int model_row(const model_t *m, uint32_t row, uint32_t *bucket, float *w)
{
    if (row >= m->nrows)
        return -1;
    if (bucket)
        *bucket = m->row_bucket[row];
    if (w)
        model_row_weights(m, row, w);
    return 0;
}
