/* feedback — the records a connector publishes on feedback.topic when an agent
 * settles a ticket's label (confirmed or changed), and the rule that merges
 * them into training data:
 *
 *   {"id":..., "label":"Late Flight", "predicted":"Cancelled Flight",
 *    "model":"airline@20261123T151632Z", "text":"..." (or the model's text
 *    fields, e.g. subject/body), "account":..., "agent":..., "ts":...}
 *
 * id, label and text are required (the record is a training example);
 * predicted and model are what triage said (needed to count live accuracy,
 * optional otherwise); account, agent and ts are optional. The id, text,
 * account and ts are read by rec_decode (codec/rec.h) with the same rules as
 * an input record, so a feedback record's text means what the input's did.
 *
 * Merge rule (fb_merge): one record per id. Feedback beats a base training
 * record of the same id; of two feedback records for an id the later event
 * time ("ts") wins, and when either has none, or they are equal, the one read
 * later (topic order: the connector's latest correction) wins. Of two base
 * records of an id the later one read wins.
 *
 * Ownership: fb_rec_t is caller-owned, zero-initialised, and reused across decodes (strings
 * point into its buffers until the next decode or fb_rec_free); fb_merge_t
 * owns the JSON records handed to it. */
#ifndef FEEDBACK_H
#define FEEDBACK_H
#include "codec/rec.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Longest label, predicted label, model and agent name accepted (decoded bytes). */
#define FB_FIELD_MAX 256

typedef struct fb_rec {
    rec_t rec;              /* id, text fields, account, ts (rec.label: the label) */
    const char *label;      /* NUL-terminated, never NULL after a successful decode */
    const char *predicted;  /* NULL when absent or null */
    const char *model;      /* NULL when absent or null */
    const char *agent;      /* NULL when absent or null */
    buf_t extra;            /* the strings above */
} fb_rec_t;

/* The schema of feedback records: id "id", label "label", account "account",
 * ts "ts", and the given text fields (pointers into `list`, which must outlive
 * s). Returns 0 or TRI_EINVAL. */
int fb_schema(rec_schema_t *s, char *text_fields, size_t max_bytes, char *err, size_t errlen);

/* Decodes one feedback record. Returns REC_OK, or the rec_status a dead letter
 * carries: the input codes (not_json, no_text, ...), REC_NO_LABEL (no label,
 * or an empty one) or REC_BAD_FIELD (predicted, model or agent not a string,
 * a field over FB_FIELD_MAX bytes or holding a NUL), with detail. */
int fb_decode(const rec_schema_t *s, const char *data, size_t len, fb_rec_t *f, char *detail, size_t dlen);
void fb_rec_free(fb_rec_t *f);

/* The merge of base training records and feedback, keyed by id. */
typedef struct fb_merge fb_merge_t;

fb_merge_t *fb_merge_new(void);
void fb_merge_free(fb_merge_t *m);
/* Offers rec (a training record, stolen) for id: feedback (1) or base (0),
 * ts_ms its event time (-1: none). seq orders records as read (increasing).
 * Returns 1 when rec is now the id's record, 0 when the one kept is newer,
 * -1 out of memory. */
int fb_merge_add(fb_merge_t *m, const char *id, int feedback, int64_t ts_ms, uint64_t seq, json_t *rec);
/* Records kept (distinct ids), and of them from feedback. */
size_t fb_merge_count(const fb_merge_t *m);
size_t fb_merge_feedback(const fb_merge_t *m);
/* The id's record (borrowed), or NULL; *feedback set when not NULL. */
json_t *fb_merge_get(const fb_merge_t *m, const char *id, int *feedback);
/* Calls fn for each kept record in the order ids were first seen; stops at a
 * non-zero return and returns it. */
int fb_merge_each(const fb_merge_t *m, int (*fn)(void *ctx, const char *id, int feedback, json_t *rec), void *ctx);

#endif
