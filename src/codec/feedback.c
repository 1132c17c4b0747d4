#include "codec/feedback.h"
#include "core/tri_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fb_schema(rec_schema_t *s, char *text_fields, size_t max_bytes, char *err, size_t errlen)
{
    rec_schema_default(s);
    s->label_field = "label";
    s->max_bytes = max_bytes;
    return rec_schema_set_text(s, text_fields, err, errlen);
}

void fb_rec_free(fb_rec_t *f)
{
    rec_free(&f->rec);
    buf_free(&f->extra);
}

/* One optional string field (predicted, model, agent) into f->extra: 0 with
 * *off its offset (SIZE_MAX: absent), or REC_BAD_FIELD with detail. */
static int take_opt(const jscan_val_t *v, const char *name, fb_rec_t *f, size_t *off, char *detail, size_t dlen)
{
    *off = SIZE_MAX;
    if (v->type == JSCAN_MISSING || v->type == JSCAN_NULL)
        return REC_OK;
    if (v->type != JSCAN_STR) {
        snprintf(detail, dlen, "'%s' must be a string", name);
        return REC_BAD_FIELD;
    }
    size_t start = f->extra.len;
    if (jscan_str_decode(v, &f->extra)) {
        snprintf(detail, dlen, "out of memory");
        return REC_BAD_FIELD;
    }
    size_t n = f->extra.len - start;
    if (n > FB_FIELD_MAX || memchr(f->extra.p + start, '\0', n)) {
        snprintf(detail, dlen, "'%s' is longer than %d bytes or holds a NUL", name, FB_FIELD_MAX);
        return REC_BAD_FIELD;
    }
    buf_putc(&f->extra, '\0');
    if (f->extra.oom) {
        snprintf(detail, dlen, "out of memory");
        return REC_BAD_FIELD;
    }
    *off = n ? start : SIZE_MAX; /* an empty string says nothing */
    return REC_OK;
}

int fb_decode(const rec_schema_t *s, const char *data, size_t len, fb_rec_t *f, char *detail, size_t dlen)
{
    f->label = f->predicted = f->model = f->agent = NULL;
    buf_reset(&f->extra);
    int rc = rec_decode(s, data, len, &f->rec, detail, dlen);
    if (rc)
        return rc;
    const rec_t *r = &f->rec;
    if (!r->has_label) {
        snprintf(detail, dlen, "no '%s' (the label the agent settled on)", s->label_field);
        return REC_NO_LABEL;
    }
    if (r->label.len > FB_FIELD_MAX || memchr(r->label.p, '\0', r->label.len)) {
        snprintf(detail, dlen, "'%s' is longer than %d bytes or holds a NUL", s->label_field, FB_FIELD_MAX);
        return REC_BAD_FIELD;
    }
    static const char *const keys[] = {"predicted", "model", "agent"};
    jscan_val_t v[3];
    if (jscan_scan_object(data, len, keys, 3, v, NULL)) { /* rec_decode validated it */
        snprintf(detail, dlen, "not JSON");
        return REC_NOT_JSON;
    }
    size_t off[4];
    for (int k = 0; k < 3; k++)
        if ((rc = take_opt(&v[k], keys[k], f, &off[k], detail, dlen)))
            return rc;
    off[3] = f->extra.len;
    buf_append(&f->extra, r->label.p, r->label.len);
    buf_putc(&f->extra, '\0');
    if (f->extra.oom) {
        snprintf(detail, dlen, "out of memory");
        return REC_BAD_FIELD;
    }
    /* Pointers only now: the buffer may have moved while it grew. */
    const char *b = f->extra.p;
    f->predicted = off[0] == SIZE_MAX ? NULL : b + off[0];
    f->model = off[1] == SIZE_MAX ? NULL : b + off[1];
    f->agent = off[2] == SIZE_MAX ? NULL : b + off[2];
    f->label = b + off[3];
    return REC_OK;
}

/* ---- the merge ---- */

struct fb_merge {
    json_t *by_id;          /* id -> [feedback, ts, seq, record], insertion-ordered */
    size_t nfeedback;
};

fb_merge_t *fb_merge_new(void)
{
    fb_merge_t *m = calloc(1, sizeof *m);
    if (m && !(m->by_id = json_object())) {
        free(m);
        m = NULL;
    }
    return m;
}

void fb_merge_free(fb_merge_t *m)
{
    if (!m)
        return;
    json_decref(m->by_id);
    free(m);
}

/* Whether (fb, ts, seq) is newer than the kept entry e by the rule in feedback.h. */
static int newer(const json_t *e, int fb, int64_t ts, uint64_t seq)
{
    int efb = json_is_true(json_array_get(e, 0));
    int64_t ets = (int64_t)json_integer_value(json_array_get(e, 1));
    uint64_t eseq = (uint64_t)json_integer_value(json_array_get(e, 2));
    if (fb != efb)
        return fb > efb;
    if (fb && ts >= 0 && ets >= 0 && ts != ets)
        return ts > ets;
    return seq > eseq;
}

int fb_merge_add(fb_merge_t *m, const char *id, int feedback, int64_t ts_ms, uint64_t seq, json_t *rec)
{
    json_t *e = json_object_get(m->by_id, id);
    if (e && !newer(e, feedback, ts_ms, seq)) {
        json_decref(rec);
        return 0;
    }
    int was_fb = e && json_is_true(json_array_get(e, 0));
    json_t *n = json_pack("[b,I,I,o]", feedback, (json_int_t)ts_ms, (json_int_t)seq, rec);
    if (!n)
        return -1;
    /* Replacing a key keeps its place in jansson's insertion order. */
    if (json_object_set_new(m->by_id, id, n))
        return -1;
    m->nfeedback += (size_t)(feedback && !was_fb);
    return 1;
}

size_t fb_merge_count(const fb_merge_t *m) { return json_object_size(m->by_id); }
size_t fb_merge_feedback(const fb_merge_t *m) { return m->nfeedback; }

json_t *fb_merge_get(const fb_merge_t *m, const char *id, int *feedback)
{
    json_t *e = json_object_get(m->by_id, id);
    if (e && feedback)
        *feedback = json_is_true(json_array_get(e, 0));
    return e ? json_array_get(e, 3) : NULL;
}

int fb_merge_each(const fb_merge_t *m, int (*fn)(void *ctx, const char *id, int feedback, json_t *rec), void *ctx)
{
    const char *id;
    json_t *e;
    json_object_foreach(m->by_id, id, e)
    {
        int rc = fn(ctx, id, json_is_true(json_array_get(e, 0)), json_array_get(e, 3));
        if (rc)
            return rc;
    }
    return 0;
}
