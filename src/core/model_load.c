/* model_load — reads a model file image, checks everything model_int.h
 * describes before any of it is used, and builds the scoring index. */
#include "model_int.h"
#include "core/tri_err.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const sec_names[] = {"", "CONF", "STOP", "LABL", "BIAS", "TABL", "WGHT", "META", "SETT", "IDFW"};

/* A malformed file: BADF says which kind of fault, for callers that count
 * refusals by reason; BAD is any other malformation. */
#define BADF(f, ...) do { *fault = (f); rc = tri_errf(err, errlen, TRI_EFORMAT, __VA_ARGS__); goto fail; } while (0)
#define BAD(...) BADF(MODEL_FAULT_INVALID, __VA_ARGS__)

/* SETT: the entries, checked one by one; FEAT must be there. */
static int parse_settings(model_t *m, const unsigned char *p, uint64_t left, model_fault_t *fault, char *err,
                          size_t errlen)
{
    int rc = 0, have_feat = 0;
    uint32_t last = 0;
    while (left) {
        if (left < 12)
            BADF(MODEL_FAULT_TRUNCATED, "SETT section truncated");
        uint32_t key = rd32(p), flags = rd32(p + 4), len = rd32(p + 8);
        uint64_t padded = ((uint64_t)len + 3) & ~(uint64_t)3;
        p += 12;
        left -= 12;
        if (padded > left)
            BAD("setting %u runs past the SETT section", key);
        if (key <= last)
            BAD("settings out of order or repeated at key %u", key);
        if (flags & ~SET_REQUIRED)
            BAD("setting %u has unknown flags %#x", key, flags);
        for (uint64_t i = len; i < padded; i++)
            if (p[i])
                BAD("setting %u: padding not zero", key);
        last = key;
        switch (key) {
        case SET_FEAT:
            if (len != 16)
                BAD("FEAT setting is %u bytes, expected 16", len);
            for (int i = 0; i < 4; i++)
                m->set_feat[i] = rd32(p + 4 * i);
            have_feat = 1;
            break;
        case SET_REVIEW:
            if (len != 4)
                BAD("REVIEW setting is %u bytes, expected 4", len);
            memcpy(&m->review_below, p, 4);
            if (!(m->review_below > 0 && m->review_below <= 1))
                BAD("review threshold is not in (0,1]");
            break;
        case SET_DECISION:
            m->decision = (const float *)p;
            m->decision_len = len;
            for (uint32_t i = 0; i < len / 4; i++)
                if (!isfinite(m->decision[i]))
                    BAD("decision offset %u is not finite", i);
            break;
        case SET_WQ8:
            if (len)
                BAD("WQ8 setting is %u bytes, expected 0", len);
            m->wq8 = 1;
            break;
        default:
            if (flags & SET_REQUIRED)
                BAD("model needs setting %u, which this build does not know: upgrade triage", key);
        }
        p += padded;
        left -= padded;
    }
    if (!have_feat)
        BAD("SETT section lacks the FEAT setting");
fail:
    return rc;
}

/* The sections as the header's table places them (bounds checked). */
typedef struct sections {
    const unsigned char *p[SEC_COUNT + 1];
    uint64_t len[SEC_COUNT + 1];
} sections_t;

/* The parse_* steps below validate m->data[0..size) top to bottom, each
 * check guarding the reads after it, and fill m's views; they run in this
 * order (parse), and on failure the caller destroys m. */

/* Header and section table: every section in bounds, once, none missing. */
static int parse_header(model_t *m, sections_t *s, model_fault_t *fault, char *err, size_t errlen)
{
    const unsigned char *d = m->data;
    size_t size = m->size;
    int rc = 0;
    if (size < HDR_SIZE)
        BADF(MODEL_FAULT_TRUNCATED, "truncated: %zu bytes, the header alone is %d", size, HDR_SIZE);
    if (memcmp(d, MAGIC, 8))
        BADF(MODEL_FAULT_NOT_A_MODEL, "not a triage model (bad magic)");
    uint32_t ver = rd32(d + 8);
    if (ver != MODEL_FORMAT_VERSION && ver != 1)
        BADF(MODEL_FAULT_VERSION, "model format version %u is not supported (this build reads versions 1 and %d%s)", ver,
            MODEL_FORMAT_VERSION, ver > MODEL_FORMAT_VERSION ? "; upgrade triage to use this model" : "");
    m->version = ver;
    int maxsec = ver == 1 ? SEC_COUNT_V1 : SEC_COUNT;
    if (rd32(d + 12) != HDR_SIZE)
        BAD("bad header size %u", rd32(d + 12));
    uint64_t fsize = rd64(d + 16);
    if (fsize != size)
        BADF(MODEL_FAULT_TRUNCATED, "%s: header says %llu bytes, file has %zu", fsize > size ? "truncated" : "trailing data",
            (unsigned long long)fsize, size);
    m->checksum = rd64(d + 24);
    if (model_file_checksum(d, size) != m->checksum)
        BADF(MODEL_FAULT_CHECKSUM, "checksum mismatch (file corrupted)");
    uint32_t nsec = rd32(d + 32);
    if (nsec < 1 || nsec > MAX_SECTIONS)
        BAD("bad section count %u", nsec);
    for (int i = 36; i < HDR_SIZE; i++)
        if (d[i])
            BAD("reserved header bytes are not zero");
    size_t table_end = HDR_SIZE + (size_t)nsec * SEC_ENTRY;
    if (table_end > size)
        BADF(MODEL_FAULT_TRUNCATED, "truncated section table");

    const unsigned char **sec = s->p;
    uint64_t *slen = s->len;
    for (uint32_t i = 0; i < nsec; i++) {
        const unsigned char *e = d + HDR_SIZE + (size_t)i * SEC_ENTRY;
        uint32_t id = rd32(e);
        uint64_t off = rd64(e + 8), len = rd64(e + 16);
        if (id < 1 || id > (uint32_t)maxsec)
            BAD("unknown section id %u in a version %u model", id, ver);
        if (sec[id])
            BAD("section %s appears twice", sec_names[id]);
        if (rd32(e + 4))
            BAD("section %s: reserved field not zero", sec_names[id]);
        if (off % 8 || off < table_end || off > size || len > size - off)
            BAD("section %s out of bounds (offset %llu, length %llu, file %zu)", sec_names[id],
                (unsigned long long)off, (unsigned long long)len, size);
        sec[id] = d + off;
        slen[id] = len;
    }
    for (int id = 1; id <= maxsec; id++)
        if (!sec[id] && id != SEC_IDFW)
            BAD("section %s missing", sec_names[id]);
fail:
    return rc;
}

/* CONF and STOP: the tokenizer and feature configuration (FEAT from SETT
 * already read), checked by building a tokenizer. */
static int parse_conf(model_t *m, const unsigned char *const *sec, const uint64_t *slen, model_fault_t *fault,
                      char *err, size_t errlen)
{
    int rc = 0;
    char cerr[200];
    /* CONF */
    if (slen[SEC_CONF] != CONF_SIZE)
        BAD("CONF section is %llu bytes, expected %d", (unsigned long long)slen[SEC_CONF], CONF_SIZE);
    const unsigned char *c = sec[SEC_CONF];
    if (rd32(c) != TOK_ALGO_VERSION)
        BADF(MODEL_FAULT_VERSION, "model uses tokenizer version %u, this build has %d: retrain the model", rd32(c), TOK_ALGO_VERSION);
    if (rd32(c + 4) != FEAT_HASH_VERSION)
        BADF(MODEL_FAULT_VERSION, "model uses feature hash version %u, this build has %d: retrain the model", rd32(c + 4),
            FEAT_HASH_VERSION);
    m->feat.ngram_min = rd32(c + 8);
    m->feat.ngram_max = rd32(c + 12);
    m->feat.bits = rd32(c + 16);
    m->feat.mode = rd32(c + 20);
    m->feat.seed = rd64(c + 24);
    if (m->version > 1) {
        /* FEAT is required in SETT; it was parsed before CONF, so check the
         * whole configuration here. */
        m->feat.char_min = m->set_feat[0];
        m->feat.char_max = m->set_feat[1];
        m->feat.idf = m->set_feat[2];
        m->feat.l2 = m->set_feat[3];
    }
    if (feat_config_check(&m->feat, cerr, sizeof cerr))
        BAD("feature configuration: %s", cerr);
    m->nlabels = rd32(c + 32);
    if (m->nlabels < 1 || m->nlabels > MODEL_MAX_LABELS)
        BAD("label count %u out of range", m->nlabels);
    memcpy(&m->temperature, c + 36, 4);
    uint32_t stop_len = rd32(c + 40);
    if (rd32(c + 44))
        BAD("CONF reserved field not zero");
    if (memchr(c + 48, 0, 32) == NULL)
        BAD("stemmer name not terminated");
    memcpy(m->tok.stem, c + 48, 32);
    for (size_t i = 80; i < CONF_SIZE; i++)
        if (c[i])
            BAD("CONF reserved bytes not zero");

    /* STOP */
    if (slen[SEC_STOP] != stop_len)
        BAD("STOP section is %llu bytes, CONF says %u", (unsigned long long)slen[SEC_STOP], stop_len);
    if (stop_len) {
        if (memchr(sec[SEC_STOP], 0, stop_len))
            BAD("stop-word list contains a NUL byte");
        char *sw = malloc(stop_len);
        if (!sw) {
            rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
            goto fail;
        }
        memcpy(sw, sec[SEC_STOP], stop_len);
        m->tok.stopwords = sw;
        m->tok.stopwords_len = stop_len;
    }
    /* Building a tokenizer checks the stemmer exists and the list is UTF-8. */
    tok_t *probe_tok = NULL;
    if (tok_new(&m->tok, &probe_tok, cerr, sizeof cerr))
        BAD("tokenizer configuration: %s", cerr);
    tok_free(probe_tok);
fail:
    return rc;
}

/* LABL: the label names, unique and printable. */
static int parse_labels(model_t *m, const unsigned char *const *sec, const uint64_t *slen, model_fault_t *fault,
                        char *err, size_t errlen)
{
    int rc = 0;
    /* LABL */
    m->labels = calloc(m->nlabels, sizeof *m->labels);
    if (!m->labels) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
        goto fail;
    }
    {
        const unsigned char *p = sec[SEC_LABL];
        uint64_t left = slen[SEC_LABL];
        for (uint32_t i = 0; i < m->nlabels; i++) {
            if (left < 4)
                BADF(MODEL_FAULT_TRUNCATED, "LABL section truncated at label %u", i);
            uint32_t n = rd32(p);
            p += 4;
            left -= 4;
            if (n > left)
                BAD("label %u runs past the LABL section", i);
            if (!model_label_ok((const char *)p, n))
                BAD("label %u is empty, too long, or not printable UTF-8", i);
            m->labels[i] = strndup((const char *)p, n);
            if (!m->labels[i]) {
                rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
                goto fail;
            }
            for (uint32_t j = 0; j < i; j++)
                if (!strcmp(m->labels[j], m->labels[i]))
                    BAD("label '%s' appears twice", m->labels[i]);
            p += n;
            left -= n;
        }
        if (left)
            BAD("LABL section has %llu trailing bytes", (unsigned long long)left);
    }
fail:
    return rc;
}

/* BIAS and TABL: the hash table, each row once, buckets within the bits. */
static int parse_table(model_t *m, const unsigned char *const *sec, const uint64_t *slen, model_fault_t *fault,
                       char *err, size_t errlen)
{
    int rc = 0;
    /* BIAS */
    if (slen[SEC_BIAS] != (uint64_t)m->nlabels * 4)
        BAD("BIAS section size does not match %u labels", m->nlabels);
    m->bias = (const float *)sec[SEC_BIAS];

    /* TABL */
    if (slen[SEC_TABL] < 8)
        BADF(MODEL_FAULT_TRUNCATED, "TABL section truncated");
    uint32_t cap = rd32(sec[SEC_TABL]);
    m->nrows = rd32(sec[SEC_TABL] + 4);
    if (cap < 1 || (cap & (cap - 1)) || cap > (1u << 31))
        BAD("table capacity %u is not a power of two", cap);
    if (slen[SEC_TABL] != 8 + (uint64_t)cap * 8)
        BAD("TABL section size does not match capacity %u", cap);
    if (m->nrows >= cap)
        BAD("table has %u rows for %u slots (needs a free slot)", m->nrows, cap);
    m->cap_mask = cap - 1;
    m->table = (const uint32_t *)(sec[SEC_TABL] + 8);
    {
        uint32_t *rb = malloc(((size_t)m->nrows + 1) * sizeof *rb);
        unsigned char *seen = calloc((size_t)m->nrows + 1, 1);
        if (!rb || !seen) {
            free(rb);
            free(seen);
            rc = tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
            goto fail;
        }
        uint32_t used = 0, limit = (uint32_t)((1ULL << m->feat.bits));
        int bad = 0;
        for (uint32_t i = 0; i < cap && !bad; i++) {
            uint32_t key = m->table[2 * i], row = m->table[2 * i + 1];
            if (!key) {
                if (row)
                    bad = 1;
                continue;
            }
            if (key - 1 >= limit || row >= m->nrows || seen[row])
                bad = 2;
            else {
                seen[row] = 1;
                rb[row] = key - 1;
                used++;
            }
        }
        free(seen);
        m->row_bucket = rb;
        if (bad == 1)
            BAD("table: empty slot with a row number");
        if (bad == 2)
            BAD("table: bucket or row out of range, or a row used twice");
        if (used != m->nrows)
            BAD("table has %u used slots, header says %u rows", used, m->nrows);
    }
fail:
    return rc;
}

/* WQ8's WGHT: nrows f32 scales, then nrows * nlabels int8. Each row's scale
 * is a positive number and no int8 is -128. */
static int check_q8(const model_t *m, model_fault_t *fault, char *err, size_t errlen)
{
    int rc = 0;
    const int8_t *q = (const int8_t *)(m->wght + (size_t)m->nrows * 4);
    for (uint32_t r = 0; r < m->nrows; r++) {
        float f;
        memcpy(&f, m->wght + (size_t)r * 4, 4);
        if (!(f > 0) || !isfinite(f))
            BAD("weight scale of row %u is not a positive number", r);
        for (uint32_t l = 0; l < m->nlabels; l++) {
            size_t i = (size_t)r * m->nlabels + l;
            if (q[i] == -128)
                BAD("int8 weight %zu is -128 (the range is -127..127)", i);
        }
    }
fail:
    return rc;
}

/* The WQ8 weights' values, q * scale as the scorer computes them, held to
 * the range float weights are: checked one by one, nothing expanded (the
 * index keeps them int8). */
static int check_q8_values(const model_t *m, char *err, size_t errlen)
{
    const int8_t *q = (const int8_t *)(m->wght + (size_t)m->nrows * 4);
    for (uint32_t r = 0; r < m->nrows; r++) {
        float f;
        memcpy(&f, m->wght + (size_t)r * 4, 4);
        for (uint32_t l = 0; l < m->nlabels; l++) {
            uint64_t i = (uint64_t)r * m->nlabels + l;
            int rc = model_check_weight(i, (float)q[i] * f, err, errlen);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* IDFW, the DECISION size, WGHT (values in range) and META (a JSON object). */
static int parse_weights(model_t *m, const unsigned char *const *sec, const uint64_t *slen, model_fault_t *fault,
                         char *err, size_t errlen)
{
    int rc = 0;
    /* IDFW */
    if (m->feat.idf != (sec[SEC_IDFW] != NULL))
        BAD("IDFW section %s", m->feat.idf ? "missing (settings say idf)" : "present without idf");
    if (m->feat.idf) {
        if (slen[SEC_IDFW] != (uint64_t)m->nrows * 4)
            BAD("IDFW section size does not match %u rows", m->nrows);
        m->idf = (const float *)sec[SEC_IDFW];
        for (uint32_t r = 0; r < m->nrows; r++)
            if (!(m->idf[r] > 0) || !isfinite(m->idf[r]))
                BAD("IDF weight of row %u is not a positive number", r);
    }
    if (m->decision_len && m->decision_len != (uint64_t)m->nlabels * 4)
        BAD("DECISION setting size does not match %u labels", m->nlabels);

    /* WGHT */
    if (slen[SEC_WGHT] != (uint64_t)m->nrows * (m->wq8 ? 4 + (uint64_t)m->nlabels : 4 * (uint64_t)m->nlabels))
        BAD("WGHT section size does not match %u rows x %u labels", m->nrows, m->nlabels);
    if (m->wq8) {
        m->wght = sec[SEC_WGHT];
        if ((rc = check_q8(m, fault, err, errlen)))
            goto fail;
    } else {
        m->weights = (const float *)sec[SEC_WGHT];
    }
    if ((rc = model_check_values(m->temperature, m->bias, m->nlabels, m->weights,
                                 m->weights ? (uint64_t)m->nrows * m->nlabels : 0, err, errlen)) ||
        (m->wq8 && (rc = check_q8_values(m, err, errlen))))
        goto fail;

    /* META */
    if (slen[SEC_META] > MODEL_MAX_META_BYTES)
        BAD("metadata larger than %u bytes", MODEL_MAX_META_BYTES);
    /* parsed, it takes a few times its text: counted as twice */
    m->meta_bytes = 2 * (size_t)slen[SEC_META];
    {
        json_error_t je;
        m->meta = json_loadb((const char *)sec[SEC_META], slen[SEC_META], JSON_REJECT_DUPLICATES, &je);
        if (!m->meta)
            BAD("metadata is not valid JSON: %s", je.text);
        if (!json_is_object(m->meta))
            BAD("metadata is not a JSON object");
    }
fail:
    return rc;
}

static int parse(model_t *m, model_fault_t *fault, char *err, size_t errlen)
{
    sections_t s = {{0}, {0}};
    int rc = parse_header(m, &s, fault, err, errlen);
    if (!rc && m->version > 1)
        rc = parse_settings(m, s.p[SEC_SETT], s.len[SEC_SETT], fault, err, errlen);
    if (!rc)
        rc = parse_conf(m, s.p, s.len, fault, err, errlen);
    if (!rc)
        rc = parse_labels(m, s.p, s.len, fault, err, errlen);
    if (!rc)
        rc = parse_table(m, s.p, s.len, fault, err, errlen);
    if (!rc)
        rc = parse_weights(m, s.p, s.len, fault, err, errlen);
    return rc;
}

/* The index holds every row's key, IDF and weights: the file image would be
 * a second copy, as large as the file, that a worker holding thousands of
 * account models pays for each. The few floats the rest of the model reads are copied out, and the
 * image is freed; model_row reads the index from here on. */
static int detach_image(model_t *m)
{
    size_t L = m->nlabels, n = L + (m->decision ? L : 0) + (m->idf ? m->nrows : 0);
    float *own = malloc((n ? n : 1) * sizeof *own), *p = own;
    if (!own)
        return TRI_ENOMEM;
    memcpy(p, m->bias, L * sizeof *p);
    m->bias = p;
    p += L;
    if (m->decision) {
        memcpy(p, m->decision, L * sizeof *p);
        m->decision = p;
        p += L;
    }
    if (m->idf) {
        memcpy(p, m->idf, (size_t)m->nrows * sizeof *p);
        m->idf = p;
    }
    m->floats_owned = own;
    size_t labels = L * sizeof *m->labels;
    for (size_t i = 0; i < L; i++)
        labels += strlen(m->labels[i]) + 1;
    m->held = sizeof *m + n * sizeof *own + (size_t)m->nrows * sizeof *m->row_bucket + labels +
              m->tok.stopwords_len + m->meta_bytes;
    m->weights = NULL;
    m->wght = NULL;
    m->table = NULL;
    free((void *)m->data);
    m->data = NULL;
    return 0;
}

static int finish_load(model_t *m, model_t **out, model_fault_t *fault, char *err, size_t errlen)
{
    m->refs = 1;
    int rc = parse(m, fault, err, errlen);
    if (!rc && (rc = model_build_index(m))) {
        if (rc == TRI_EFORMAT)
            *fault = MODEL_FAULT_INVALID;
        rc = rc == TRI_EFORMAT ? tri_errf(err, errlen, rc, "table: a bucket appears twice")
                               : tri_errf(err, errlen, rc, "out of memory building the scoring index");
    }
    if (rc) {
        model_destroy(m);
        return rc;
    }
    if (detach_image(m)) {
        model_destroy(m);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    *out = m;
    return 0;
}

int model_load_mem(const void *data, size_t len, model_t **out, char *err, size_t errlen)
{
    model_fault_t fault = MODEL_FAULT_NONE;
    model_t *m = calloc(1, sizeof *m);
    void *copy = malloc(len ? len : 1);
    if (!m || !copy) {
        free(m);
        free(copy);
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    }
    if (len)
        memcpy(copy, data, len);
    m->data = copy;
    m->size = len;
    return finish_load(m, out, &fault, err, errlen);
}

int model_load_file(const char *path, model_t **out, char *err, size_t errlen)
{
    model_fault_t fault;
    return model_load_file_why(path, out, &fault, err, errlen);
}

int model_load_file_why(const char *path, model_t **out, model_fault_t *fault, char *err, size_t errlen)
{
    *fault = MODEL_FAULT_NONE;
    /* A private copy, not a mapping: with MAP_PRIVATE a page not yet touched
     * still reads the file, so a model truncated in place raised SIGBUS in
     * the scorer and one overwritten in place scored with a mix of versions. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tri_errf(err, errlen, errno == ENOENT ? TRI_ENOENT : TRI_EIO, "%s: %s", path, strerror(errno));
    unsigned char *data = NULL;
    int rc = 0;
    struct stat st;
    if (fstat(fd, &st)) {
        rc = tri_errf(err, errlen, TRI_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = tri_errf(err, errlen, TRI_EINVAL, "%s: not a regular file", path);
        goto out;
    }
    /* The file may change while it is read: read what fstat promised and
     * let the size and checksum in the header judge the result. */
    size_t size = (size_t)st.st_size, got = 0;
    if (!(data = malloc(size ? size : 1))) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = tri_errf(err, errlen, TRI_EIO, "%s: read: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    model_t *m = calloc(1, sizeof *m);
    if (!m) {
        rc = tri_errf(err, errlen, TRI_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    m->data = data;
    m->size = got;
    data = NULL; /* owned by m now */
    char inner[TRI_ERRLEN];
    if ((rc = finish_load(m, out, fault, inner, sizeof inner)))
        tri_errf(err, errlen, rc, "%s: %s", path, inner);
out:
    free(data);
    close(fd);
    return rc;
}
