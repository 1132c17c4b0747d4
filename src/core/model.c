/* Model file format, version 2 (version 1 files still load: they are version 2
 * without SETT and IDFW, i.e. presence/counts features, no character n-grams,
 * no review threshold). All integers and floats little-endian; floats are
 * IEEE-754 binary32.
 *
 *   offset  size  field
 *   0       8     magic "TRIAGEMD"
 *   8       4     format version (2; 1 accepted)
 *   12      4     header size (64)
 *   16      8     file size in bytes (must equal the real size)
 *   24      8     checksum: XXH64 (seed 0) of the whole file with these 8 bytes zeroed
 *   32      4     section count N (1..16)
 *   36      28    reserved, zero
 *   64      24*N  section table: {u32 id, u32 reserved (0), u64 offset, u64 length}
 *   ...           sections, each starting on an 8-byte boundary, zero padding between
 *
 * Sections (each exactly once):
 *   1 CONF  128 bytes: u32 tok_algo_version, u32 feat_hash_version, u32 ngram_min,
 *           u32 ngram_max, u32 bits, u32 mode (0 presence, 1 counts), u64 seed,
 *           u32 nlabels, f32 temperature, u32 stopwords_bytes, u32 reserved,
 *           char stem[32] (NUL-terminated, "" for none), 48 reserved zero bytes
 *   2 STOP  the stop-word list (UTF-8 words separated by '\n'); length = stopwords_bytes
 *   3 LABL  nlabels entries {u32 length, bytes}; 1..256 bytes of UTF-8 without control
 *           characters; names unique
 *   4 BIAS  nlabels f32
 *   5 TABL  u32 capacity (a power of two), u32 nrows, then capacity slots
 *           {u32 bucket+1 (0: empty), u32 row}; linear probing from slot bucket & (capacity-1);
 *           nrows < capacity, exactly nrows slots used, rows distinct and < nrows
 *   6 WGHT  nrows * nlabels f32, row-major
 *   7 META  a JSON object (training time, data digest, counts, metrics, probes, top features)
 *   8 SETT  (version 2, required) settings the scorer applies, as entries
 *           {u32 key, u32 flags, u32 length, length bytes, zero padding to 4}; keys ascending,
 *           each at most once. flags bit 0 = required: a reader that does not know the key
 *           refuses the model (it would score differently); unknown keys without it are skipped.
 *           Other flag bits are zero. Keys:
 *             1 FEAT     required, 16 bytes: u32 char_min, u32 char_max, u32 idf, u32 l2
 *             2 REVIEW   4 bytes: f32 review threshold in (0,1]: records whose top score is below
 *                        it are marked for review
 *             3 DECISION required, nlabels f32: offsets added to score/temperature when choosing
 *                        the label (cost-weighted decisions); probabilities are not changed
 *           New settings (text preparation, language mix, ...) take the next key numbers.
 *   9 IDFW  (present exactly when FEAT says idf) nrows f32 > 0: each row's IDF weight
 *
 * The loader checks all of the above, and the value ranges of model.h (one
 * place: check_values, shared with the writer), before any of it is used. */
#include "core/model.h"
#include "core/tri_err.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the model format maps little-endian data in place; port model.c before building on big-endian"
#endif

#define MAGIC "TRIAGEMD"
#define HDR_SIZE 64
#define SEC_ENTRY 24
#define MAX_SECTIONS 16
#define CONF_SIZE 128

enum { SEC_CONF = 1, SEC_STOP, SEC_LABL, SEC_BIAS, SEC_TABL, SEC_WGHT, SEC_META, SEC_SETT, SEC_IDFW,
       SEC_COUNT = SEC_IDFW, SEC_COUNT_V1 = SEC_META };
static const char *const sec_names[] = {"", "CONF", "STOP", "LABL", "BIAS", "TABL", "WGHT", "META", "SETT", "IDFW"};
enum { SET_FEAT = 1, SET_REVIEW = 2, SET_DECISION = 3 };
#define SET_REQUIRED 1u

struct model {
    int refs;
    const unsigned char *data;  /* owned: the file image (malloc'd) */
    size_t size;
    uint64_t checksum;
    tok_config_t tok;
    feat_config_t feat;
    float temperature;
    uint32_t nlabels;
    char **labels;        /* owned array of owned strings */
    const float *bias;
    uint32_t cap_mask;
    const uint32_t *table;
    uint32_t nrows;
    const float *weights;
    const float *idf;          /* nrows, or NULL */
    float review_below;        /* 0: none */
    const float *decision;     /* nlabels, or NULL */
    uint64_t decision_len;
    uint32_t set_feat[4];      /* FEAT setting as read */
    uint32_t version;
    const uint32_t *row_bucket; /* owned: bucket of each row, for iteration */
    json_t *meta;
    /* Scoring index built at load: each slot holds the bucket+1 and the row's
     * weights side by side, so a lookup touches one cache line, not two. */
    unsigned char *fused;
    size_t fused_stride;       /* bytes per slot: 4 (key) [+ 4 (idf)] + 4 * nlabels */
    size_t fused_w;            /* offset of the weights in a slot */
    uint32_t fused_mask;
};

static inline uint32_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void wr32(buf_t *b, uint32_t v) { buf_append(b, &v, 4); }
static void wr64(buf_t *b, uint64_t v) { buf_append(b, &v, 8); }
static void pad8(buf_t *b, size_t base)
{
    static const char z[8];
    size_t rem = (b->len - base) % 8;
    if (rem)
        buf_append(b, z, 8 - rem);
}

static uint64_t file_checksum(const unsigned char *d, size_t n)
{
    XXH64_state_t st;
    static const unsigned char zero[8];
    XXH64_reset(&st, 0);
    XXH64_update(&st, d, 24);
    XXH64_update(&st, zero, 8);
    XXH64_update(&st, d + 32, n - 32);
    return XXH64_digest(&st);
}

/* The value ranges of model.h, checked by the writer and the loader alike
 * (the loader checks nothing about values anywhere else). */
static int check_values(float temperature, const float *bias, uint32_t nlabels, const float *weights, uint64_t nweights,
                        char *err, size_t errlen)
{
    if (!(temperature >= MODEL_MIN_TEMPERATURE && temperature <= MODEL_MAX_TEMPERATURE))
        return tri_errf(err, errlen, TRI_EFORMAT, "temperature %g is outside [%g, %g]", (double)temperature,
                        (double)MODEL_MIN_TEMPERATURE, (double)MODEL_MAX_TEMPERATURE);
    for (uint32_t i = 0; i < nlabels; i++)
        if (!(fabsf(bias[i]) <= MODEL_MAX_ABS_WEIGHT))
            return tri_errf(err, errlen, TRI_EFORMAT, "bias of label %u (%g) is not a number within +-%g", i,
                            (double)bias[i], (double)MODEL_MAX_ABS_WEIGHT);
    for (uint64_t i = 0; i < nweights; i++)
        if (!(fabsf(weights[i]) <= MODEL_MAX_ABS_WEIGHT))
            return tri_errf(err, errlen, TRI_EFORMAT, "weight %llu (%g) is not a number within +-%g",
                            (unsigned long long)i, (double)weights[i], (double)MODEL_MAX_ABS_WEIGHT);
    return 0;
}

/* ---- writer ---- */

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

int model_write(const model_spec_t *sp, buf_t *out, char *err, size_t errlen)
{
    int rc = feat_config_check(&sp->feat, err, errlen);
    if (rc)
        return rc;
    if (sp->nlabels < 1 || sp->nlabels > MODEL_MAX_LABELS)
        return tri_errf(err, errlen, TRI_EINVAL, "label count %u out of range", sp->nlabels);
    if (check_values(sp->temperature, sp->bias, sp->nlabels, sp->weights, (uint64_t)sp->nrows * sp->nlabels, err,
                     errlen))
        return TRI_EINVAL;
    for (uint32_t i = 0; i < sp->nlabels; i++)
        if (!model_label_ok(sp->labels[i], strlen(sp->labels[i])))
            return tri_errf(err, errlen, TRI_EINVAL, "label %u is empty, too long, or not printable UTF-8", i);
    if (strlen(sp->tok.stem) >= 32)
        return tri_errf(err, errlen, TRI_EINVAL, "stemmer name too long");
    uint32_t cap;
    if (table_cap_for(sp->nrows, &cap))
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
    const char *meta = sp->meta_json ? sp->meta_json : "{}";
    size_t meta_len = strlen(meta);
    if (meta_len > MODEL_MAX_META_BYTES)
        return tri_errf(err, errlen, TRI_ERANGE, "metadata too large (%zu bytes)", meta_len);

    uint32_t *slots = calloc((size_t)cap * 2, sizeof *slots);
    if (!slots)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    uint32_t mask = cap - 1;
    for (uint32_t r = 0; r < sp->nrows; r++) {
        uint32_t b = sp->buckets[r];
        if (b >> sp->feat.bits) {
            free(slots);
            return tri_errf(err, errlen, TRI_EINVAL, "bucket %u out of range for %u bits", b, sp->feat.bits);
        }
        uint32_t i = b & mask;
        while (slots[2 * i]) {
            if (slots[2 * i] == b + 1) {
                free(slots);
                return tri_errf(err, errlen, TRI_EINVAL, "bucket %u appears twice", b);
            }
            i = (i + 1) & mask;
        }
        slots[2 * i] = b + 1;
        slots[2 * i + 1] = r;
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
    size_t stop_len = sp->tok.stopwords ? sp->tok.stopwords_len : 0;
    for (int s = 1; s <= nsec; s++) {
        pad8(out, base);
        size_t start = out->len;
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
            buf_append(out, sp->weights, (size_t)sp->nrows * sp->nlabels * 4);
            break;
        case SEC_META:
            buf_append(out, meta, meta_len);
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
            break;
        case SEC_IDFW:
            buf_append(out, sp->idf, (size_t)sp->nrows * 4);
            break;
        }
        offs[s] = start - base;
        lens[s] = out->len - start;
    }
    free(slots);
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
    uint64_t sum = file_checksum(h, size);
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

/* ---- loader ---- */

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

static void model_destroy(model_t *m)
{
    if (!m)
        return;
    if (m->labels) {
        for (uint32_t i = 0; i < m->nlabels; i++)
            free(m->labels[i]);
        free(m->labels);
    }
    free((void *)m->row_bucket);
    free(m->fused);
    free((void *)m->tok.stopwords);
    if (m->meta)
        json_decref(m->meta);
    free((void *)m->data);
    free(m);
}

/* A malformed file: BADF says which kind of fault, for callers that count
 * refusals by reason; BAD is any other malformation. */
#define BADF(f, ...) do { *fault = (f); rc = tri_errf(err, errlen, TRI_EFORMAT, __VA_ARGS__); goto fail; } while (0)
#define BAD(...) BADF(MODEL_FAULT_INVALID, __VA_ARGS__)

/* SETT: the entries, checked one by one; FEAT must be there. */
static int parse_settings(model_t *m, const unsigned char *p, uint64_t left, model_fault_t *fault, char *err,
                          size_t errlen)
{
    int rc = 0, have_feat = 0;
    uint32_t last = 0;
    while (left) {
        if (left < 12)
            BADF(MODEL_FAULT_TRUNCATED, "SETT section truncated");
        uint32_t key = rd32(p), flags = rd32(p + 4), len = rd32(p + 8);
        uint64_t padded = ((uint64_t)len + 3) & ~(uint64_t)3;
        p += 12;
        left -= 12;
        if (padded > left)
            BAD("setting %u runs past the SETT section", key);
        if (key <= last)
            BAD("settings out of order or repeated at key %u", key);
        if (flags & ~SET_REQUIRED)
            BAD("setting %u has unknown flags %#x", key, flags);
        for (uint64_t i = len; i < padded; i++)
            if (p[i])
                BAD("setting %u: padding not zero", key);
        last = key;
        switch (key) {
        case SET_FEAT:
            if (len != 16)
                BAD("FEAT setting is %u bytes, expected 16", len);
            for (int i = 0; i < 4; i++)
                m->set_feat[i] = rd32(p + 4 * i);
            have_feat = 1;
            break;
        case SET_REVIEW:
            if (len != 4)
                BAD("REVIEW setting is %u bytes, expected 4", len);
            memcpy(&m->review_below, p, 4);
            if (!(m->review_below > 0 && m->review_below <= 1))
                BAD("review threshold is not in (0,1]");
            break;
        case SET_DECISION:
            m->decision = (const float *)p;
            m->decision_len = len;
            for (uint32_t i = 0; i < len / 4; i++)
                if (!isfinite(m->decision[i]))
                    BAD("decision offset %u is not finite", i);
            break;
        default:
            if (flags & SET_REQUIRED)
                BAD("model needs setting %u, which this build does not know: upgrade triage", key);
        }
        p += padded;
        left -= padded;
    }
    if (!have_feat)
        BAD("SETT section lacks the FEAT setting");
fail:
    return rc;
}

/* Validates m->data[0..size) and fills the views. On failure the caller
 * destroys m. One function on purpose, over the usual length: it is the
 * file format read top to bottom, each check guarding the reads after it;
 * split up, the half-validated views would have to travel between pieces. */
static int parse(model_t *m, model_fault_t *fault, char *err, size_t errlen)
{
    const unsigned char *d = m->data;
    size_t size = m->size;
    int rc = 0;
    if (size < HDR_SIZE)
        BADF(MODEL_FAULT_TRUNCATED, "truncated: %zu bytes, the header alone is %d", size, HDR_SIZE);
    if (memcmp(d, MAGIC, 8))
        BADF(MODEL_FAULT_NOT_A_MODEL, "not a triage model (bad magic)");
    uint32_t ver = rd32(d + 8);
    if (ver != MODEL_FORMAT_VERSION && ver != 1)
        BADF(MODEL_FAULT_VERSION, "model format version %u is not supported (this build reads versions 1 and %d%s)", ver,
            MODEL_FORMAT_VERSION, ver > MODEL_FORMAT_VERSION ? "; upgrade triage to use this model" : "");
    m->version = ver;
    int maxsec = ver == 1 ? SEC_COUNT_V1 : SEC_COUNT;
    if (rd32(d + 12) != HDR_SIZE)
        BAD("bad header size %u", rd32(d + 12));
    uint64_t fsize = rd64(d + 16);
    if (fsize != size)
        BADF(MODEL_FAULT_TRUNCATED, "%s: header says %llu bytes, file has %zu", fsize > size ? "truncated" : "trailing data",
            (unsigned long long)fsize, size);
    m->checksum = rd64(d + 24);
    if (file_checksum(d, size) != m->checksum)
        BADF(MODEL_FAULT_CHECKSUM, "checksum mismatch (file corrupted)");
    uint32_t nsec = rd32(d + 32);
    if (nsec < 1 || nsec > MAX_SECTIONS)
        BAD("bad section count %u", nsec);
    for (int i = 36; i < HDR_SIZE; i++)
        if (d[i])
            BAD("reserved header bytes are not zero");
    size_t table_end = HDR_SIZE + (size_t)nsec * SEC_ENTRY;
    if (table_end > size)
        BADF(MODEL_FAULT_TRUNCATED, "truncated section table");

    const unsigned char *sec[SEC_COUNT + 1] = {0};
    uint64_t slen[SEC_COUNT + 1] = {0};
    for (uint32_t i = 0; i < nsec; i++) {
        const unsigned char *e = d + HDR_SIZE + (size_t)i * SEC_ENTRY;
        uint32_t id = rd32(e);
        uint64_t off = rd64(e + 8), len = rd64(e + 16);
        if (id < 1 || id > (uint32_t)maxsec)
            BAD("unknown section id %u in a version %u model", id, ver);
        if (sec[id])
            BAD("section %s appears twice", sec_names[id]);
        if (rd32(e + 4))
            BAD("section %s: reserved field not zero", sec_names[id]);
        if (off % 8 || off < table_end || off > size || len > size - off)
            BAD("section %s out of bounds (offset %llu, length %llu, file %zu)", sec_names[id],
                (unsigned long long)off, (unsigned long long)len, size);
        sec[id] = d + off;
        slen[id] = len;
    }
    for (int id = 1; id <= maxsec; id++)
        if (!sec[id] && id != SEC_IDFW)
            BAD("section %s missing", sec_names[id]);
    if (ver > 1 && (rc = parse_settings(m, sec[SEC_SETT], slen[SEC_SETT], fault, err, errlen)))
        goto fail;

    /* CONF */
    if (slen[SEC_CONF] != CONF_SIZE)
        BAD("CONF section is %llu bytes, expected %d", (unsigned long long)slen[SEC_CONF], CONF_SIZE);
    const unsigned char *c = sec[SEC_CONF];
    if (rd32(c) != TOK_ALGO_VERSION)
        BADF(MODEL_FAULT_VERSION, "model uses tokenizer version %u, this build has %d: retrain the model", rd32(c), TOK_ALGO_VERSION);
    if (rd32(c + 4) != FEAT_HASH_VERSION)
        BADF(MODEL_FAULT_VERSION, "model uses feature hash version %u, this build has %d: retrain the model", rd32(c + 4),
            FEAT_HASH_VERSION);
    m->feat.ngram_min = rd32(c + 8);
    m->feat.ngram_max = rd32(c + 12);
    m->feat.bits = rd32(c + 16);
    m->feat.mode = rd32(c + 20);
    m->feat.seed = rd64(c + 24);
    if (ver > 1) {
        /* FEAT is required in SETT; it was parsed before CONF, so check the
         * whole configuration here. */
        m->feat.char_min = m->set_feat[0];
        m->feat.char_max = m->set_feat[1];
        m->feat.idf = m->set_feat[2];
        m->feat.l2 = m->set_feat[3];
    }
    char cerr[200];
    if (feat_config_check(&m->feat, cerr, sizeof cerr))
        BAD("feature configuration: %s", cerr);
    m->nlabels = rd32(c + 32);
    if (m->nlabels < 1 || m->nlabels > MODEL_MAX_LABELS)
        BAD("label count %u out of range", m->nlabels);
    memcpy(&m->temperature, c + 36, 4);
    uint32_t stop_len = rd32(c + 40);
    if (rd32(c + 44))
        BAD("CONF reserved field not zero");
    if (memchr(c + 48, 0, 32) == NULL)
        BAD("stemmer name not terminated");
    memcpy(m->tok.stem, c + 48, 32);
    for (size_t i = 80; i < CONF_SIZE; i++)
        if (c[i])
            BAD("CONF reserved bytes not zero");

    /* STOP */
    if (slen[SEC_STOP] != stop_len)
        BAD("STOP section is %llu bytes, CONF says %u", (unsigned long long)slen[SEC_STOP], stop_len);
    if (stop_len) {
        if (memchr(sec[SEC_STOP], 0, stop_len))
            BAD("stop-word list contains a NUL byte");
        char *sw = malloc(stop_len);
        if (!sw) {
            rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
            goto fail;
        }
        memcpy(sw, sec[SEC_STOP], stop_len);
        m->tok.stopwords = sw;
        m->tok.stopwords_len = stop_len;
    }
    /* Building a tokenizer checks the stemmer exists and the list is UTF-8. */
    tok_t *probe_tok = NULL;
    if (tok_new(&m->tok, &probe_tok, cerr, sizeof cerr))
        BAD("tokenizer configuration: %s", cerr);
    tok_free(probe_tok);

    /* LABL */
    m->labels = calloc(m->nlabels, sizeof *m->labels);
    if (!m->labels) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        goto fail;
    }
    {
        const unsigned char *p = sec[SEC_LABL];
        uint64_t left = slen[SEC_LABL];
        for (uint32_t i = 0; i < m->nlabels; i++) {
            if (left < 4)
                BADF(MODEL_FAULT_TRUNCATED, "LABL section truncated at label %u", i);
            uint32_t n = rd32(p);
            p += 4;
            left -= 4;
            if (n > left)
                BAD("label %u runs past the LABL section", i);
            if (!model_label_ok((const char *)p, n))
                BAD("label %u is empty, too long, or not printable UTF-8", i);
            m->labels[i] = strndup((const char *)p, n);
            if (!m->labels[i]) {
                rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
                goto fail;
            }
            for (uint32_t j = 0; j < i; j++)
                if (!strcmp(m->labels[j], m->labels[i]))
                    BAD("label '%s' appears twice", m->labels[i]);
            p += n;
            left -= n;
        }
        if (left)
            BAD("LABL section has %llu trailing bytes", (unsigned long long)left);
    }

    /* BIAS */
    if (slen[SEC_BIAS] != (uint64_t)m->nlabels * 4)
        BAD("BIAS section size does not match %u labels", m->nlabels);
    m->bias = (const float *)sec[SEC_BIAS];

    /* TABL */
    if (slen[SEC_TABL] < 8)
        BADF(MODEL_FAULT_TRUNCATED, "TABL section truncated");
    uint32_t cap = rd32(sec[SEC_TABL]);
    m->nrows = rd32(sec[SEC_TABL] + 4);
    if (cap < 1 || (cap & (cap - 1)) || cap > (1u << 31))
        BAD("table capacity %u is not a power of two", cap);
    if (slen[SEC_TABL] != 8 + (uint64_t)cap * 8)
        BAD("TABL section size does not match capacity %u", cap);
    if (m->nrows >= cap)
        BAD("table has %u rows for %u slots (needs a free slot)", m->nrows, cap);
    m->cap_mask = cap - 1;
    m->table = (const uint32_t *)(sec[SEC_TABL] + 8);
    {
        uint32_t *rb = malloc(((size_t)m->nrows + 1) * sizeof *rb);
        unsigned char *seen = calloc((size_t)m->nrows + 1, 1);
        if (!rb || !seen) {
            free(rb);
            free(seen);
            rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
            goto fail;
        }
        uint32_t used = 0, limit = (uint32_t)((1ULL << m->feat.bits));
        int bad = 0;
        for (uint32_t i = 0; i < cap && !bad; i++) {
            uint32_t key = m->table[2 * i], row = m->table[2 * i + 1];
            if (!key) {
                if (row)
                    bad = 1;
                continue;
            }
            if (key - 1 >= limit || row >= m->nrows || seen[row])
                bad = 2;
            else {
                seen[row] = 1;
                rb[row] = key - 1;
                used++;
            }
        }
        free(seen);
        m->row_bucket = rb;
        if (bad == 1)
            BAD("table: empty slot with a row number");
        if (bad == 2)
            BAD("table: bucket or row out of range, or a row used twice");
        if (used != m->nrows)
            BAD("table has %u used slots, header says %u rows", used, m->nrows);
    }

    /* IDFW */
    if (m->feat.idf != (sec[SEC_IDFW] != NULL))
        BAD("IDFW section %s", m->feat.idf ? "missing (settings say idf)" : "present without idf");
    if (m->feat.idf) {
        if (slen[SEC_IDFW] != (uint64_t)m->nrows * 4)
            BAD("IDFW section size does not match %u rows", m->nrows);
        m->idf = (const float *)sec[SEC_IDFW];
        for (uint32_t r = 0; r < m->nrows; r++)
            if (!(m->idf[r] > 0) || !isfinite(m->idf[r]))
                BAD("IDF weight of row %u is not a positive number", r);
    }
    if (m->decision_len && m->decision_len != (uint64_t)m->nlabels * 4)
        BAD("DECISION setting size does not match %u labels", m->nlabels);

    /* WGHT */
    if (slen[SEC_WGHT] != (uint64_t)m->nrows * m->nlabels * 4)
        BAD("WGHT section size does not match %u rows x %u labels", m->nrows, m->nlabels);
    m->weights = (const float *)sec[SEC_WGHT];
    if ((rc = check_values(m->temperature, m->bias, m->nlabels, m->weights, (uint64_t)m->nrows * m->nlabels, err,
                           errlen)))
        goto fail;

    /* META */
    if (slen[SEC_META] > MODEL_MAX_META_BYTES)
        BAD("metadata larger than %u bytes", MODEL_MAX_META_BYTES);
    {
        json_error_t je;
        m->meta = json_loadb((const char *)sec[SEC_META], slen[SEC_META], JSON_REJECT_DUPLICATES, &je);
        if (!m->meta)
            BAD("metadata is not valid JSON: %s", je.text);
        if (!json_is_object(m->meta))
            BAD("metadata is not a JSON object");
    }
    return 0;
fail:
    return rc;
}

static int build_index(model_t *m)
{
    uint64_t cap = 16;
    while (cap < (uint64_t)m->nrows * 2 + 1)
        cap *= 2;
    m->fused_w = m->idf ? 8 : 4;
    m->fused_stride = m->fused_w + 4 * (size_t)m->nlabels;
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
        memcpy(slot + m->fused_w, m->weights + (size_t)r * m->nlabels, 4 * (size_t)m->nlabels);
    }
    return 0;
}

static int finish_load(model_t *m, model_t **out, model_fault_t *fault, char *err, size_t errlen)
{
    m->refs = 1;
    int rc = parse(m, fault, err, errlen);
    if (!rc && (rc = build_index(m))) {
        if (rc == TRI_EFORMAT)
            *fault = MODEL_FAULT_INVALID;
        rc = rc == TRI_EFORMAT ? tri_errf(err, errlen, rc, "table: a bucket appears twice")
                               : tri_errf(err, errlen, rc, "out of memory building the scoring index");
    }
    if (rc) {
        model_destroy(m);
        return rc;
    }
    *out = m;
    return 0;
}

int model_load_mem(const void *data, size_t len, model_t **out, char *err, size_t errlen)
{
    model_fault_t fault = MODEL_FAULT_NONE;
    model_t *m = calloc(1, sizeof *m);
    void *copy = malloc(len ? len : 1);
    if (!m || !copy) {
        free(m);
        free(copy);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    if (len)
        memcpy(copy, data, len);
    m->data = copy;
    m->size = len;
    return finish_load(m, out, &fault, err, errlen);
}

const char *model_fault_name(model_fault_t f)
{
    static const char *const names[] = {"none", "not_a_model", "version", "truncated", "checksum", "invalid"};
    return (unsigned)f < sizeof names / sizeof *names ? names[f] : "invalid";
}

int model_load_file(const char *path, model_t **out, char *err, size_t errlen)
{
    model_fault_t fault;
    return model_load_file_why(path, out, &fault, err, errlen);
}

int model_load_file_why(const char *path, model_t **out, model_fault_t *fault, char *err, size_t errlen)
{
    *fault = MODEL_FAULT_NONE;
    /* A private copy, not a mapping: with MAP_PRIVATE a page not yet touched
     * still reads the file, so a model truncated in place raised SIGBUS in
     * the scorer and one overwritten in place scored with a mix of versions. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tri_errf(err, errlen, errno == ENOENT ? TRI_ENOENT : TRI_EIO, "%s: %s", path, strerror(errno));
    unsigned char *data = NULL;
    int rc = 0;
    struct stat st;
    if (fstat(fd, &st)) {
        rc = tri_errf(err, errlen, TRI_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = tri_errf(err, errlen, TRI_EINVAL, "%s: not a regular file", path);
        goto out;
    }
    /* The file may change while it is read: read what fstat promised and
     * let the size and checksum in the header judge the result. */
    size_t size = (size_t)st.st_size, got = 0;
    if (!(data = malloc(size ? size : 1))) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = tri_errf(err, errlen, TRI_EIO, "%s: read: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    model_t *m = calloc(1, sizeof *m);
    if (!m) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    m->data = data;
    m->size = got;
    data = NULL; /* owned by m now */
    char inner[TRI_ERRLEN];
    if ((rc = finish_load(m, out, fault, inner, sizeof inner)))
        tri_errf(err, errlen, rc, "%s: %s", path, inner);
out:
    free(data);
    close(fd);
    return rc;
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
size_t model_memory(const model_t *m) { return m->size + ((size_t)m->fused_mask + 1) * m->fused_stride; }
uint64_t model_checksum(const model_t *m) { return m->checksum; }
json_t *model_meta(const model_t *m) { return m->meta; }
const float *model_bias(const model_t *m) { return m->bias; }
const float *model_idf(const model_t *m) { return m->idf; }
float model_review_below(const model_t *m) { return m->review_below; }
const float *model_decision(const model_t *m) { return m->decision; }
uint32_t model_format_version(const model_t *m) { return m->version; }

int model_label_index(const model_t *m, const char *name)
{
    for (uint32_t i = 0; i < m->nlabels; i++)
        if (!strcmp(m->labels[i], name))
            return (int)i;
    return -1;
}

const float *model_row(const model_t *m, uint32_t row, uint32_t *bucket)
{
    if (row >= m->nrows)
        return NULL;
    if (bucket)
        *bucket = m->row_bucket[row];
    return m->weights + (size_t)row * m->nlabels;
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

void model_score(const model_t *m, const uint32_t *ids, size_t n, float *scores, uint32_t *nknown)
{
    feat_vec_t fv = {.id = (uint32_t *)ids, .n = n};
    model_score_vec(m, &fv, scores, nknown);
}

void model_score_vec(const model_t *m, const feat_vec_t *fv, float *scores, uint32_t *nknown)
{
    uint32_t L = m->nlabels, known = 0, mask = m->fused_mask;
    size_t stride = m->fused_stride, n = fv->n, wo = m->fused_w;
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
            const float *w = (const float *)(slot + wo);
            for (uint32_t c = 0; c < L; c++)
                scores[c] += w[c];
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
            const float *w = (const float *)(slot + wo);
            for (uint32_t c = 0; c < L; c++)
                scores[c] += v * w[c];
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
                const float *w = (const float *)(slot + wo);
                for (uint32_t c = 0; c < L; c++)
                    scores[c] += v * w[c];
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
