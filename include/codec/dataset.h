/* dataset — a labeled data set read from JSONL files, for training, tuning
 * and evaluation: each record decoded with the one record decoder (rec.h),
 * its text fields prepared (schema->prep_mode, prep.h) and kept with its
 * label; records without a label counted and skipped, records with no text
 * left after preparation counted as bad (no_text).
 *
 * Label indices are stable: without fixed labels, names are sorted, so the
 * order of the records does not change them; with fixed labels (a model's),
 * those come first in that order and unknown ones are appended.
 *
 * Ownership: dataset_t owns all its strings and arrays (dataset_free). Not
 * shared between threads while being read; read-only use from any thread. */
#ifndef DATASET_H
#define DATASET_H
#include "codec/rec.h"
#include "core/train.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct dataset {
    size_t n, cap;
    char **text;
    size_t *len;
    uint32_t *label;       /* index into labels */
    int64_t *ts;           /* event time or INT64_MIN */
    char **labels;         /* label names (see above for the order) */
    uint32_t nlabels;
    size_t skipped_nolabel, bad;
    size_t no_text;        /* of bad: nothing left after text preparation */
    char digest[64];       /* "xxh128:<hex>" over the input files' bytes */
} dataset_t;

/* Reads every file ("-" is stdin). Bad lines are counted; the first few are
 * described on `warn` (file:line: code: detail) when warn is not NULL.
 * Returns 0 or an error with a message in err. */
int dataset_read(dataset_t *ds, char *const *files, size_t nfiles, const rec_schema_t *schema,
                 const char *const *fixed_labels, uint32_t nfixed, FILE *warn, char *err, size_t errlen);
void dataset_free(dataset_t *ds);

/* The trainer's view of ds (borrows ds's arrays). */
void dataset_as_set(const dataset_t *ds, train_set_t *set);

/* The provenance a trained model's metadata starts with, in this order:
 * name, triage_version, stopwords, stem (as the options named them),
 * label_field and text_fields (schema's), and data {files (base names),
 * digest, records, skipped_without_label, bad_records}. NULL when out of
 * memory. */
json_t *dataset_meta(const dataset_t *ds, char *const *files, size_t nfiles, const rec_schema_t *schema,
                     const char *name, const char *stopwords, const char *stem);

/* Iterates the lines of a file ("-" for stdin): calls fn(line, len, lineno,
 * ctx) for each, newline (and a CR before it) stripped. Returns 0, the first
 * nonzero value of fn, or TRI_EIO with a message in err. */
typedef int (*dataset_line_fn)(const char *line, size_t len, size_t lineno, void *ctx);
int dataset_each_line(const char *path, dataset_line_fn fn, void *ctx, char *err, size_t errlen);

#endif
