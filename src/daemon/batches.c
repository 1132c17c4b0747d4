#include "daemon/batches.h"
#include "codec/jscan.h"
#include "core/tri_err.h"
#include "core/tstamp.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Batches are recycled: their arenas and record arrays keep their capacity,
 * up to FREE_BATCHES of them and arenas below FREE_ARENA_MAX. */
#define FREE_BATCHES 8
#define FREE_ARENA_MAX (64u << 20)
/* What Kafka adds to key and value when it checks message.max.bytes (record
 * and batch headers), with room to spare. */
#define RECORD_OVERHEAD 512

struct batches {
    uv_loop_t *loop;
    batches_opts_t o;
    batches_hooks_t h;
    batch_t *cur;              /* filling */
    batch_t *head, *tail;      /* closed, not yet fully handed on */
    batch_t *freelist;
    batch_t *live;             /* batches in use, whatever their state: freed at exit */
    size_t nfree;
    int nworking;
    size_t bytes;              /* see batches_bytes */
    pthread_mutex_t mu;        /* b->finished, between a worker and a waiting revoke */
    pthread_cond_t cv;
};

int batches_new(uv_loop_t *loop, const batches_opts_t *o, const batches_hooks_t *h, batches_t **out)
{
    batches_t *bs = calloc(1, sizeof *bs);
    if (!bs)
        return TRI_ENOMEM;
    bs->loop = loop;
    bs->o = *o;
    bs->h = *h;
    pthread_mutex_init(&bs->mu, NULL);
    pthread_cond_init(&bs->cv, NULL);
    *out = bs;
    return 0;
}

static batch_t *batch_get(batches_t *bs)
{
    batch_t *b = bs->freelist;
    if (b) {
        bs->freelist = b->next;
        bs->nfree--;
    } else {
        b = calloc(1, sizeof *b);
        if (!b)
            return NULL;
        b->bs = bs;
        b->work.data = b;
    }
    b->n = b->produced = b->outstanding = 0;
    b->state = BATCH_FILLING;
    b->finished = b->after_pending = 0;
    b->next = NULL;
    b->nmodels = 0;
    b->wait_since_ms = 0;
    b->wait_cut = 0;
    b->in_bytes = b->counted = 0;
    buf_reset(&b->arena);
    b->live_prev = NULL;
    b->live_next = bs->live;
    if (bs->live)
        bs->live->live_prev = b;
    bs->live = b;
    return b;
}

static void live_unlink(batches_t *bs, batch_t *b)
{
    if (b->live_prev)
        b->live_prev->live_next = b->live_next;
    else
        bs->live = b->live_next;
    if (b->live_next)
        b->live_next->live_prev = b->live_prev;
    b->live_prev = b->live_next = NULL;
}

/* Frees the dead letters built after refusals. */
static void free_own(batch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->recs[i].own);
        b->recs[i].own = NULL;
    }
}

static void batch_destroy(batch_t *b)
{
    free(b->models);
    free(b->clfs);
    free(b->clf_made);
    free(b->order);
    free(b->mstart);
    free(b->recs);
    buf_free(&b->arena);
    rec_free(&b->rec);
    free(b);
}

/* Gives back the batch's scorers (those lent, and those its worker made and
 * kept) and its model references. */
static void release_models(batch_t *b)
{
    for (size_t i = 0; i < b->nmodels; i++) {
        if (b->clfs[i] && b->clf_made[i])
            registry_clf_adopt(b->models[i], b->clfs[i]);
        else if (b->clfs[i])
            registry_clf_put(b->models[i], b->clfs[i]);
        b->clfs[i] = NULL;
        registry_model_unref(b->models[i]);
    }
    b->nmodels = 0;
}

/* Drops the header copies of b's records (their deliveries are over). */
static void release_headers(batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->recs[i].out.headers) {
            rd_kafka_headers_destroy((rd_kafka_headers_t *)b->recs[i].out.headers);
            b->recs[i].out.headers = NULL;
        }
}

/* Recycles a batch once nothing refers to it any more. */
static void batch_maybe_free(batches_t *bs, batch_t *b)
{
    if (b->state == BATCH_FILLING || b->after_pending || b->produced < b->n || b->outstanding)
        return;
    release_models(b);
    release_headers(b);
    free_own(b);
    bs->bytes -= b->counted;
    b->counted = 0;
    live_unlink(bs, b);
    if (bs->nfree < FREE_BATCHES && b->arena.cap < FREE_ARENA_MAX) {
        b->next = bs->freelist;
        bs->freelist = b;
        bs->nfree++;
    } else {
        batch_destroy(b);
    }
}

void batches_free(batches_t *bs)
{
    if (!bs)
        return;
    while (bs->live) {
        batch_t *b = bs->live;
        live_unlink(bs, b);
        for (size_t i = 0; i < b->n; i++) {
            if (b->recs[i].msg)
                rd_kafka_message_destroy(b->recs[i].msg);
            if (b->recs[i].part)
                offsets_unref(b->recs[i].part);
        }
        release_headers(b);
        release_models(b);
        free_own(b);
        batch_destroy(b);
    }
    while (bs->freelist) {
        batch_t *b = bs->freelist;
        bs->freelist = b->next;
        batch_destroy(b);
    }
    pthread_mutex_destroy(&bs->mu);
    pthread_cond_destroy(&bs->cv);
    free(bs);
}

/* ---- input ---- */

int batches_add(batches_t *bs, rd_kafka_message_t *m, offsets_part_t *part, uint64_t seq)
{
    int opened = 0;
    if (!bs->cur) {
        if (!(bs->cur = batch_get(bs)))
            return TRI_ENOMEM;
        bs->cur->t_first = uv_hrtime();
        opened = 1;
    }
    batch_t *b = bs->cur;
    if (b->n == b->cap) {
        batch_rec_t *v = buf_grow(b->recs, &b->cap, sizeof *v, bs->o.batch_size);
        if (!v)
            return TRI_ENOMEM;
        b->recs = v;
    }
    batch_rec_t *r = &b->recs[b->n++];
    memset(r, 0, sizeof *r);
    r->msg = m;
    r->part = offsets_ref(part);
    r->seq = seq;
    r->offset = m->offset;
    r->in_len = m->len;
    r->b = b;
    b->in_bytes += m->len;
    bs->bytes += m->len;
    if (b->n >= bs->o.batch_size || b->in_bytes >= bs->o.max_bytes)
        return BATCHES_FULL;
    return opened ? BATCHES_OPENED : BATCHES_ADDED;
}

void batches_close(batches_t *bs, registry_t *reg)
{
    batch_t *b = bs->cur;
    if (!b)
        return;
    bs->cur = NULL;
    if (!b->n) {
        b->state = BATCH_WORKED;
        batch_maybe_free(bs, b);
        return;
    }
    b->state = BATCH_QUEUED;
    b->outstanding = b->n;
    if (bs->tail)
        bs->tail->next = b;
    else
        bs->head = b;
    bs->tail = b;
    batches_kick(bs, reg);
}

/* ---- classification (worker thread) ---- */

/* The input headers that go to the output, copied (NULL when none). */
static rd_kafka_headers_t *copy_headers(const batches_opts_t *o, rd_kafka_message_t *m)
{
    rd_kafka_headers_t *in;
    if ((!o->headers_all && !o->nheader_names) || rd_kafka_message_headers(m, &in))
        return NULL;
    if (o->headers_all)
        return rd_kafka_headers_copy(in);
    rd_kafka_headers_t *out = rd_kafka_headers_new(4);
    const char *name;
    const void *val;
    size_t len;
    for (size_t i = 0; !rd_kafka_header_get_all(in, i, &name, &val, &len); i++)
        for (size_t k = 0; k < o->nheader_names; k++)
            if (!strcmp(name, o->header_names[k])) {
                rd_kafka_header_add(out, name, -1, val, (ssize_t)len);
                break;
            }
    if (!rd_kafka_header_cnt(out)) {
        rd_kafka_headers_destroy(out);
        return NULL;
    }
    return out;
}

static void classify_one(const batches_opts_t *o, batch_t *b, batch_rec_t *r)
{
    const rd_kafka_message_t *m = r->msg;
    r->out.headers = copy_headers(o, r->msg);
    char detail[256];
    buf_t *a = &b->arena;
    r->label = -1;
    r->nknown = 0;
    r->nfeatures = 0;
    int st = rec_decode(o->schema, m->payload, m->len, &b->rec, detail, sizeof detail);
    if (st == REC_OK) {
        clf_result_t res;
        registry_model_t *rm = b->models[r->mi];
        st = rec_classify(o->schema, &b->rec, b->clfs[r->mi], &res, NULL, detail, sizeof detail);
        if (st == REC_OK) {
            int64_t ts = b->rec.has_ts ? b->rec.ts_ms : rd_kafka_message_timestamp(m, NULL);
            if (ts < 0)
                ts = tstamp_now_ms();
            r->key_off = a->len;
            rec_put_key(&b->rec, a);
            r->key_len = a->len - r->key_off;
            r->out_off = a->len;
            const registry_json_t *j = registry_model_json(rm);
            rec_put_labeled(a, o->schema, &b->rec, &res, j->label, j->label_len, j->tag, j->tag_len, ts);
            r->out_len = a->len - r->out_off;
            /* The producer would refuse it for good (and a retried refusal
             * stalls the partition): the record is dead-lettered instead. */
            if (o->max_message && r->out_len + r->key_len + RECORD_OVERHEAD > o->max_message) {
                snprintf(detail, sizeof detail, "labeled record of %zu bytes exceeds message.max.bytes %zu",
                         r->out_len + r->key_len, o->max_message);
                a->len = r->key_off;
                st = REC_OUTPUT_TOO_LARGE;
            } else {
                r->label = (int32_t)res.label;
                r->nknown = res.nknown;
                r->nfeatures = res.nfeatures;
            }
        }
    }
    r->status = (int16_t)st;
    if (st != REC_OK) {
        r->key_off = a->len;
        buf_append(a, m->key, m->key ? m->key_len : 0);
        r->key_len = a->len - r->key_off;
        r->out_off = a->len;
        rec_put_dead(a, st, detail, rd_kafka_topic_name(m->rkt), m->partition, m->offset, m->payload, m->len,
                     o->dlq_max);
        r->out_len = a->len - r->out_off;
    }
}

/* Scores one model's records; with no idle scorer for it, makes one here on
 * the pool (kept for the model's idle pool while the batch keeps fewer than
 * BATCH_SCORERS_KEPT, else freed after). A scorer that cannot be made (out
 * of memory) leaves its records to the default, and their output says so. */
static void work_model(batches_t *bs, batch_t *b, size_t k, size_t *kept)
{
    const size_t *idx = b->order + b->mstart[k];
    size_t n = b->mstart[k + 1] - b->mstart[k];
    if (!n)
        return;
    int made = 0;
    if (!b->clfs[k]) {
        char err[TRI_ERRLEN];
        if (clf_new((model_t *)registry_model_model(b->models[k]), &b->clfs[k], err, sizeof err)) {
            b->clfs[k] = NULL;
            for (size_t i = 0; i < n; i++)
                b->recs[idx[i]].mi = 0;
            k = 0;
        } else {
            made = 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        classify_one(&bs->o, b, &b->recs[idx[i]]);
    if (made && *kept >= BATCH_SCORERS_KEPT) {
        clf_free(b->clfs[k]);
        b->clfs[k] = NULL;
    } else if (made) {
        b->clf_made[k] = 1;
        ++*kept;
    }
}

static void batch_work(uv_work_t *w)
{
    batch_t *b = w->data;
    batches_t *bs = b->bs;
    uint64_t t0 = uv_hrtime();
    /* One model after the other (order and mstart were sized on the loop):
     * a scorer made here is needed for its model's records only. Outputs go
     * to the arena at offsets kept per record, so the order is free. */
    memset(b->mstart, 0, (b->nmodels + 1) * sizeof *b->mstart);
    for (size_t i = 0; i < b->n; i++)
        b->mstart[b->recs[i].mi + 1]++;
    for (size_t k = 0; k < b->nmodels; k++)
        b->mstart[k + 1] += b->mstart[k];
    for (size_t i = 0; i < b->n; i++)
        b->order[b->mstart[b->recs[i].mi]++] = i;
    for (size_t k = b->nmodels; k > 0; k--)
        b->mstart[k] = b->mstart[k - 1];
    b->mstart[0] = 0;
    size_t kept = 0;
    for (size_t k = 0; k < b->nmodels; k++)
        work_model(bs, b, k, &kept);
    b->work_ns = uv_hrtime() - t0;
    pthread_mutex_lock(&bs->mu);
    b->finished = 1;
    pthread_cond_broadcast(&bs->cv);
    pthread_mutex_unlock(&bs->mu);
}

/* Loop side of a finished classification. */
static void finish_work(batches_t *bs, batch_t *b)
{
    b->state = BATCH_WORKED;
    bs->nworking--;
    b->counted = b->arena.len;
    bs->bytes += b->counted;
    bs->h.worked(bs->h.ctx, b);
    /* The outputs are encoded: the batch no longer needs its models, so they
     * may be evicted while its records are delivered. */
    release_models(b);
}

static void batch_after(uv_work_t *w, int status)
{
    (void)status;
    batch_t *b = w->data;
    batches_t *bs = b->bs;
    b->after_pending = 0;
    if (b->state == BATCH_WORKING)
        finish_work(bs, b);
    batch_maybe_free(bs, b);
    bs->h.after(bs->h.ctx);
}

void batches_wait_workers(batches_t *bs)
{
    for (batch_t *b = bs->head; b; b = b->next) {
        if (b->state != BATCH_WORKING)
            continue;
        pthread_mutex_lock(&bs->mu);
        while (!b->finished)
            pthread_cond_wait(&bs->cv, &bs->mu);
        pthread_mutex_unlock(&bs->mu);
        finish_work(bs, b);
    }
}

/* ---- model choice ---- */

static int grow_models(batch_t *b)
{
    if (b->nmodels < b->capmodels)
        return 0;
    /* Parallel arrays: each grows from the same capacity, and capmodels
     * only counts once all three hold it. */
    size_t cap = b->capmodels;
    clf_t **c = buf_grow(b->clfs, &cap, sizeof *c, 4);
    if (!c)
        return TRI_ENOMEM;
    b->clfs = c;
    cap = b->capmodels;
    unsigned char *made = buf_grow(b->clf_made, &cap, 1, 4);
    if (!made)
        return TRI_ENOMEM;
    b->clf_made = made;
    cap = b->capmodels;
    registry_model_t **v = buf_grow(b->models, &cap, sizeof *v, 4);
    if (!v)
        return TRI_ENOMEM;
    b->models = v;
    b->capmodels = cap;
    return 0;
}

/* Adds m to the batch's models (once) with a reference; the default (the
 * first) gets a scorer made now if none is idle, an account model only an
 * idle one (else its worker makes one). */
static int add_model(batch_t *b, registry_model_t *m, uint32_t *mi)
{
    for (size_t i = b->nmodels; i-- > 0;)
        if (b->models[i] == m) {
            *mi = (uint32_t)i;
            return 0;
        }
    if (grow_models(b))
        return TRI_ENOMEM;
    b->clfs[b->nmodels] = b->nmodels ? registry_clf_take(m) : registry_clf_get(m);
    if (!b->clfs[b->nmodels])
        if (!b->nmodels)
            return TRI_ENOMEM;
    b->clf_made[b->nmodels] = 0;
    b->models[b->nmodels] = registry_model_ref(m);
    *mi = (uint32_t)b->nmodels++;
    return 0;
}

/* The worker's scratch for grouping records by model. */
static int size_scratch(batch_t *b)
{
    if (b->caporder < b->n) {
        size_t *v = realloc(b->order, b->n * sizeof *v);
        if (!v)
            return TRI_ENOMEM;
        b->order = v;
        b->caporder = b->n;
    }
    if (b->capmstart < b->nmodels + 1) {
        size_t *v = realloc(b->mstart, (b->nmodels + 1) * sizeof *v);
        if (!v)
            return TRI_ENOMEM;
        b->mstart = v;
        b->capmstart = b->nmodels + 1;
    }
    return 0;
}

/* Chooses each record's model: the default, or its account's own, in one
 * pass on the loop (nothing is evicted meanwhile). Returns 0 when every
 * record has its model: the batch holds a reference to each. Returns 1 when
 * some account models are still loading: the pass goes on to the end, so
 * every missing model is asked for at once (loads run in parallel), and the
 * batch waits keeping the references it took, so a load for its other
 * models cannot evict them (the registry admits a load only within the
 * budget, never evicting a held model: what waiting batches hold was loaded
 * within it, and only the first batch.workers queued batches choose). It
 * waits at most model.account.wait in all, then the default labels the
 * records whose model is still loading. -1: out of memory or no model.
 * Only when some account has a model of its own is the account field read
 * here; a malformed record keeps the default and is dead-lettered later. */
static int resolve_models(const batches_opts_t *o, registry_t *reg, batch_t *b)
{
    registry_model_t *def = registry_current(reg);
    if (!def)
        return -1;
    if (b->nmodels && b->models[0] != def)
        release_models(b); /* the default changed while waiting: one version per batch */
    uint32_t mi0;
    if (add_model(b, def, &mi0))
        return -1;
    int accounts = registry_has_accounts(reg) && o->schema->account_field;
    uint64_t now = uv_now(b->bs->loop);
    int may_wait = !b->wait_cut && (!b->wait_since_ms || now - b->wait_since_ms < registry_account_wait_ms(reg));
    size_t counts[REGISTRY_NRESULTS] = {0};
    buf_t acc = BUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < b->n; i++) {
        batch_rec_t *r = &b->recs[i];
        r->mi = mi0;
        if (!accounts)
            continue;
        const char *key = o->schema->account_field;
        jscan_val_t v;
        if (jscan_scan_object(r->msg->payload, r->msg->len, &key, 1, &v, NULL) || v.type != JSCAN_STR)
            continue;
        buf_reset(&acc);
        if (jscan_str_decode(&v, &acc)) {
            rc = -1;
            break;
        }
        int result;
        registry_model_t *m = registry_for_account(reg, acc.p ? acc.p : "", acc.len, may_wait, &result);
        counts[result]++;
        if (result == REGISTRY_WAIT)
            rc = 1;
        else if (rc >= 0 && m && m != def && add_model(b, m, &r->mi))
            rc = -1;
    }
    buf_free(&acc);
    if (rc == 1) {
        size_t waits[REGISTRY_NRESULTS] = {0};
        waits[REGISTRY_WAIT] = counts[REGISTRY_WAIT];
        if (!b->wait_since_ms) { /* counted once per batch, when it starts waiting */
            b->wait_since_ms = now ? now : 1;
            registry_count_lookups(reg, waits);
        }
    } else if (!rc) {
        registry_count_lookups(reg, counts);
    }
    if (!rc && size_scratch(b))
        rc = -1;
    if (rc < 0)
        release_models(b);
    return rc;
}

static void start_work(batches_t *bs, registry_t *reg, batch_t *b)
{
    if (resolve_models(&bs->o, reg, b))
        return; /* stays queued: retried when a model arrives, or by the tick */
    b->state = BATCH_WORKING;
    b->finished = 0;
    b->after_pending = 1;
    bs->nworking++;
    if (uv_queue_work(bs->loop, &b->work, batch_work, batch_after)) {
        /* Cannot happen with a live loop; keep it queued and retry. */
        b->state = BATCH_QUEUED;
        b->after_pending = 0;
        bs->nworking--;
        release_models(b);
    }
}

/* Only the first `workers` queued batches are looked at: those start next,
 * and only they ask for account models, so the loads asked for are the
 * ones the next batches need (not every queued batch's, which would evict
 * each other from a small cache before their batches run). */
void batches_kick(batches_t *bs, registry_t *reg)
{
    if (!reg)
        return; /* not started: no model to choose from yet */
    /* Scorers and references came back: evict beyond the budget, start the
     * loads that fit now (before the batches take what is loaded). */
    registry_settle(reg);
    int looked = 0;
    for (batch_t *b = bs->head; b && bs->nworking < bs->o.workers && looked < bs->o.workers; b = b->next)
        if (b->state == BATCH_QUEUED) {
            looked++;
            start_work(bs, reg, b);
        }
    /* The batches hold what they chose: the loads behind may evict the rest. */
    registry_settle(reg);
    /* No load runs and no batch is being labeled, yet a batch waits: what it
     * waits for cannot be admitted within the budget beside the models the
     * waiting batches hold, and nothing will release them before the wait
     * runs out (a working set larger than model.cache.max.bytes). Waiting
     * would only stall every partition for model.account.wait per batch, so
     * the oldest waiting batch goes on now, with the default for the records
     * whose model is not in memory; the loads it asked for stay queued. */
    if (bs->nworking || registry_loads_running(reg))
        return;
    for (batch_t *b = bs->head; b; b = b->next)
        if (b->state == BATCH_QUEUED && b->wait_since_ms) {
            b->wait_cut = 1;
            registry_count_wait_cut(reg);
            start_work(bs, reg, b);
            registry_settle(reg);
            return;
        }
}

/* ---- output side ---- */

batch_rec_t *batches_next_out(batches_t *bs)
{
    batch_t *b = bs->head;
    if (!b || b->state != BATCH_WORKED || b->produced >= b->n)
        return NULL;
    batch_rec_t *r = &b->recs[b->produced];
    r->out.dead = r->status != REC_OK;
    r->out.key = b->arena.p + r->key_off;
    r->out.klen = r->key_len;
    r->out.val = b->arena.p + r->out_off;
    r->out.vlen = r->out_len;
    return r;
}

void batches_handed_on(batches_t *bs, batch_rec_t *r)
{
    batch_t *b = r->b;
    rd_kafka_message_destroy(r->msg);
    r->msg = NULL;
    bs->bytes -= r->in_len;
    if (++b->produced < b->n)
        return;
    /* Fully handed on: out of the FIFO before any delivery report can finish it. */
    bs->head = b->next;
    if (!bs->head)
        bs->tail = NULL;
    b->next = NULL;
    batch_maybe_free(bs, b);
}

int batches_delivered(batches_t *bs, batch_rec_t *r, uint64_t *age_ns)
{
    offsets_unref(r->part);
    r->part = NULL;
    batch_t *b = r->b;
    if (--b->outstanding || b->produced < b->n)
        return 0;
    *age_ns = uv_hrtime() - b->t_first;
    batch_maybe_free(bs, b);
    return 1;
}

/* ---- rebalance ---- */

/* Drops the records of revoked partitions from one batch; returns how many. */
static size_t drop_records(batches_t *bs, batch_t *b, const rd_kafka_topic_partition_list_t *parts)
{
    size_t k = 0, dropped = 0;
    for (size_t i = 0; i < b->n; i++) {
        batch_rec_t *r = &b->recs[i];
        if (offsets_in_list(parts, r->part)) {
            rd_kafka_message_destroy(r->msg);
            offsets_unref(r->part);
            bs->bytes -= r->in_len;
            b->in_bytes -= r->in_len;
            dropped++;
            if (b->state == BATCH_QUEUED)
                b->outstanding--;
            continue;
        }
        b->recs[k++] = *r;
    }
    b->n = k;
    return dropped;
}

size_t batches_drop(batches_t *bs, const rd_kafka_topic_partition_list_t *parts)
{
    size_t dropped = 0;
    if (bs->cur)
        dropped += drop_records(bs, bs->cur, parts);
    batch_t *prev = NULL;
    for (batch_t *b = bs->head; b;) {
        batch_t *next = b->next;
        if (b->state == BATCH_QUEUED) {
            dropped += drop_records(bs, b, parts);
            if (!b->n) {
                if (prev)
                    prev->next = next;
                else
                    bs->head = next;
                if (bs->tail == b)
                    bs->tail = prev;
                b->state = BATCH_WORKED;
                batch_maybe_free(bs, b);
                b = next;
                continue;
            }
        }
        prev = b;
        b = next;
    }
    return dropped;
}

int batches_refused(batches_t *bs, batch_rec_t *r, const char *reason)
{
    /* A refused dead letter is sent again without its payload; one without
     * payload cannot be made smaller. */
    if (r->bare)
        return -1;
    size_t max = r->status == REC_OK ? bs->o.dlq_max : 0;
    buf_t d = BUF_INIT;
    rec_put_dead(&d, REC_UNDELIVERABLE, reason, r->part->topic, r->part->partition, r->offset, r->out.val,
                 r->out.vlen, max);
    buf_cstr(&d);
    if (d.oom) {
        buf_free(&d);
        return -1;
    }
    free(r->own);
    r->own = d.p;
    r->status = REC_UNDELIVERABLE;
    r->bare = max == 0;
    r->out.dead = 1;
    r->out.val = r->own;
    r->out.vlen = d.len;
    r->b->counted += d.len;
    bs->bytes += d.len;
    return 0;
}

size_t batches_bytes(const batches_t *bs) { return bs->bytes; }

int batches_idle(const batches_t *bs) { return !bs->head && !bs->nworking; }

int batches_working(const batches_t *bs) { return bs->nworking; }
