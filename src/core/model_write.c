/* model_write — a model spec into the file format of model_int.h, and the
 * atomic save of a file image. */
#include "model_int.h"
#include "core/tri_err.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void wr32(buf_t *b, uint32_t v) { buf_append(b, &v, 4); }
static void wr64(buf_t *b, uint64_t v) { buf_append(b, &v, 8); }
static void pad8(buf_t *b, size_t base)
{
    static const char z[8];
    size_t rem = (b->len - base) % 8;
    if (rem)
        buf_append(b, z, 8 - rem);
}

static int table_cap_for(uint32_t nrows, uint32_t *cap)
{
    uint64_t c = 16;
    while (c < (uint64_t)nrows * 2 + 1)
        c *= 2;
    if (c > (1u << 31))
        return TRI_ERANGE;
    *cap = (uint32_t)c;
    return 0;
}

/* Everything the format promises about values, checked before a byte is
 * written; *cap is the hash table's capacity. */
static int write_check(const model_spec_t *sp, uint32_t *cap, char *err, size_t errlen)
{
    int rc = feat_config_check(&sp->feat, err, errlen);
    if (rc)
        return rc;
    if (sp->nlabels < 1 || sp->nlabels > MODEL_MAX_LABELS)
        return tri_errf(err, errlen, TRI_EINVAL, "label count %u out of range", sp->nlabels);
    if (model_check_values(sp->temperature, sp->bias, sp->nlabels, sp->weights, (uint64_t)sp->nrows * sp->nlabels,
                           err, errlen))
        return TRI_EINVAL;
    for (uint32_t i = 0; i < sp->nlabels; i++)
        if (!model_label_ok(sp->labels[i], strlen(sp->labels[i])))
            return tri_errf(err, errlen, TRI_EINVAL, "label %u is empty, too long, or not printable UTF-8", i);
    if (strlen(sp->tok.stem) >= 32)
        return tri_errf(err, errlen, TRI_EINVAL, "stemmer name too long");
    if (table_cap_for(sp->nrows, cap))
        return tri_errf(err, errlen, TRI_ERANGE, "too many feature rows (%u)", sp->nrows);
    if (!(sp->review_below >= 0 && sp->review_below <= 1))
        return tri_errf(err, errlen, TRI_EINVAL, "review threshold %g is not in [0,1]", (double)sp->review_below);
    if (sp->feat.idf && !sp->idf && sp->nrows)
        return tri_errf(err, errlen, TRI_EINVAL, "IDF weights missing");
    for (uint32_t r = 0; sp->feat.idf && r < sp->nrows; r++)
        if (!(sp->idf[r] > 0) || !isfinite(sp->idf[r]))
            return tri_errf(err, errlen, TRI_EINVAL, "IDF weight of row %u is not positive", r);
    for (uint32_t c = 0; sp->decision && c < sp->nlabels; c++)
        if (!isfinite(sp->decision[c]))
            return tri_errf(err, errlen, TRI_EINVAL, "decision offset %u is not finite", c);
    size_t meta_len = strlen(sp->meta_json ? sp->meta_json : "{}");
    if (meta_len > MODEL_MAX_META_BYTES)
        return tri_errf(err, errlen, TRI_ERANGE, "metadata too large (%zu bytes)", meta_len);
    return 0;
}

/* The TABL slots {bucket+1, row} with linear probing (*out: cap * 2 entries,
 * the caller's to free). */
static int write_slots(const model_spec_t *sp, uint32_t cap, uint32_t **out, char *err, size_t errlen)
{
    uint32_t *slots = calloc((size_t)cap * 2, sizeof *slots);
    *out = slots;
    if (!slots)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    uint32_t mask = cap - 1;
    for (uint32_t r = 0; r < sp->nrows; r++) {
        uint32_t b = sp->buckets[r];
        if (b >> sp->feat.bits) {
            free(slots);
            *out = NULL;
            return tri_errf(err, errlen, TRI_EINVAL, "bucket %u out of range for %u bits", b, sp->feat.bits);
        }
        uint32_t i = b & mask;
        while (slots[2 * i]) {
            if (slots[2 * i] == b + 1) {
                free(slots);
                *out = NULL;
                return tri_errf(err, errlen, TRI_EINVAL, "bucket %u appears twice", b);
            }
            i = (i + 1) & mask;
        }
        slots[2 * i] = b + 1;
        slots[2 * i + 1] = r;
    }
    return 0;
}

/* int8 weights: one scale per row, its largest |weight| / 127 (a row's
 * weights are of one size; a label's span the rare and the common n-grams,
 * and a scale per label left the small ones 1 or 2 steps). *scale (nrows)
 * and *q8 (nrows * nlabels) are the caller's to free. */
static int quantise(const model_spec_t *sp, float **scale, int8_t **q8, char *err, size_t errlen)
{
    *scale = malloc(((size_t)sp->nrows + 1) * sizeof **scale);
    *q8 = malloc((size_t)sp->nrows * sp->nlabels + 1);
    if (!*scale || !*q8)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    for (uint32_t r = 0; r < sp->nrows; r++) {
        const float *w = sp->weights + (size_t)r * sp->nlabels;
        float mx = 0;
        for (uint32_t c = 0; c < sp->nlabels; c++)
            mx = fmaxf(mx, fabsf(w[c]));
        float sc = mx > 0 ? mx / 127.0f : 1.0f;
        (*scale)[r] = sc;
        for (uint32_t c = 0; c < sp->nlabels; c++) {
            long q = lrintf(w[c] / sc);
            (*q8)[(size_t)r * sp->nlabels + c] = (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
        }
    }
    return 0;
}

typedef struct wq8 {
    float *scale;
    int8_t *q;
} wq8_t;

/* Appends section s's bytes. */
static void write_section(buf_t *out, const model_spec_t *sp, int s, uint32_t cap, const uint32_t *slots,
                          const wq8_t *q8)
{
    static const char z[64];
    size_t stop_len = sp->tok.stopwords ? sp->tok.stopwords_len : 0;
    const char *meta = sp->meta_json ? sp->meta_json : "{}";
    switch (s) {
    case SEC_CONF: {
        wr32(out, TOK_ALGO_VERSION);
        wr32(out, FEAT_HASH_VERSION);
        wr32(out, sp->feat.ngram_min);
        wr32(out, sp->feat.ngram_max);
        wr32(out, sp->feat.bits);
        wr32(out, sp->feat.mode);
        wr64(out, sp->feat.seed);
        wr32(out, sp->nlabels);
        buf_append(out, &sp->temperature, 4);
        wr32(out, (uint32_t)stop_len);
        wr32(out, 0);
        char stem[32] = {0};
        memcpy(stem, sp->tok.stem, strlen(sp->tok.stem));
        buf_append(out, stem, 32);
        buf_append(out, z, CONF_SIZE - 80);
        break;
    }
    case SEC_STOP:
        buf_append(out, sp->tok.stopwords, stop_len);
        break;
    case SEC_LABL:
        for (uint32_t i = 0; i < sp->nlabels; i++) {
            size_t n = strlen(sp->labels[i]);
            wr32(out, (uint32_t)n);
            buf_append(out, sp->labels[i], n);
        }
        break;
    case SEC_BIAS:
        buf_append(out, sp->bias, (size_t)sp->nlabels * 4);
        break;
    case SEC_TABL:
        wr32(out, cap);
        wr32(out, sp->nrows);
        buf_append(out, slots, (size_t)cap * 8);
        break;
    case SEC_WGHT:
        if (q8->q) {
            buf_append(out, q8->scale, (size_t)sp->nrows * 4);
            buf_append(out, q8->q, (size_t)sp->nrows * sp->nlabels);
        } else {
            buf_append(out, sp->weights, (size_t)sp->nrows * sp->nlabels * 4);
        }
        break;
    case SEC_META:
        buf_append(out, meta, strlen(meta));
        break;
    case SEC_SETT:
        wr32(out, SET_FEAT);
        wr32(out, SET_REQUIRED);
        wr32(out, 16);
        wr32(out, sp->feat.char_min);
        wr32(out, sp->feat.char_max);
        wr32(out, sp->feat.idf);
        wr32(out, sp->feat.l2);
        if (sp->review_below > 0) {
            wr32(out, SET_REVIEW);
            wr32(out, 0);
            wr32(out, 4);
            buf_append(out, &sp->review_below, 4);
        }
        if (sp->decision) {
            wr32(out, SET_DECISION);
            wr32(out, SET_REQUIRED);
            wr32(out, sp->nlabels * 4);
            buf_append(out, sp->decision, (size_t)sp->nlabels * 4);
        }
        if (q8->q) {
            wr32(out, SET_WQ8);
            wr32(out, SET_REQUIRED);
            wr32(out, 0);
        }
        break;
    case SEC_IDFW:
        buf_append(out, sp->idf, (size_t)sp->nrows * 4);
        break;
    }
}

int model_write(const model_spec_t *sp, buf_t *out, char *err, size_t errlen)
{
    uint32_t cap = 0, *slots = NULL;
    int rc = write_check(sp, &cap, err, errlen);
    if (rc)
        return rc;
    if ((rc = write_slots(sp, cap, &slots, err, errlen)))
        return rc;
    wq8_t q8 = {NULL, NULL};
    if (sp->weights_q8 && (rc = quantise(sp, &q8.scale, &q8.q, err, errlen))) {
        free(q8.scale);
        free(q8.q);
        free(slots);
        return rc;
    }

    size_t base = out->len;
    size_t table_off = base + HDR_SIZE;
    /* Header (file size and checksum patched at the end). */
    buf_append(out, MAGIC, 8);
    wr32(out, MODEL_FORMAT_VERSION);
    wr32(out, HDR_SIZE);
    wr64(out, 0);
    wr64(out, 0);
    int nsec = sp->feat.idf ? SEC_COUNT : SEC_COUNT - 1;
    wr32(out, (uint32_t)nsec);
    static const char z[64];
    buf_append(out, z, 28);
    for (int s = 0; s < nsec; s++)
        buf_append(out, z, SEC_ENTRY);
    pad8(out, base);

    uint64_t offs[SEC_COUNT + 1], lens[SEC_COUNT + 1];
    for (int s = 1; s <= nsec; s++) {
        pad8(out, base);
        size_t start = out->len;
        write_section(out, sp, s, cap, slots, &q8);
        offs[s] = start - base;
        lens[s] = out->len - start;
    }
    free(slots);
    free(q8.scale);
    free(q8.q);
    if (out->oom)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    unsigned char *h = (unsigned char *)out->p + base;
    for (int s = 1; s <= nsec; s++) {
        unsigned char *e = (unsigned char *)out->p + table_off + (size_t)(s - 1) * SEC_ENTRY;
        uint32_t id = (uint32_t)s, zero = 0;
        memcpy(e, &id, 4);
        memcpy(e + 4, &zero, 4);
        memcpy(e + 8, &offs[s], 8);
        memcpy(e + 16, &lens[s], 8);
    }
    uint64_t size = out->len - base;
    memcpy(h + 16, &size, 8);
    uint64_t sum = model_file_checksum(h, size);
    memcpy(h + 24, &sum, 8);
    return 0;
}

int model_save_file(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (!tmp)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = tri_errf(err, errlen, TRI_EIO, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = tri_errf(err, errlen, TRI_EIO, "%s: write: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            goto out;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) || close(fd)) {
        rc = tri_errf(err, errlen, TRI_EIO, "%s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path)) {
        rc = tri_errf(err, errlen, TRI_EIO, "rename to %s: %s", path, strerror(errno));
        unlink(tmp);
    }
out:
    free(tmp);
    return rc;
}
