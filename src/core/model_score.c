/* model_score — the fused scoring index built at load and the scorer over it
 * (hot path: one cache line per known feature). */
#include "model_int.h"
#include "core/tri_err.h"

#include <math.h>
#include <string.h>
#include <stdlib.h>

int model_build_index(model_t *m)
{
    uint64_t cap = 16;
    while (cap < (uint64_t)m->nrows * 2 + 1)
        cap *= 2;
    size_t L = m->nlabels;
    m->fused_w = (m->idf ? 8 : 4) + (m->wq8 ? 4 : 0);
    m->fused_stride = m->wq8 ? (m->fused_w + L + 3) & ~(size_t)3 : m->fused_w + 4 * L;
    m->fused = calloc(cap, m->fused_stride);
    if (!m->fused)
        return TRI_ENOMEM;
    m->fused_mask = (uint32_t)(cap - 1);
    for (uint32_t r = 0; r < m->nrows; r++) {
        uint32_t b = m->row_bucket[r], key = b + 1;
        size_t i = b & m->fused_mask;
        while (*(uint32_t *)(m->fused + i * m->fused_stride))
            i = (i + 1) & m->fused_mask;
        for (size_t k = b & m->fused_mask;; k = (k + 1) & m->fused_mask) {
            uint32_t e;
            memcpy(&e, m->fused + k * m->fused_stride, 4);
            if (!e)
                break;
            if (e == key)
                return TRI_EFORMAT; /* two rows for one bucket: ambiguous */
        }
        unsigned char *slot = m->fused + i * m->fused_stride;
        memcpy(slot, &key, 4);
        if (m->idf)
            memcpy(slot + 4, &m->idf[r], 4);
        if (m->wq8) {
            /* WGHT: nrows f32 scales, then nrows * nlabels int8 */
            memcpy(slot + m->fused_w - 4, m->wght + (size_t)r * 4, 4);
            memcpy(slot + m->fused_w, m->wght + (size_t)m->nrows * 4 + (size_t)r * L, L);
        } else {
            memcpy(slot + m->fused_w, m->weights + (size_t)r * L, 4 * L);
        }
    }
    return 0;
}


/* Finds bucket id's slot in the fused index, or NULL. */
static inline const unsigned char *find_slot(const model_t *m, uint32_t id)
{
    uint32_t key = id + 1, mask = m->fused_mask;
    for (uint32_t i = id & mask;; i = (i + 1) & mask) {
        const unsigned char *slot = m->fused + i * m->fused_stride;
        uint32_t e;
        memcpy(&e, slot, 4);
        if (e == key)
            return slot;
        if (!e)
            return NULL;
    }
}

/* scores += v * the slot's weights. An int8 weight is expanded as the
 * loader expanded it ((float)q * scale), so the sums are the f32 ones. */
static inline void add_slot(const model_t *m, const unsigned char *slot, float v, float *scores)
{
    uint32_t L = m->nlabels;
    if (m->wq8) {
        float f;
        memcpy(&f, slot + m->fused_w - 4, 4);
        const int8_t *q = (const int8_t *)(slot + m->fused_w);
        for (uint32_t c = 0; c < L; c++)
            scores[c] += v * ((float)q[c] * f);
    } else {
        const float *w = (const float *)(slot + m->fused_w);
        for (uint32_t c = 0; c < L; c++)
            scores[c] += v * w[c];
    }
}

void model_row_weights(const model_t *m, uint32_t r, float *w)
{
    const unsigned char *slot = find_slot(m, m->row_bucket[r]);
    memset(w, 0, m->nlabels * sizeof *w);
    if (slot)
        add_slot(m, slot, 1.0f, w);
}

void model_score(const model_t *m, const uint32_t *ids, size_t n, float *scores, uint32_t *nknown)
{
    feat_vec_t fv = {.id = (uint32_t *)ids, .n = n};
    model_score_vec(m, &fv, scores, nknown);
}

void model_score_vec(const model_t *m, const feat_vec_t *fv, float *scores, uint32_t *nknown)
{
    uint32_t L = m->nlabels, known = 0, mask = m->fused_mask;
    size_t stride = m->fused_stride, n = fv->n;
    const uint32_t *ids = fv->id;
    const unsigned char *tab = m->fused;
    /* The index is larger than cache: start every slot's load before the
     * first probe so the misses overlap instead of queueing. */
    for (size_t k = 0; k < n; k++)
        __builtin_prefetch(tab + (ids[k] & mask) * stride);
    if (m->feat.mode != FEAT_SUBLINEAR) {
        memcpy(scores, m->bias, L * sizeof *scores);
        for (size_t k = 0; k < n; k++) {
            const unsigned char *slot = find_slot(m, ids[k]);
            if (!slot)
                continue;
            add_slot(m, slot, 1.0f, scores);
            known++;
        }
    } else {
        /* Values (1 + ln tf) * idf; with l2 each family (words, characters)
         * is normalised over its known features. Characters first, scaled;
         * then the (few) words: their norm is taken in a first pass so no
         * second accumulator is needed. */
        uint32_t charbit = m->feat.char_max ? 1u << (m->feat.bits - 1) : 0;
        float norm2 = 0, wnorm2 = 0;
        memset(scores, 0, L * sizeof *scores);
        for (size_t k = 0; k < n; k++) {
            float v = fv->cnt && fv->cnt[k] > 1 ? 1.0f + logf((float)fv->cnt[k]) : 1.0f;
            const unsigned char *slot = find_slot(m, ids[k]);
            if (!slot)
                continue;
            known++;
            if (m->idf) {
                float idf;
                memcpy(&idf, slot + 4, 4);
                v *= idf;
            }
            if (charbit && !(ids[k] & charbit)) {
                wnorm2 += v * v;
                continue;
            }
            norm2 += v * v;
            add_slot(m, slot, v, scores);
        }
        float scale = m->feat.l2 && norm2 > 0 ? 1.0f / sqrtf(norm2) : 1.0f;
        for (uint32_t c = 0; c < L; c++)
            scores[c] *= scale;
        if (charbit && wnorm2 > 0) {
            float ws = m->feat.l2 ? 1.0f / sqrtf(wnorm2) : 1.0f;
            for (size_t k = 0; k < n; k++) {
                if (ids[k] & charbit)
                    continue;
                const unsigned char *slot = find_slot(m, ids[k]);
                if (!slot)
                    continue;
                float v = (fv->cnt && fv->cnt[k] > 1 ? 1.0f + logf((float)fv->cnt[k]) : 1.0f) * ws;
                if (m->idf) {
                    float idf;
                    memcpy(&idf, slot + 4, 4);
                    v *= idf;
                }
                add_slot(m, slot, v, scores);
            }
        }
        for (uint32_t c = 0; c < L; c++)
            scores[c] += m->bias[c];
    }
    if (nknown)
        *nknown = known;
}

void model_probs(const model_t *m, const float *scores, float *probs)
{
    uint32_t L = m->nlabels;
    float inv = 1.0f / m->temperature, mx = -INFINITY;
    for (uint32_t c = 0; c < L; c++)
        if (scores[c] > mx)
            mx = scores[c];
    float sum = 0;
    for (uint32_t c = 0; c < L; c++) {
        probs[c] = expf((scores[c] - mx) * inv);
        sum += probs[c];
    }
    for (uint32_t c = 0; c < L; c++)
        probs[c] /= sum;
}
