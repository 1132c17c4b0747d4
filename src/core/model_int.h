/* model_int — what the model modules share (model.c: life and accessors,
 * model_write.c: the writer, model_load.c: the loader and its checks,
 * model_score.c: the scoring index and the scorer). Private to src/core.
 *
 * Model file format, version 2 (version 1 files still load: they are version 2
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
 *   6 WGHT  nrows * nlabels f32, row-major (scales and int8 with the WQ8 setting)
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
 *             4 WQ8      required, 0 bytes: WGHT holds nrows f32 scales > 0, then
 *                        nrows * nlabels int8 in -127..127, row-major: weight = q * scale[row]
 *                        (about a quarter of the bytes; the loader expands them to f32)
 *           New settings (text preparation, language mix, ...) take the next key numbers.
 *   9 IDFW  (present exactly when FEAT says idf) nrows f32 > 0: each row's IDF weight
 *
 * The loader checks all of the above, and the value ranges of model.h (one
 * place: model_check_values, shared with the writer; model_check_weight for
 * int8 weights), before any of it is used. */
#ifndef MODEL_INT_H
#define MODEL_INT_H
#include "core/model.h"

#include "core/tri_err.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the model format maps little-endian data in place; port the model modules before building on big-endian"
#endif

#define MAGIC "TRIAGEMD"
#define HDR_SIZE 64
#define SEC_ENTRY 24
#define MAX_SECTIONS 16
#define CONF_SIZE 128

enum { SEC_CONF = 1, SEC_STOP, SEC_LABL, SEC_BIAS, SEC_TABL, SEC_WGHT, SEC_META, SEC_SETT, SEC_IDFW,
       SEC_COUNT = SEC_IDFW, SEC_COUNT_V1 = SEC_META };
enum { SET_FEAT = 1, SET_REVIEW = 2, SET_DECISION = 3, SET_WQ8 = 4 };
#define SET_REQUIRED 1u

struct model {
    int refs;
    const unsigned char *data;  /* owned: the file image (malloc'd) while loading; NULL once
                                   loaded (detach_image, model_load.c) */
    size_t size;                /* the file's size */
    float *floats_owned;        /* bias, decision, idf once the image is gone */
    size_t held;                /* what the loaded model holds besides its index (model_memory) */
    uint64_t checksum;
    tok_config_t tok;
    feat_config_t feat;
    float temperature;
    uint32_t nlabels;
    char **labels;        /* owned array of owned strings */
    const float *bias;
    uint32_t cap_mask;
    const uint32_t *table;     /* while loading (in the file image) */
    uint32_t nrows;
    const float *weights;      /* while loading a float model: in the file image; else NULL */
    int wq8;                   /* WQ8 setting present */
    const unsigned char *wght; /* the WGHT section in the file image */
    const float *idf;          /* nrows, or NULL */
    float review_below;        /* 0: none */
    const float *decision;     /* nlabels, or NULL */
    uint64_t decision_len;
    uint32_t set_feat[4];      /* FEAT setting as read */
    uint32_t version;
    const uint32_t *row_bucket; /* owned: bucket of each row, for iteration */
    json_t *meta;
    size_t meta_bytes;         /* its estimated memory, for model_memory */
    /* Scoring index built at load: each slot holds the bucket+1 and the row's
     * weights side by side, so a lookup touches one cache line, not two.
     * For WQ8 the weights stay int8 with the row's scale before them (a
     * quarter of the bytes, so more of the index stays in cache); the scorer
     * multiplies them out exactly as the loader's expansion did. */
    unsigned char *fused;
    size_t fused_stride;       /* bytes per slot: 4 (key) [+ 4 (idf)] + 4 * nlabels (f32), or
                                  [+ 4 (scale)] + nlabels (int8), rounded up to 4 */
    size_t fused_w;            /* offset of the weights in a slot (the scale is just before int8 ones) */
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

/* XXH64 of a file image with its checksum field (bytes 24..31) taken as zero. */
uint64_t model_file_checksum(const unsigned char *d, size_t n);

/* The value ranges of model.h, checked by the writer and the loader alike
 * (the loader checks nothing about values anywhere else). */
int model_check_values(float temperature, const float *bias, uint32_t nlabels, const float *weights,
                       uint64_t nweights, char *err, size_t errlen);
/* One weight's check of model_check_values (weight i of the row-major
 * table), for weights that are not stored as floats (WQ8). */
static inline int model_check_weight(uint64_t i, float w, char *err, size_t errlen)
{
    if (fabsf(w) <= MODEL_MAX_ABS_WEIGHT)
        return 0;
    return tri_errf(err, errlen, TRI_EFORMAT, "weight %llu (%g) is not a number within +-%g", (unsigned long long)i,
                    (double)w, (double)MODEL_MAX_ABS_WEIGHT);
}

/* Frees m and all it owns (the refcount is not looked at). NULL is fine. */
void model_destroy(model_t *m);

/* Builds m's fused scoring index from its validated views: 0, TRI_EFORMAT
 * when two rows share a bucket, TRI_ENOMEM. */
int model_build_index(model_t *m);
/* Row r's weights (nlabels) into w. */
void model_row_weights(const model_t *m, uint32_t r, float *w);

#endif
