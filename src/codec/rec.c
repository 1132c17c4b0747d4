#include "codec/rec.h"
#include "core/clf.h"
#include "core/clf_explain.h"
#include "core/tri_err.h"
#include "core/tstamp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rec_schema_default(rec_schema_t *s)
{
    memset(s, 0, sizeof *s);
    s->id_field = "id";
    s->text_fields[0] = "text";
    s->ntext = 1;
    s->account_field = "account";
    s->ts_field = "ts";
}

int rec_schema_set_text(rec_schema_t *s, char *list, char *err, size_t errlen)
{
    size_t n = 0;
    for (char *p = list;;) {
        char *c = strchr(p, ',');
        if (c)
            *c = '\0';
        if (!*p)
            return tri_errf(err, errlen, TRI_EINVAL, "empty field name in text field list");
        if (n == REC_MAX_TEXT_FIELDS)
            return tri_errf(err, errlen, TRI_EINVAL, "at most %d text fields", REC_MAX_TEXT_FIELDS);
        s->text_fields[n++] = p;
        if (!c)
            break;
        p = c + 1;
    }
    s->ntext = n;
    return 0;
}

void rec_free(rec_t *r)
{
    buf_free(&r->text);
    buf_free(&r->label);
    buf_free(&r->account);
}

size_t rec_prep_fields(const rec_schema_t *s, const rec_t *r, prep_field_t *out)
{
    for (size_t k = 0; k < s->ntext; k++) {
        out[k].name = s->text_fields[k];
        out[k].p = r->field_has[k] ? r->text.p + r->field_off[k] : NULL;
        out[k].len = r->field_has[k] ? r->field_len[k] : 0;
    }
    return s->ntext;
}

int rec_classify(const rec_schema_t *s, rec_t *r, clf_t *c, clf_result_t *res, json_t **explain, char *detail,
                 size_t detaillen)
{
    prep_field_t fields[REC_MAX_TEXT_FIELDS];
    size_t nf = rec_prep_fields(s, r, fields);
    int rc = explain ? clf_explain(c, fields, nf, CLF_EXPLAIN_TOP, res, explain) : clf_classify_fields(c, fields, nf, res);
    if (rc == CLF_NO_TEXT) {
        snprintf(detail, detaillen, "no text left after %s preparation", prep_mode_name(clf_prep_mode(c)));
        return REC_NO_TEXT;
    }
    if (rc) {
        snprintf(detail, detaillen, "out of memory while classifying");
        return REC_BAD_FIELD;
    }
    r->prepared = clf_prepared(c, &r->prepared_len);
    return REC_OK;
}

const char *rec_status_code(int st)
{
    static const char *const codes[REC_NSTATUS] = {
        [REC_OK] = "ok",           [REC_TOO_LARGE] = "too_large", [REC_NOT_JSON] = "not_json",
        [REC_NOT_OBJECT] = "not_object", [REC_BAD_UTF8] = "invalid_utf8", [REC_NO_ID] = "missing_id",
        [REC_BAD_ID] = "bad_id",   [REC_NO_TEXT] = "no_text",     [REC_BAD_FIELD] = "bad_field",
        [REC_OUTPUT_TOO_LARGE] = "output_too_large", [REC_UNDELIVERABLE] = "undeliverable",
        [REC_NO_LABEL] = "no_label",
    };
    return st >= 0 && st < REC_NSTATUS ? codes[st] : "unknown";
}

/* Whether an integer's JSON text fits in 64 bits. The output copies an
 * integer id as it came, and common JSON readers (jansson, and any that use
 * int64) refuse larger ones: such an output record would be unreadable. */
static int int_fits_64(const char *raw, size_t n)
{
    char tmp[24], *end;
    if (n >= sizeof tmp)
        return 0;
    memcpy(tmp, raw, n);
    tmp[n] = '\0';
    errno = 0;
    (void)strtoll(tmp, &end, 10);
    return !errno && end == tmp + n;
}

static int has_visible(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return 1;
    return 0;
}

/* Copies a scalar value as text: strings decoded, numbers and booleans raw. */
static int scalar_text(const jscan_val_t *v, buf_t *out)
{
    buf_reset(out);
    if (v->type == JSCAN_STR)
        return jscan_str_decode(v, out);
    buf_append(out, v->raw, v->raw_len);
    return out->oom ? TRI_ENOMEM : 0;
}

static const char *const output_fields[] = {"id", "label", "score", "top", "model", "account", "ts", "known", "features",
                                            "schema", "lang", "review", "review_reason", "excerpt",
                                            NULL};

int rec_schema_set_passthrough(rec_schema_t *s, char *list, char *err, size_t errlen)
{
    s->npass = 0;
    if (!*list)
        return 0;
    for (char *p = list;;) {
        char *c = strchr(p, ',');
        if (c)
            *c = '\0';
        if (!*p)
            return tri_errf(err, errlen, TRI_EINVAL, "empty field name in the passthrough list");
        for (const char *const *o = output_fields; *o; o++)
            if (!strcmp(p, *o))
                return tri_errf(err, errlen, TRI_EINVAL, "'%s' is a field of the output record itself", p);
        if (s->npass == REC_MAX_PASSTHROUGH)
            return tri_errf(err, errlen, TRI_EINVAL, "at most %d passthrough fields", REC_MAX_PASSTHROUGH);
        s->passthrough[s->npass++] = p;
        if (!c)
            break;
        p = c + 1;
    }
    return 0;
}

enum { K_ID, K_LABEL, K_ACCOUNT, K_TS, K_TEXT0 };

int rec_decode(const rec_schema_t *s, const char *data, size_t len, rec_t *r, char *detail, size_t dlen)
{
    const char *keys[K_TEXT0 + REC_MAX_TEXT_FIELDS + REC_MAX_PASSTHROUGH];
    jscan_val_t vals[K_TEXT0 + REC_MAX_TEXT_FIELDS + REC_MAX_PASSTHROUGH];
    keys[K_ID] = s->id_field;
    keys[K_LABEL] = s->label_field ? s->label_field : "";
    keys[K_ACCOUNT] = s->account_field ? s->account_field : "";
    keys[K_TS] = s->ts_field ? s->ts_field : "";
    for (size_t k = 0; k < s->ntext; k++)
        keys[K_TEXT0 + k] = s->text_fields[k];
    size_t kpass = K_TEXT0 + s->ntext;
    for (size_t k = 0; k < s->npass; k++)
        keys[kpass + k] = s->passthrough[k];
    size_t nkeys = kpass + s->npass;

    r->has_label = r->has_account = r->has_ts = r->bad_ts = 0;
    r->prepared = NULL;
    r->prepared_len = 0;
    buf_reset(&r->text);
    if (s->max_bytes && len > s->max_bytes) {
        snprintf(detail, dlen, "record is %zu bytes, limit is %zu", len, s->max_bytes);
        return REC_TOO_LARGE;
    }
    size_t pos = 0;
    int st = jscan_scan_object(data, len, keys, nkeys, vals, &pos);
    if (st == JSCAN_ENOTOBJ) {
        snprintf(detail, dlen, "valid JSON but not an object");
        return REC_NOT_OBJECT;
    }
    if (st == JSCAN_EUTF8) {
        snprintf(detail, dlen, "invalid UTF-8 or raw control character at byte %zu", pos);
        return REC_BAD_UTF8;
    }
    if (st) {
        snprintf(detail, dlen, "%s at byte %zu", jscan_strerror(st), pos);
        return REC_NOT_JSON;
    }
    r->id = vals[K_ID];
    for (size_t k = 0; k < s->npass; k++)
        r->pass[k] = vals[kpass + k];
    if (r->id.type == JSCAN_MISSING || r->id.type == JSCAN_NULL) {
        snprintf(detail, dlen, "no '%s' field", s->id_field);
        return REC_NO_ID;
    }
    if (!(r->id.type == JSCAN_STR && r->id.raw_len > 2) && !jscan_num_is_int(&r->id)) {
        snprintf(detail, dlen, "'%s' must be a non-empty string or an integer", s->id_field);
        return REC_BAD_ID;
    }
    if (r->id.type == JSCAN_NUM && !int_fits_64(r->id.raw, r->id.raw_len)) {
        snprintf(detail, dlen, "integer '%s' is outside the 64-bit range (send it as a string)", s->id_field);
        return REC_BAD_ID;
    }
    if (r->id.raw_len > REC_MAX_ID_BYTES) {
        snprintf(detail, dlen, "'%s' is longer than %d bytes", s->id_field, REC_MAX_ID_BYTES);
        return REC_BAD_ID;
    }
    memset(r->field_has, 0, sizeof r->field_has);
    for (size_t k = 0; k < s->ntext; k++) {
        const jscan_val_t *v = &vals[K_TEXT0 + k];
        if (v->type == JSCAN_MISSING || v->type == JSCAN_NULL)
            continue;
        if (v->type != JSCAN_STR) {
            snprintf(detail, dlen, "text field '%s' is not a string", s->text_fields[k]);
            return REC_BAD_FIELD;
        }
        if (r->text.len)
            buf_putc(&r->text, '\n');
        r->field_off[k] = (uint32_t)r->text.len;
        if (jscan_str_decode(v, &r->text) || r->text.len > UINT32_MAX) {
            snprintf(detail, dlen, "out of memory");
            return REC_BAD_FIELD;
        }
        r->field_len[k] = (uint32_t)(r->text.len - r->field_off[k]);
        r->field_has[k] = 1;
    }
    if (!has_visible(r->text.p, r->text.len)) {
        snprintf(detail, dlen, "no text in %s%s", s->text_fields[0], s->ntext > 1 ? " and the other text fields" : "");
        return REC_NO_TEXT;
    }
    if (s->label_field) {
        const jscan_val_t *v = &vals[K_LABEL];
        if (v->type == JSCAN_STR || v->type == JSCAN_NUM || v->type == JSCAN_TRUE || v->type == JSCAN_FALSE) {
            if (scalar_text(v, &r->label))
                return REC_BAD_FIELD;
            r->has_label = r->label.len > 0;
        } else if (v->type == JSCAN_ARR || v->type == JSCAN_OBJ) {
            snprintf(detail, dlen, "label field '%s' is not a scalar", s->label_field);
            return REC_BAD_FIELD;
        }
    }
    if (s->account_field) {
        const jscan_val_t *v = &vals[K_ACCOUNT];
        if (v->type == JSCAN_STR || jscan_num_is_int(v)) {
            if (scalar_text(v, &r->account))
                return REC_BAD_FIELD;
            r->has_account = r->account.len > 0;
        }
    }
    if (s->ts_field) {
        const jscan_val_t *v = &vals[K_TS];
        if (v->type == JSCAN_STR && !v->escaped) {
            r->has_ts = tstamp_parse(v->raw + 1, v->raw_len - 2, &r->ts_ms) == 0;
            r->bad_ts = !r->has_ts;
        } else if (jscan_num_is_int(v) && v->raw[0] != '-') {
            r->has_ts = tstamp_parse(v->raw, v->raw_len, &r->ts_ms) == 0;
            r->bad_ts = !r->has_ts;
        } else if (v->type != JSCAN_MISSING && v->type != JSCAN_NULL) {
            r->bad_ts = 1;
        }
    }
    return REC_OK;
}

void rec_put_key(const rec_t *r, buf_t *out)
{
    if (r->id.type == JSCAN_STR)
        jscan_str_decode(&r->id, out);
    else
        buf_append(out, r->id.raw, r->id.raw_len);
}

/* An id with escapes is decoded and encoded again, as the key is built from
 * the decoded id: a lone surrogate escape becomes U+FFFD in both (copied raw,
 * it made the output invalid JSON and disagree with the key). */
static void put_id(buf_t *o, const rec_t *r)
{
    if (r->id.type != JSCAN_STR || !r->id.escaped) {
        buf_append(o, r->id.raw, r->id.raw_len);
        return;
    }
    buf_t id = BUF_INIT;
    if (jscan_str_decode(&r->id, &id))
        o->oom = 1;
    else
        jscan_put_str(o, id.p, id.len);
    buf_free(&id);
}

void rec_put_labeled(buf_t *o, const rec_schema_t *s, const rec_t *r, const clf_result_t *res, char *const *label_json,
                     const size_t *label_json_len, const char *model_json, size_t model_json_len, int64_t ts_ms)
{
    buf_append(o, "{\"id\":", 6);
    put_id(o, r);
    buf_append(o, ",\"label\":", 9);
    buf_append(o, label_json[res->label], label_json_len[res->label]);
    buf_append(o, ",\"score\":", 9);
    jscan_put_unit(o, res->score);
    buf_append(o, ",\"top\":[", 8);
    for (uint32_t k = 0; k < res->ntop; k++) {
        buf_append(o, k ? ",{\"label\":" : "{\"label\":", k ? 10 : 9);
        buf_append(o, label_json[res->top[k]], label_json_len[res->top[k]]);
        buf_append(o, ",\"score\":", 9);
        jscan_put_unit(o, res->top_score[k]);
        buf_putc(o, '}');
    }
    buf_putc(o, ']');
    /* The code is CLD2's (letters, digits, '-'): no escaping needed. */
    buf_printf(o, ",\"lang\":\"%s\"", res->lang[0] ? res->lang : "und");
    /* A text in a language the model never learned is the stronger reason:
     * its score means little. */
    if (res->review_lang)
        buf_append(o, ",\"review\":true,\"review_reason\":\"lang\"", 37);
    else if (res->review)
        buf_append(o, ",\"review\":true,\"review_reason\":\"score\"", 38);
    if (!model_json) {
        buf_putc(o, '}');
        return;
    }
    buf_append(o, ",\"model\":", 9);
    buf_append(o, model_json, model_json_len);
    buf_append(o, ",\"account\":", 11);
    if (r->has_account)
        jscan_put_str(o, r->account.p, r->account.len);
    else
        buf_append(o, "null", 4);
    char ts[40];
    tstamp_format(ts_ms, ts, sizeof ts);
    buf_printf(o, ",\"ts\":\"%s\",\"known\":%u,\"features\":%u", ts, res->nknown, res->nfeatures);
    if (s->excerpt_bytes && r->prepared && r->prepared_len) {
        /* The prepared text is valid UTF-8 (the input was); cut as encoded. */
        buf_append(o, ",\"excerpt\":", 11);
        jscan_put_str(o, r->prepared, jscan_str_fit(r->prepared, r->prepared_len, s->excerpt_bytes));
    }
    for (size_t k = 0; k < s->npass; k++) {
        const jscan_val_t *v = &r->pass[k];
        if (v->type == JSCAN_MISSING)
            continue;
        buf_putc(o, ',');
        jscan_put_str(o, s->passthrough[k], strlen(s->passthrough[k]));
        buf_putc(o, ':');
        if (v->type == JSCAN_STR && v->escaped) {
            buf_t t = BUF_INIT;
            if (jscan_str_decode(v, &t))
                o->oom = 1;
            jscan_put_str(o, t.p ? t.p : "", t.len);
            buf_free(&t);
        } else {
            buf_append(o, v->raw, v->raw_len);
        }
    }
    buf_printf(o, ",\"schema\":%d}", REC_OUTPUT_SCHEMA);
}

void rec_put_dead(buf_t *o, int status, const char *detail, const char *topic, int32_t partition, int64_t offset,
                  const void *payload, size_t len, size_t max_payload)
{
    /* Detail and topic are cut so that REC_DEAD_OVERHEAD holds. */
    size_t dl = strlen(detail), tl = strlen(topic);
    buf_printf(o, "{\"error\":\"%s\",\"detail\":", rec_status_code(status));
    jscan_put_str(o, detail, jscan_str_fit(detail, dl, REC_DEAD_TEXT_MAX));
    buf_append(o, ",\"topic\":", 9);
    jscan_put_str(o, topic, jscan_str_fit(topic, tl, REC_DEAD_TEXT_MAX));
    buf_printf(o, ",\"partition\":%d,\"offset\":%lld,", (int)partition, (long long)offset);
    const char *p = payload ? payload : "";
    size_t n;
    if (jscan_utf8_valid(p, len)) {
        n = jscan_str_fit(p, len, max_payload);
        buf_append(o, "\"payload\":", 10);
        jscan_put_str(o, p, n);
    } else {
        n = max_payload / 4 * 3;
        if (n > len)
            n = len;
        buf_append(o, "\"payload_base64\":", 17);
        jscan_put_base64(o, p, n);
    }
    buf_printf(o, ",\"payload_bytes\":%zu%s}", len, n < len ? ",\"payload_truncated\":true" : "");
}

/* ---- labeled and dead-letter records, read back ---- */

/* A string field, decoded into b with a NUL: RECL_OK (*off its place), or
 * why it is refused. */
static int take_str(const jscan_val_t *v, buf_t *b, size_t *off)
{
    if (v->type != JSCAN_STR)
        return RECL_BAD_FIELD;
    *off = b->len;
    jscan_str_decode(v, b);
    if (b->len - *off > REC_LABELED_FIELD_MAX)
        return RECL_TOO_LONG;
    /* A \u0000 escape would cut the C string short: not a name triaged writes. */
    if (b->len > *off && memchr(b->p + *off, '\0', b->len - *off))
        return RECL_BAD_FIELD;
    buf_putc(b, '\0');
    return b->oom ? RECL_BAD_FIELD : RECL_OK;
}

/* An optional string field: absent and null are the same. */
static int take_opt_str(const jscan_val_t *v, buf_t *b, size_t *off)
{
    *off = SIZE_MAX;
    return v->type == JSCAN_MISSING || v->type == JSCAN_NULL ? RECL_OK : take_str(v, b, off);
}

static int take_ts(const jscan_val_t *v, buf_t *b, int64_t *ts)
{
    *ts = -1;
    if (v->type == JSCAN_MISSING)
        return RECL_OK;
    if (v->type == JSCAN_STR) {
        size_t off;
        if (take_str(v, b, &off) || tstamp_parse(b->p + off, strlen(b->p + off), ts))
            return RECL_BAD_FIELD;
        return RECL_OK;
    }
    char num[24];
    if (!jscan_num_is_int(v) || v->raw[0] == '-' || v->raw_len >= sizeof num)
        return RECL_BAD_FIELD;
    memcpy(num, v->raw, v->raw_len);
    num[v->raw_len] = '\0';
    errno = 0;
    long long x = strtoll(num, NULL, 10);
    if (errno)
        return RECL_BAD_FIELD;
    *ts = (int64_t)x;
    return RECL_OK;
}

/* The members rec_decode_labeled reads, in this order. */
enum { L_LABEL, L_ACCOUNT, L_TS, L_MODEL, L_KNOWN, L_SCORE, L_ERROR, L_ID, L_EXCERPT, L_FEATURES, L_N };

/* An optional count: a non-negative integer below 2^31, -1 when absent. */
static int take_count(const jscan_val_t *v, int *out)
{
    if (v->type == JSCAN_MISSING)
        return 0;
    char *end;
    long long n = jscan_num_is_int(v) ? strtoll(v->raw, &end, 10) : -1;
    if (n < 0 || n > INT32_MAX)
        return RECL_BAD_FIELD;
    *out = (int)n;
    return 0;
}

/* The id as text, when it is a usable one (it only names examples). */
static size_t take_id(const jscan_val_t *v, buf_t *b)
{
    size_t off = b->len;
    if (v->type == JSCAN_STR && v->raw_len <= REC_MAX_ID_BYTES)
        jscan_str_decode(v, b);
    else if (jscan_num_is_int(v) && v->raw_len <= 24)
        buf_append(b, v->raw, v->raw_len);
    if (b->len == off || memchr(b->p + off, '\0', b->len - off)) {
        b->len = off;
        return SIZE_MAX;
    }
    buf_putc(b, '\0');
    return off;
}

/* The excerpt, cut between characters at REC_LABELED_EXCERPT_MAX bytes. */
static int take_excerpt(const jscan_val_t *v, buf_t *b, size_t *off, size_t *len)
{
    *off = SIZE_MAX;
    *len = 0;
    if (v->type == JSCAN_MISSING || v->type == JSCAN_NULL)
        return RECL_OK;
    if (v->type != JSCAN_STR)
        return RECL_BAD_FIELD;
    *off = b->len;
    jscan_str_decode(v, b);
    size_t n = b->len - *off;
    if (n > REC_LABELED_EXCERPT_MAX) {
        n = REC_LABELED_EXCERPT_MAX;
        while (n && ((unsigned char)b->p[*off + n] & 0xC0) == 0x80)
            n--;
    }
    b->len = *off + n;
    *len = n;
    buf_putc(b, '\0');
    return b->oom ? RECL_BAD_FIELD : RECL_OK;
}

static int take_labeled(const jscan_val_t *v, rec_labeled_t *r)
{
    size_t lo, ao, mo, eo, el;
    int rc;
    if (v[L_LABEL].type != JSCAN_STR)
        return RECL_NO_LABEL;
    if ((rc = take_str(&v[L_LABEL], &r->buf, &lo)) || (rc = take_opt_str(&v[L_ACCOUNT], &r->buf, &ao)) ||
        (rc = take_opt_str(&v[L_MODEL], &r->buf, &mo)) || (rc = take_ts(&v[L_TS], &r->buf, &r->ts_ms)) ||
        (rc = take_excerpt(&v[L_EXCERPT], &r->buf, &eo, &el)))
        return rc;
    size_t io = take_id(&v[L_ID], &r->buf);
    if (r->buf.oom)
        return RECL_BAD_FIELD;
    if (!r->buf.p[lo])
        return RECL_BAD_FIELD;
    if (take_count(&v[L_KNOWN], &r->known) || take_count(&v[L_FEATURES], &r->features))
        return RECL_BAD_FIELD;
    if (v[L_SCORE].type != JSCAN_MISSING) {
        /* strtod stops at the delimiter that follows the number */
        double score = v[L_SCORE].type == JSCAN_NUM ? strtod(v[L_SCORE].raw, NULL) : -1;
        if (!(score >= 0 && score <= 1))
            return RECL_BAD_FIELD;
        r->score = score;
    }
    r->label = r->buf.p + lo;
    r->account = ao == SIZE_MAX ? NULL : r->buf.p + ao;
    r->model = mo == SIZE_MAX ? NULL : r->buf.p + mo;
    r->id = io == SIZE_MAX ? NULL : r->buf.p + io;
    r->excerpt = eo == SIZE_MAX ? NULL : r->buf.p + eo;
    r->excerpt_len = el;
    return RECL_OK;
}

int rec_decode_labeled(const char *data, size_t len, const char *label_field, rec_labeled_t *r)
{
    const char *const keys[L_N] = {label_field, "account", "ts", "model", "known", "score", "error", "id", "excerpt", "features"};
    jscan_val_t v[L_N];
    buf_reset(&r->buf);
    r->dead = 0;
    r->ts_ms = -1;
    r->label = r->account = r->model = r->id = r->excerpt = NULL;
    r->excerpt_len = 0;
    r->known = -1;
    r->features = -1;
    r->score = -1;
    int rc = jscan_scan_object(data, len, keys, L_N, v, NULL);
    if (rc)
        return rc == JSCAN_EUTF8 ? RECL_BAD_UTF8 : RECL_NOT_JSON;
    if (v[L_ERROR].type != JSCAN_MISSING) {
        r->dead = 1;
        return take_ts(&v[L_TS], &r->buf, &r->ts_ms) ? RECL_BAD_FIELD : RECL_OK;
    }
    return take_labeled(v, r);
}

void rec_labeled_free(rec_labeled_t *r) { buf_free(&r->buf); }
