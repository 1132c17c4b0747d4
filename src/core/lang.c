#include "core/lang.h"
#include "core/tri_err.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int lang_cld2_detect(const char *text, size_t len, char *code, size_t codelen);

/* CLD2 allocates and frees a few hundred KiB of scoring buffers on every
 * call. With glibc's defaults the freed top of the heap is given back to the
 * system each time (brk down, then up again on the next call, with a TLB
 * shootdown across cores): 390 us a tweet instead of 13 us, measured on the
 * airline tweets. Keeping 1 MiB of pad at the top of each arena stops that
 * churn; it is a process-wide malloc setting, and a harmless one for the
 * CLI and the daemon (an arena keeps at most 1 MiB it could return). */
static pthread_once_t pad_once = PTHREAD_ONCE_INIT;
static void keep_heap_pad(void) { mallopt(M_TOP_PAD, 1 << 20); }

int lang_detect(const char *text, size_t len, char *code)
{
    pthread_once(&pad_once, keep_heap_pad);
    if (len > LANG_DETECT_MAX_BYTES) {
        len = LANG_DETECT_MAX_BYTES;
        /* Back off continuation bytes: never hand CLD2 half a character. */
        while (len && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--;
    }
    return lang_cld2_detect(text, len, code, LANG_CODE_MAX);
}

json_t *lang_mix_json(char *const *text, const size_t *len, size_t n, double min_share)
{
    json_t *counts = json_object();
    if (!counts)
        return NULL;
    size_t reliable = 0;
    char code[LANG_CODE_MAX];
    for (size_t i = 0; i < n; i++) {
        if (!lang_detect(text[i], len[i], code) || !strcmp(code, "und"))
            continue;
        reliable++;
        json_t *c = json_object_get(counts, code);
        if (c)
            json_integer_set(c, json_integer_value(c) + 1);
        else if (json_object_set_new(counts, code, json_integer(1))) {
            json_decref(counts);
            return NULL;
        }
    }
    return json_pack("{s:I,s:I,s:o,s:f}", "records", (json_int_t)n, "reliable", (json_int_t)reliable, "counts",
                     counts, "min_share", min_share);
}

static int cmp_share_desc(const void *a, const void *b)
{
    const double *x = a, *y = b;
    return *x < *y ? 1 : *x > *y ? -1 : 0;
}

int lang_mix_from_meta(const json_t *meta, lang_mix_t *mix, char *err, size_t errlen)
{
    memset(mix, 0, sizeof *mix);
    const json_t *l = json_object_get(meta, "lang");
    if (!l)
        return 0;
    const json_t *counts = json_object_get(l, "counts"), *ms = json_object_get(l, "min_share");
    if (!json_is_object(counts) || !json_is_number(ms) || !(json_number_value(ms) >= 0 && json_number_value(ms) <= 1))
        return tri_errf(err, errlen, TRI_EFORMAT, "model metadata: \"lang\" needs \"counts\" and a \"min_share\" in [0,1]");
    /* Counts as (share, index) pairs first, to keep the largest shares. */
    size_t total = 0, k = json_object_size(counts), i = 0;
    struct { double share; const char *code; } *v = calloc(k ? k : 1, sizeof *v);
    if (!v)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    const char *key;
    const json_t *c;
    json_object_foreach((json_t *)counts, key, c)
    {
        if (!json_is_integer(c) || json_integer_value(c) < 0 || strlen(key) >= LANG_CODE_MAX) {
            free(v);
            return tri_errf(err, errlen, TRI_EFORMAT, "model metadata: \"lang\" count for '%.20s' is malformed", key);
        }
        total += (size_t)json_integer_value(c);
        v[i].share = (double)json_integer_value(c);
        v[i++].code = key;
    }
    qsort(v, k, sizeof *v, cmp_share_desc);
    mix->present = 1;
    mix->min_share = json_number_value(ms);
    for (i = 0; i < k && i < LANG_MIX_MAX; i++) {
        strcpy(mix->code[i], v[i].code);
        mix->share[i] = total ? v[i].share / (double)total : 0;
    }
    mix->n = i;
    free(v);
    return 0;
}

double lang_mix_share(const lang_mix_t *mix, const char *code)
{
    for (size_t i = 0; i < mix->n; i++)
        if (!strcmp(mix->code[i], code))
            return mix->share[i];
    return 0;
}

int lang_is_foreign(const lang_mix_t *mix, const char *code, int reliable)
{
    if (!mix->present || !reliable || !strcmp(code, "und"))
        return 0;
    double s = lang_mix_share(mix, code);
    /* A language absent from the mix is foreign even with min_share 0. */
    return s <= 0 || s < mix->min_share;
}
