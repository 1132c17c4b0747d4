/* libFuzzer harness: the record decoder and the output encoders.
 *
 * Every input is decoded with two schemas (the daemon's default and an email
 * one with a label); every record that decodes is encoded as the daemon's and
 * the CLI's labeled output, and every input as a dead-letter record. Each of
 * those outputs must be valid JSON (jansson parses it), the output key must be
 * valid UTF-8, and a string id must read back as the key. Every input is also
 * decoded as a feedback record: a decoded one has a non-empty label and its
 * strings are NUL-terminated within FB_FIELD_MAX bytes.
 */
#include "codec/feedback.h"
#include "codec/rec.h"
#include "core/clf.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses b (which must be valid JSON); returns the document, or NULL when b
 * ran out of memory. */
static json_t *must_be_json(const buf_t *b)
{
    if (b->oom)
        return NULL;
    json_error_t je;
    json_t *j = json_loadb(b->p, b->len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!j) {
        fprintf(stderr, "invalid JSON output (%s at %d): %.*s\n", je.text, je.position, (int)b->len, b->p);
        abort();
    }
    return j;
}

static void encode(const rec_schema_t *s, const rec_t *r)
{
    static char l0[] = "\"complaint\"", l1[] = "\"praise \\u00e9\"", l2[] = "\"other\"";
    static char *const labels[] = {l0, l1, l2};
    static const size_t lens[] = {sizeof l0 - 1, sizeof l1 - 1, sizeof l2 - 1};
    static const float raw[] = {0.5f, -1.0f, 2.0f};
    clf_result_t res = {.label = 2, .score = 0.7f, .ntop = 3, .top = {2, 0, 1}, .top_score = {0.7f, 0.2f, 0.1f},
                        .nknown = 4, .raw = raw};
    static const char model[] = "\"default@20261123T151632.123Z\"";
    buf_t out = BUF_INIT, key = BUF_INIT;
    rec_put_labeled(&out, s, r, &res, labels, lens, model, sizeof model - 1, r->has_ts ? r->ts_ms : 0);
    json_t *j = must_be_json(&out);
    rec_put_key(r, &key);
    if (!key.oom && !jscan_utf8_valid(key.p, key.len))
        abort();
    /* The Kafka key and the output id are the same text. */
    json_t *id = json_object_get(j, "id");
    if (j && !key.oom && json_is_string(id) &&
        (json_string_length(id) != key.len || memcmp(json_string_value(id), key.p, key.len))) {
        fprintf(stderr, "key and output id differ: %.*s\n", (int)out.len, out.p);
        abort();
    }
    json_decref(j);
    buf_reset(&out);
    rec_put_labeled(&out, s, r, &res, labels, lens, NULL, 0, 0);
    json_decref(must_be_json(&out));
    buf_free(&out);
    buf_free(&key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char fields[] = "subject,body";
    static rec_schema_t plain, email;
    static int init;
    if (!init) {
        char err[128];
        rec_schema_default(&plain);
        plain.max_bytes = 1 << 20;
        rec_schema_default(&email);
        if (rec_schema_set_text(&email, fields, err, sizeof err))
            abort();
        email.label_field = "label";
        email.max_bytes = 4096;
        init = 1;
    }
    const char *p = (const char *)data;
    rec_t r = {0};
    char detail[256];
    const rec_schema_t *schemas[] = {&plain, &email};
    buf_t dead = BUF_INIT;
    for (int i = 0; i < 2; i++) {
        int st = rec_decode(schemas[i], p, size, &r, detail, sizeof detail);
        if (st == REC_OK)
            encode(schemas[i], &r);
        else {
            buf_reset(&dead);
            rec_put_dead(&dead, st, detail, "triage.in", 3, 12345, p, size, 100);
            json_decref(must_be_json(&dead));
        }
    }
    static fb_rec_t f;
    static rec_schema_t fbs;
    static char fbfields[] = "text";
    if (!fbs.id_field && fb_schema(&fbs, fbfields, 1 << 20, detail, sizeof detail))
        abort();
    if (fb_decode(&fbs, p, size, &f, detail, sizeof detail) == REC_OK) {
        const char *const s[] = {f.label, f.predicted, f.model, f.agent};
        if (!*f.label)
            abort();
        for (int k = 0; k < 4; k++)
            if (s[k] && strnlen(s[k], FB_FIELD_MAX + 1) > FB_FIELD_MAX)
                abort();
    }
    buf_reset(&dead);
    rec_put_dead(&dead, REC_NOT_JSON, "detail with \"quotes\"", "t\x01opic", 0, 0, p, size, size);
    json_decref(must_be_json(&dead));
    buf_free(&dead);
    rec_free(&r);
    return 0;
}
