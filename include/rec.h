/* rec — one input record: a JSON object with an id, text fields and optional
 * label, account and event time. The one decoder used by `triage train`,
 * `eval`, `classify` and by the daemon, so a record means the same everywhere.
 *
 * A record that cannot be used gets a stable error code (rec_error_code) that
 * the daemon writes to the dead-letter topic and that metrics count by.
 *
 * Ownership: rec_t is caller-owned and reused across rec_decode calls (its
 * buffers grow once); fj_val_t fields point into the caller's input bytes. */
#ifndef REC_H
#define REC_H
#include "buf.h"
#include "fj.h"
#include <stddef.h>
#include <stdint.h>

#define REC_MAX_TEXT_FIELDS 8
#define REC_MAX_ID_BYTES 512

typedef struct rec_schema {
    const char *id_field;                          /* "id" */
    const char *text_fields[REC_MAX_TEXT_FIELDS];  /* "text", or "subject","body" */
    size_t ntext;
    const char *label_field;                       /* NULL when labels are not read */
    const char *account_field;                     /* NULL to ignore */
    const char *ts_field;                          /* NULL to ignore */
    size_t max_bytes;                              /* 0: no limit */
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
    REC_NSTATUS
};

typedef struct rec {
    fj_val_t id;          /* FJ_STR or integer FJ_NUM; raw JSON text in id.raw */
    buf_t text;           /* decoded text fields joined by '\n' */
    int has_label;
    buf_t label;          /* decoded label (numbers/booleans as their JSON text) */
    int has_account;
    buf_t account;
    int has_ts;           /* ts field parsed */
    int bad_ts;           /* ts field present but unparseable (record still usable) */
    int64_t ts_ms;
} rec_t;

/* Sets schema defaults: id, text, account, ts; no label; no size limit. */
void rec_schema_default(rec_schema_t *s);

/* Parses "subject,body" into s->text_fields (pointers into `list`, which must
 * outlive s; the commas are overwritten). Returns 0 or TRI_EINVAL. */
int rec_schema_set_text(rec_schema_t *s, char *list, char *err, size_t errlen);

/* Decodes data[0..len). Returns REC_OK or a rec_status, with a one-line
 * explanation in detail. */
int rec_decode(const rec_schema_t *s, const char *data, size_t len, rec_t *r, char *detail, size_t dlen);

void rec_free(rec_t *r);

/* Stable snake_case code of a status ("not_json", "missing_id", ...). */
const char *rec_status_code(int st);

#endif
