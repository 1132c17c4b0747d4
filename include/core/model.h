/* model — the one runtime shape every trainer produces, its file format, the
 * safe loader and the scorer.
 *
 * A model is a linear scorer per label: score(c) = bias[c] + sum over the
 * record's features f of weight[f][c]. Naive Bayes variants (and any later
 * trainer) all reduce to this, so the daemon has one fast path. Probabilities
 * are softmax(score / temperature); the trainer fits the temperature on
 * held-out data so a "0.62" means roughly what it says.
 *
 * The file format is documented at the top of src/core/model.c; its SETT
 * section holds the settings the scorer applies (feature weighting, review
 * threshold, decision offsets), keyed so later settings can be added. The loader
 * copies the file into memory it owns and validates every length, offset,
 * count and value range before anything reads it: a truncated, bit-flipped
 * or hostile file is refused with a message, never trusted. Once valid, its
 * rows go into a scoring index (bucket, IDF and weights side by side; int8
 * weights stay int8) and the file image is freed: a loaded model holds about
 * 1.3-1.7x its file (airline defaults: nb 1.35, svm 1.6-1.65), not the file
 * plus the index.
 *
 * Ownership: model_t is reference counted. model_load_* returns a model with
 * one reference; model_ref/model_unref are atomic so a model can be shared by
 * batches in flight on several threads and freed when the last one lets go. */
#ifndef MODEL_H
#define MODEL_H
#include "core/buf.h"
#include "core/feat.h"
#include "core/tok.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define MODEL_FORMAT_VERSION 2
#define MODEL_MAX_LABELS 4096
#define MODEL_MAX_LABEL_BYTES 256
#define MODEL_MAX_META_BYTES (16u << 20)
/* Value ranges the writer and the loader enforce. With every bias and weight
 * within +-MODEL_MAX_ABS_WEIGHT, a record's raw score stays far below FLT_MAX
 * for any number of features a record can have (10^7 features x 10^6 =
 * 10^13), and so does its quotient by a temperature of at least
 * MODEL_MIN_TEMPERATURE: the scorer can never produce an infinity or a NaN.
 * The trainers' fitted temperatures lie in [0.05, 200]; naive Bayes weights
 * are log-probabilities (tens at most). */
#define MODEL_MIN_TEMPERATURE 1e-3f
#define MODEL_MAX_TEMPERATURE 1e3f
#define MODEL_MAX_ABS_WEIGHT 1e6f

/* Bumped whenever the tokenizer's output for some input changes; stored in
 * the model, so an old model is refused instead of silently mis-scored. */
#define TOK_ALGO_VERSION 1

typedef struct model model_t;

/* What a trainer hands to model_write. All arrays are borrowed. */
typedef struct model_spec {
    tok_config_t tok;
    feat_config_t feat;
    float temperature;
    uint32_t nlabels;
    const char *const *labels;
    const float *bias;       /* nlabels */
    uint32_t nrows;
    const uint32_t *buckets; /* nrows distinct buckets < 2^feat.bits */
    const float *weights;    /* nrows * nlabels, row-major */
    const char *meta_json;   /* a JSON object, or NULL for {} */
    const float *idf;        /* nrows IDF weights when feat.idf, else NULL */
    float review_below;      /* mark records whose top score is below it for review; 0: never */
    const float *decision;   /* nlabels offsets for the decision (cost-weighted), or NULL */
    int weights_q8;          /* store weights as int8, one scale per row (its max |w| / 127) */
} model_spec_t;

/* Serializes spec into out (appended). Returns 0 or an error. */
int model_write(const model_spec_t *spec, buf_t *out, char *err, size_t errlen);

/* Writes bytes to path atomically (temporary file in the same directory,
 * fsync, rename), so readers never see a partial model. */
int model_save_file(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* Reads the file into memory the model owns (never a mapping of the file: a
 * file truncated or rewritten in place later cannot fault or alter a loaded
 * model). */
int model_load_file(const char *path, model_t **out, char *err, size_t errlen);
/* Why a file's content was refused, so callers count refusals by reason
 * without reading the message. */
typedef enum model_fault {
    MODEL_FAULT_NONE = 0,     /* not refused for its content (missing, unreadable, out of memory) */
    MODEL_FAULT_NOT_A_MODEL,  /* bad magic */
    MODEL_FAULT_VERSION,      /* a format, tokenizer or hash version this build does not read */
    MODEL_FAULT_TRUNCATED,    /* shorter or longer than its header says */
    MODEL_FAULT_CHECKSUM,
    MODEL_FAULT_INVALID,      /* any other malformation */
} model_fault_t;
/* model_load_file that also says why (*fault) a file was refused. */
int model_load_file_why(const char *path, model_t **out, model_fault_t *fault, char *err, size_t errlen);
/* "not_a_model", "version", "truncated", "checksum", "invalid" ("none"). */
const char *model_fault_name(model_fault_t f);
/* Validates and copies data. */
int model_load_mem(const void *data, size_t len, model_t **out, char *err, size_t errlen);

/* Whether s[0..n) can be a label: 1..MODEL_MAX_LABEL_BYTES bytes of UTF-8
 * without control characters (the rule the loader applies, for trainers to
 * check their input with). */
int model_label_ok(const char *s, size_t n);

model_t *model_ref(model_t *m);
void model_unref(model_t *m);

uint32_t model_nlabels(const model_t *m);
const char *model_label(const model_t *m, uint32_t i);
/* Index of a label name, or -1. */
int model_label_index(const model_t *m, const char *name);
const tok_config_t *model_tok_config(const model_t *m);
const feat_config_t *model_feat_config(const model_t *m);
float model_temperature(const model_t *m);
uint32_t model_nrows(const model_t *m);
/* Size of the serialized model in bytes. */
size_t model_bytes(const model_t *m);
/* Memory the loaded model holds (its scoring index, the bucket of each row,
 * IDF weights, labels, metadata; not the file image, freed once loaded),
 * for cache budgets. */
size_t model_memory(const model_t *m);
/* The scoring index's part of it. */
size_t model_index_bytes(const model_t *m);
/* XXH64 checksum recorded in the file (identifies the exact bytes). */
uint64_t model_checksum(const model_t *m);
/* The metadata object (borrowed; lives as long as the model). */
json_t *model_meta(const model_t *m);
const float *model_bias(const model_t *m);

/* Iterates the rows: fills *bucket (when not NULL) and the row's nlabels
 * weights into w (when not NULL; int8 weights expanded). Returns 0, or -1
 * when row is out of range. */
int model_row(const model_t *m, uint32_t row, uint32_t *bucket, float *w);

/* Per-row IDF weights (nrows) or NULL; the review threshold (0: none); the
 * decision offsets (nlabels) or NULL; the file's format version. */
const float *model_idf(const model_t *m);
float model_review_below(const model_t *m);
const float *model_decision(const model_t *m);
uint32_t model_format_version(const model_t *m);
/* 1 when the file stores int8 weights (model_row gives them expanded). */
int model_weights_q8(const model_t *m);

/* Raw scores of the features fv (extracted with the model's feat config):
 * scores[c] = bias[c] + sum over known features of value * weight[c], value
 * as feat.h describes (fv->cnt NULL: every count 1). *nknown gets how many
 * features the model knows (0: nothing it has seen). Does not allocate. */
void model_score_vec(const model_t *m, const feat_vec_t *fv, float *scores, uint32_t *nknown);
/* The same for bare bucket ids, each counted once per appearance. */
void model_score(const model_t *m, const uint32_t *ids, size_t n, float *scores, uint32_t *nknown);

/* Softmax of scores/temperature into probs (may alias scores). */
void model_probs(const model_t *m, const float *scores, float *probs);

#endif
