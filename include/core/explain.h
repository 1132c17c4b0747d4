/* explain — why a label's share went up, in words: the n-grams most
 * over-represented in the label's recent records against the label's own
 * baseline, and a few example records. The alarm detector keeps one
 * explain_t beside its counts, so the daemon's alarms role and `triage alarms
 * --replay` explain the same way.
 *
 * Memory is bounded per label, whatever the traffic: records are tokenised
 * (lower-cased words; @mentions and links dropped), their word 1- and 2-grams
 * hashed into EXPLAIN_BUCKETS buckets counted once per record (document
 * frequency), in the open window's table; when a base window closes, each
 * scale's table decays by 1 - 1/k (k = the scale in base windows; k = 1
 * keeps only the window) and takes the window in, and after the alarms of
 * that window are decided, the baseline table learns it as an exponentially
 * weighted average (weight alpha, more while young) unless the label is
 * alarming (an incident must not become its own baseline). Records of a
 * window that arrive after it closed (within the detector's lateness) join
 * the next one.
 *
 * Examples: per label and scale (and per (label, account), so an account's
 * alarm shows that account's records) a reservoir of EXPLAIN_RESERVOIR records
 * with forward-decayed priorities (an item of time t survives with weight
 * exp(t / k windows)), so the sample favours the scale's window without
 * keeping it; ids and texts are cut to EXPLAIN_ID_MAX and EXPLAIN_TEXT_MAX
 * bytes (at a character). The random draw is a hash of the record, so a
 * replay gives the same examples.
 *
 * Ranking: candidates are the n-grams of the reservoir's records in the
 * window; each scores the smoothed log-ratio log(q / p) where p is its
 * baseline share of records (half a record of prior) and q its window share
 * shrunk towards p by EXPLAIN_PRIOR pseudo-records, so an n-gram seen in 3
 * records out of 3 does not outrank one in 300 of 400. An n-gram needs
 * EXPLAIN_MIN_RECORDS records in the window and a ratio above 1.5; an
 * n-gram inside a chosen longer one (or the reverse, when the longer one
 * holds most of its records) is the same finding and listed once.
 *
 * Ownership: explain_t is created by explain_new, freed by explain_free; one
 * thread at a time. Results are plain structs the caller owns. */
#ifndef EXPLAIN_H
#define EXPLAIN_H
#include <stddef.h>
#include <stdint.h>

#define EXPLAIN_BUCKETS 8192
#define EXPLAIN_RESERVOIR 16
#define EXPLAIN_MAX_SCALES 4
#define EXPLAIN_MAX_LABELS 64 /* labels explained; more are counted in explain_dropped */
#define EXPLAIN_MAX_POOLS 512 /* (label, account) example reservoirs; more are counted there too */
#define EXPLAIN_TOP 5
#define EXPLAIN_EXAMPLES 5
#define EXPLAIN_NGRAM_MAX 96
#define EXPLAIN_ID_MAX 128
#define EXPLAIN_TEXT_MAX 280
#define EXPLAIN_PRIOR 20.0
#define EXPLAIN_MIN_RECORDS 3

typedef struct explain_ngram {
    char text[EXPLAIN_NGRAM_MAX];
    double records;          /* records of the window holding it (decayed at scales > 1 window) */
    double share, baseline_share, ratio; /* ratio: the smoothed one that ranks */
} explain_ngram_t;

typedef struct explain_example {
    char id[EXPLAIN_ID_MAX];
    char text[EXPLAIN_TEXT_MAX + 1];
    int64_t ts_ms;
} explain_example_t;

typedef struct explain_result {
    double records;          /* the label's records behind the window table */
    size_t nngrams, nexamples;
    explain_ngram_t ngrams[EXPLAIN_TOP];
    explain_example_t examples[EXPLAIN_EXAMPLES];
} explain_result_t;

typedef struct explain explain_t;

/* scale_windows[j]: scale j in base windows (1 for the base window itself);
 * alpha: weight of the newest window in the baseline. NULL on bad arguments
 * or memory. */
explain_t *explain_new(const int64_t *scale_windows, size_t nscales, int64_t window_ms, double alpha);
void explain_free(explain_t *x);

/* One record of a label (account, id and text may be NULL; without text it
 * only counts). */
void explain_add(explain_t *x, const char *label, const char *account, int64_t ts_ms, const char *id, const char *text,
                 size_t len);

/* A base window closed: each scale's table takes the open window's counts. */
void explain_roll(explain_t *x);
/* Then the baselines learn that window, except those of labels for which
 * frozen(ctx, label) is true. */
void explain_learn(explain_t *x, int (*frozen)(void *ctx, const char *label), void *ctx);

/* The explanation of a label (of one account's records of it; NULL: all
 * accounts) at scale j over records since since_ms (the window's start):
 * candidate n-grams and examples come from that account's records, the
 * n-grams are ranked on the label's counts. 0, or -1 when there is nothing
 * to explain with. */
int explain_get(const explain_t *x, const char *label, const char *account, size_t j, int64_t since_ms,
                explain_result_t *out);

/* Labels and accounts refused once EXPLAIN_MAX_LABELS or EXPLAIN_MAX_POOLS
 * were taken, and bytes held. */
uint64_t explain_dropped(const explain_t *x);
size_t explain_bytes(const explain_t *x);

#endif
