/* rec — one input record: a JSON object with an id, text fields and optional
 * label, account and event time. The one decoder used by `triage train`,
 * `eval`, `classify` and by the daemon, so a record means the same everywhere.
 *
 * A record that cannot be used gets a stable error code (rec_error_code) that
 * the daemon writes to the dead-letter topic and that metrics count by.
 *
 * Ownership: rec_t is caller-owned and reused across rec_decode calls (its
 * buffers grow once); jscan_val_t fields point into the caller's input bytes. */
#ifndef REC_H
#define REC_H
#include "core/buf.h"
#include "codec/jscan.h"
#include "core/prep.h"
#include <stddef.h>
#include <stdint.h>

#define REC_MAX_TEXT_FIELDS 8
#define REC_MAX_ID_BYTES 512
#define REC_MAX_PASSTHROUGH 8
/* Version of the labeled output record (docs/output.schema.json); every
 * change to its fields bumps it, and test_rec_output pins the format. */
#define REC_OUTPUT_SCHEMA 2

typedef struct rec_schema {
    const char *id_field;                          /* "id" */
    const char *text_fields[REC_MAX_TEXT_FIELDS];  /* "text", or "subject","body" */
    size_t ntext;
    const char *label_field;                       /* NULL when labels are not read */
    const char *account_field;                     /* NULL to ignore */
    const char *ts_field;                          /* NULL to ignore */
    size_t max_bytes;                              /* 0: no limit */
    const char *passthrough[REC_MAX_PASSTHROUGH];  /* copied into the labeled output when present */
    size_t npass;
    int prep_mode;                                 /* enum prep_mode: how data sets prepare the
                                                      text fields (PREP_PLAIN: joined) */
    size_t excerpt_bytes;                          /* output.excerpt.bytes: 0 writes no excerpt */
} rec_schema_t;

enum rec_status {
    REC_OK = 0,
    REC_TOO_LARGE,
    REC_NOT_JSON,
    REC_NOT_OBJECT,
    REC_BAD_UTF8,
    REC_NO_ID,
    REC_BAD_ID,
    REC_NO_TEXT,
    REC_BAD_FIELD,
    REC_OUTPUT_TOO_LARGE,   /* its labeled record would exceed the producer's message.max.bytes */
    REC_UNDELIVERABLE,      /* Kafka refused its output for good (e.g. too large for the topic) */
    REC_NO_LABEL,           /* a feedback record (codec/feedback.h) without a label */
    REC_NSTATUS
};

typedef struct rec {
    jscan_val_t id;          /* JSCAN_STR or integer JSCAN_NUM; raw JSON text in id.raw */
    buf_t text;           /* decoded text fields joined by '\n' */
    /* Where each text field sits in text (field_has[k] 0: missing or null),
     * so text preparation sees the fields apart (subject, body, html). */
    uint8_t field_has[REC_MAX_TEXT_FIELDS];
    uint32_t field_off[REC_MAX_TEXT_FIELDS], field_len[REC_MAX_TEXT_FIELDS];
    int has_label;
    buf_t label;          /* decoded label (numbers/booleans as their JSON text) */
    int has_account;
    buf_t account;
    int has_ts;           /* ts field parsed */
    int bad_ts;           /* ts field present but unparseable (record still usable) */
    int64_t ts_ms;
    jscan_val_t pass[REC_MAX_PASSTHROUGH]; /* the passthrough fields' JSON values (into the input) */
    /* The prepared text, set by the caller after classifying (NULL: none):
     * its start goes into the labeled record's "excerpt". */
    const char *prepared;
    size_t prepared_len;
} rec_t;

/* Sets schema defaults: id, text, account, ts; no label; no size limit. */
void rec_schema_default(rec_schema_t *s);

/* Parses "subject,body" into s->text_fields (pointers into `list`, which must
 * outlive s; the commas are overwritten). Returns 0 or TRI_EINVAL. */
int rec_schema_set_text(rec_schema_t *s, char *list, char *err, size_t errlen);

/* Parses "channel,ticket_id" into s->passthrough (pointers into `list`, which
 * must outlive s; commas overwritten; "" for none). Names of the output's own
 * fields are refused. Returns 0 or TRI_EINVAL. */
int rec_schema_set_passthrough(rec_schema_t *s, char *list, char *err, size_t errlen);

/* Decodes data[0..len). Returns REC_OK or a rec_status, with a one-line
 * explanation in detail. */
int rec_decode(const rec_schema_t *s, const char *data, size_t len, rec_t *r, char *detail, size_t dlen);

void rec_free(rec_t *r);

/* The decoded record's text fields as prep wants them (pointing into r->text;
 * missing ones with p == NULL). Fills out[0..s->ntext) and returns s->ntext. */
struct prep_field;
size_t rec_prep_fields(const rec_schema_t *s, const rec_t *r, struct prep_field *out);
/* Classifies the decoded record r with c (and, when explain is not NULL,
 * explains it into *explain: the caller's reference) and points r->prepared
 * at the text c prepared, for the excerpt rec_put_labeled writes. Returns
 * REC_OK, REC_NO_TEXT (nothing left after preparation) or REC_BAD_FIELD (out
 * of memory), with detail filled on failure. The one path by which the
 * pipeline and the admin API's POST /classify turn a record into a label. */
struct clf;
struct clf_result;
struct json_t;
int rec_classify(const rec_schema_t *s, rec_t *r, struct clf *c, struct clf_result *res, struct json_t **explain,
                 char *detail, size_t detaillen);

/* Stable snake_case code of a status ("not_json", "missing_id", ...). */
const char *rec_status_code(int st);

/* The key of a decoded record's output: the id as text (a string id decoded,
 * an integer id as its digits). Appends to out. */
void rec_put_key(const rec_t *r, buf_t *out);

/* Appends the labeled output record (schema REC_OUTPUT_SCHEMA):
 *   {"id":...,"label":...,"score":...,"top":[{"label":...,"score":...},...],
 *    "lang":"en" (the prepared text's language, "und" when undetermined),
 *    "review":true,"review_reason":"lang"|"score" (only when the language is
 *    one the model was not trained on, or else the score is below the
 *    model's review threshold),
 *    "model":"NAME@VERSION","account":...|null,"ts":"RFC 3339","known":N,"features":N,
 *    "excerpt":"..." (the start of r->prepared, at most s->excerpt_bytes
 *    as encoded, cut between characters; absent when 0 or no text),
 *    PASSTHROUGH...,"schema":2}
 * where each passthrough field present in the input is copied as it was (a
 * string with escapes re-encoded, so the output is always valid JSON).
 * label_json[i] is label i already encoded as a JSON string; model_json the
 * same for NAME@VERSION; ts_ms the event time. With model_json NULL only
 * id, label, score, top, lang and review are written (the `triage classify`
 * format). */
struct clf_result;
void rec_put_labeled(buf_t *out, const rec_schema_t *s, const rec_t *r, const struct clf_result *res, char *const *label_json,
                     const size_t *label_json_len, const char *model_json, size_t model_json_len, int64_t ts_ms);

/* Appends a dead-letter record:
 *   {"error":CODE,"detail":...,"topic":...,"partition":P,"offset":O,
 *    "payload":"..." | "payload_base64":"...","payload_bytes":N[,"payload_truncated":true]}
 * The payload is kept as a string when it is valid UTF-8, else base64, cut
 * (at a character boundary) so that its encoded text is at most max_payload
 * bytes: the whole record is then at most max_payload + REC_DEAD_OVERHEAD
 * bytes, whatever the payload holds (detail and topic are cut to
 * REC_DEAD_TEXT_MAX bytes once encoded). */
#define REC_DEAD_TEXT_MAX 512
#define REC_DEAD_OVERHEAD 1536
void rec_put_dead(buf_t *out, int status, const char *detail, const char *topic, int32_t partition, int64_t offset,
                  const void *payload, size_t len, size_t max_payload);

/* A record of the labeled or the dead-letter topic, read back (the alarms
 * role and `triage alarms --replay`): one decoder and one set of rules, so
 * the daemon and the replay never disagree. Anyone who can write to the
 * topics can write anything, so every field is checked:
 *   - a dead letter is an object with an "error" member (nothing else is read);
 *   - the label (label_field) is a non-empty string; "account" and "model"
 *     strings or null; each at most REC_LABELED_FIELD_MAX bytes decoded and
 *     without NUL;
 *   - "ts" an RFC 3339 string or integer epoch milliseconds (absent: -1, the
 *     caller picks a time); "known" and "features" integers in [0, 2^31); "score" a number
 *     in [0, 1];
 *   - "excerpt" a string or absent (one longer than REC_LABELED_EXCERPT_MAX
 *     decoded is cut between characters); "id" a string or integer of at most
 *     REC_MAX_ID_BYTES, else left out (the id only names examples).
 * Strings point into the record's own buffer (valid until the next decode
 * or rec_labeled_free). */
#define REC_LABELED_FIELD_MAX 256
#define REC_LABELED_EXCERPT_MAX 4096

enum rec_labeled_status {
    RECL_OK = 0,
    RECL_NOT_JSON,       /* not a JSON object */
    RECL_BAD_UTF8,       /* a string holds invalid UTF-8 */
    RECL_NO_LABEL,       /* no label, or not a string */
    RECL_TOO_LONG,       /* a name over REC_LABELED_FIELD_MAX bytes */
    RECL_BAD_FIELD,      /* a field of the wrong type or out of range, an empty or NUL label */
    RECL_NSTATUS
};

typedef struct rec_labeled {
    int dead;                  /* a dead letter: only ts_ms is set besides */
    int64_t ts_ms;             /* -1 when absent */
    const char *label;
    const char *account;       /* NULL when absent or null */
    const char *model;         /* NULL when absent or null */
    int known;                 /* n-grams known to the model; -1 when absent */
    int features;              /* n-grams of the record; -1 when absent */
    double score;              /* -1 when absent */
    const char *id;            /* NULL when absent or unusable */
    const char *excerpt;       /* NULL when absent */
    size_t excerpt_len;
    buf_t buf;
} rec_labeled_t;

#define REC_LABELED_INIT {0, -1, NULL, NULL, NULL, -1, -1, -1, NULL, NULL, 0, BUF_INIT}

/* Decodes data[0..len) with the label read from label_field ("label" for the
 * daemon's records). Returns RECL_OK or the enum rec_labeled_status saying
 * why the record cannot be counted. */
int rec_decode_labeled(const char *data, size_t len, const char *label_field, rec_labeled_t *r);
void rec_labeled_free(rec_labeled_t *r);

#endif
