/* Unit tests for the classify role's batches (daemon/batches.h), with real
 * Kafka messages (consumed from librdkafka's mock cluster in this process)
 * and a real registry serving a small model file: outputs are handed on in
 * consumption order, whatever order the workers finish in; a partition's
 * stored offset never passes a record whose output is not delivered; a
 * revoke drops exactly the revoked partitions' unclassified records; a
 * malformed record becomes a dead letter, not a gap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/rec.h"
#include "core/model.h"
#include "core/tri_err.h"
#include "daemon/batches.h"
#include "daemon/metrics.h"
#include "daemon/registry.h"
#include "io/cfg.h"
#include "io/kafka_mock.h"
#include "io/log.h"
#include "io/offsets.h"

#define NPART 2
#define PER_PART 9
#define NREC (NPART * PER_PART)
#define BATCH 4
#define MAX_TURNS 3000 /* loop turns before a wait fails: a bound against hanging */

typedef struct fixture {
    uv_loop_t loop;
    uv_timer_t tick;
    kafka_mock_t *mock;
    rd_kafka_t *consumer;
    cfg_t *cfg;
    metrics_t *met;
    registry_t *reg;
    int model_in;
    rec_schema_t schema;
    char textlist[16];
    batches_t *bs;
    offsets_set_t parts;
    rd_kafka_message_t *msgs[NREC]; /* consumed, in consumption order */
    int64_t offset[NREC];           /* theirs (the batches destroy the messages) */
    int worked, after;
    char dir[64];
} fixture_t;

static fixture_t F;

/* ---- a model file and a registry serving it ---- */

static void write_model(const char *path)
{
    static const char *const labels[2] = {"billing", "other"};
    static const float bias[2] = {0.0f, 0.5f};
    static const uint32_t buckets[1] = {1};
    static const float weights[2] = {1.0f, -1.0f};
    model_spec_t s;
    memset(&s, 0, sizeof s);
    snprintf(s.tok.stem, sizeof s.tok.stem, "english");
    s.feat.ngram_min = 1;
    s.feat.ngram_max = 1;
    s.feat.bits = 10;
    s.feat.seed = 1;
    s.feat.mode = FEAT_COUNTS;
    s.temperature = 1.0f;
    s.nlabels = 2;
    s.labels = labels;
    s.bias = bias;
    s.nrows = 1;
    s.buckets = buckets;
    s.weights = weights;
    s.meta_json = "{}";
    buf_t b = BUF_INIT;
    char err[TRI_ERRLEN];
    if (model_write(&s, &b, err, sizeof err) || model_save_file(path, b.p, b.len, err, sizeof err))
        fail_msg("model: %s", err);
    buf_free(&b);
}

static void on_changed(void *ctx, registry_model_t *m)
{
    (void)m;
    ((fixture_t *)ctx)->model_in = 1;
}

static void on_account_ready(void *ctx) { (void)ctx; }

static void on_tick(uv_timer_t *t) { uv_stop(t->loop); }

static void run_until(int (*cond)(void))
{
    for (int i = 0; i < MAX_TURNS && !cond(); i++)
        uv_run(&F.loop, UV_RUN_ONCE);
    assert_true(cond());
}

static int model_ready(void) { return F.model_in; }

/* ---- consumed messages ---- */

static void produce_records(const char *bootstrap)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    assert_non_null(p);
    for (int i = 0; i < NREC; i++) {
        char v[128];
        /* Record 5 is not JSON: a dead letter. */
        int n = i == 5 ? snprintf(v, sizeof v, "not json %d", i)
                       : snprintf(v, sizeof v, "{\"id\":\"r%d\",\"text\":\"invoice number %d\"}", i, i);
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("in"), RD_KAFKA_V_PARTITION(i % NPART),
                                           RD_KAFKA_V_VALUE(v, (size_t)n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         0);
    }
    assert_int_equal(rd_kafka_flush(p, 10000), 0);
    rd_kafka_destroy(p);
}

/* Reads the messages back partition by partition, then interleaves them as
 * a consumer would see them (p0 r0, p1 r1, p0 r2...). */
static void consume_records(const char *bootstrap)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(c, "group.id", "test-batches", err, sizeof err);
    F.consumer = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    assert_non_null(F.consumer);
    rd_kafka_poll_set_consumer(F.consumer);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(NPART);
    for (int p = 0; p < NPART; p++)
        rd_kafka_topic_partition_list_add(l, "in", p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(F.consumer, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    int next[NPART] = {0};
    for (int got = 0, tries = 0; got < NREC && tries < 200; tries++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(F.consumer, 100);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        int idx = next[m->partition]++ * NPART + m->partition;
        assert_true(idx < NREC);
        F.msgs[idx] = m;
        F.offset[idx] = m->offset;
        got++;
    }
    for (int i = 0; i < NREC; i++)
        assert_non_null(F.msgs[i]);
}

/* ---- fixture ---- */

static void on_worked(void *ctx, batch_t *b)
{
    (void)b;
    ((fixture_t *)ctx)->worked++;
}

/* As the pipeline does: a worker is free, start the next queued batch. */
static void on_after(void *ctx)
{
    fixture_t *f = ctx;
    f->after++;
    batches_kick(f->bs, f->reg);
}

static int setup(void **state)
{
    (void)state;
    char err[512];
    memset(&F, 0, sizeof F);
    assert_int_equal(uv_loop_init(&F.loop), 0);
    uv_timer_init(&F.loop, &F.tick);
    uv_timer_start(&F.tick, on_tick, 10, 10);
    assert_int_equal(kafka_mock_start(1, &F.mock, err, sizeof err), 0);
    assert_int_equal(kafka_mock_topic(F.mock, "in", NPART, err, sizeof err), 0);
    produce_records(kafka_mock_bootstraps(F.mock));
    consume_records(kafka_mock_bootstraps(F.mock));

    snprintf(F.dir, sizeof F.dir, "/tmp/test-batches-%d", (int)getpid());
    assert_int_equal(mkdir(F.dir, 0700), 0);
    char path[128], set[200];
    snprintf(path, sizeof path, "%s/m.tmodel", F.dir);
    write_model(path);
    assert_int_equal(cfg_new(&F.cfg), 0);
    snprintf(set, sizeof set, "model.source=%s", path);
    assert_int_equal(cfg_set_arg(F.cfg, set, "test", err, sizeof err), 0);
    snprintf(set, sizeof set, "model.cache.dir=%s/cache", F.dir);
    assert_int_equal(cfg_set_arg(F.cfg, set, "test", err, sizeof err), 0);
    assert_non_null(F.met = metrics_new());
    registry_hooks_t rh = {on_changed, on_account_ready, &F};
    if (registry_new(&F.loop, F.cfg, F.met, &rh, &F.reg, err, sizeof err))
        fail_msg("registry_new: %s", err);
    run_until(model_ready);

    rec_schema_default(&F.schema);
    snprintf(F.textlist, sizeof F.textlist, "text");
    assert_int_equal(rec_schema_set_text(&F.schema, F.textlist, err, sizeof err), 0);
    batches_opts_t o = {&F.schema, BATCH, 2, 1024, SIZE_MAX, 0, 0, NULL, 0};
    batches_hooks_t h = {on_worked, on_after, &F};
    assert_int_equal(batches_new(&F.loop, &o, &h, &F.bs), 0);
    return 0;
}

/* Replaces the fixture's batches by ones with these limits. */
static void reopen(size_t max_bytes, size_t max_message)
{
    batches_free(F.bs);
    batches_opts_t o = {&F.schema, BATCH, 2, 1024, max_bytes, max_message, 0, NULL, 0};
    batches_hooks_t h = {on_worked, on_after, &F};
    assert_int_equal(batches_new(&F.loop, &o, &h, &F.bs), 0);
}

static int teardown(void **state)
{
    (void)state;
    batches_free(F.bs);
    offsets_set_clear(&F.parts);
    for (int i = 0; i < NREC; i++)
        F.msgs[i] = NULL; /* owned (and destroyed) by the batches once added */
    registry_close(F.reg);
    uv_close((uv_handle_t *)&F.tick, NULL);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    registry_free(F.reg);
    metrics_free(F.met);
    cfg_free(F.cfg);
    rd_kafka_consumer_close(F.consumer);
    rd_kafka_destroy(F.consumer);
    kafka_mock_stop(F.mock);
    assert_int_equal(uv_loop_close(&F.loop), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", F.dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* Adds msgs[from..to) through their partitions' trackers, as the pipeline does. */
static void add_range(int from, int to)
{
    for (int i = from; i < to; i++) {
        rd_kafka_message_t *m = F.msgs[i];
        offsets_part_t *t = offsets_set_add(&F.parts, "in", m->partition);
        int rc = batches_add(F.bs, m, t, offsets_push(t, m->offset));
        assert_true(rc >= 0);
        if (rc == BATCHES_FULL)
            batches_close(F.bs, F.reg);
    }
}

#define NBATCHES ((NREC + BATCH - 1) / BATCH)

static int all_worked(void) { return F.worked == NBATCHES && F.after == NBATCHES; }

/* Hands on everything classified; returns how many records (into out[]). */
static int hand_on(batch_rec_t **out, int max)
{
    int n = 0;
    batch_rec_t *r;
    while ((r = batches_next_out(F.bs))) {
        assert_true(n < max);
        out[n++] = r;
        batches_handed_on(F.bs, r);
    }
    return n;
}

/* The id in a labeled output, or -1 for a dead letter. */
static int out_id(const batch_rec_t *r)
{
    if (r->out.dead)
        return -1;
    const char *v = r->out.val, *p = memmem(v, r->out.vlen, "\"id\":\"r", 7);
    assert_non_null(p);
    return atoi(p + 7);
}

static void test_order_and_offsets(void **state)
{
    (void)state;
    add_range(0, NREC);
    batches_close(F.bs, F.reg);
    assert_false(batches_idle(F.bs));
    run_until(all_worked);
    assert_int_equal(batches_working(F.bs), 0);
    batch_rec_t *out[NREC];
    assert_int_equal(hand_on(out, NREC), NREC);
    /* Consumption order, whichever worker finished first. */
    for (int i = 0; i < NREC; i++) {
        assert_ptr_equal(out[i]->msg, NULL); /* the message is released once handed on */
        if (i == 5) {
            assert_true(out[i]->out.dead);
            assert_true(memmem(out[i]->out.val, out[i]->out.vlen, "not json 5", 10) != NULL);
        } else {
            assert_int_equal(out_id(out[i]), i);
            assert_int_equal(out[i]->status, REC_OK);
        }
    }
    /* Deliver backwards: no partition's offset may be stored until its
     * first record is delivered, and then straight past everything done. */
    int batches_done = 0;
    for (int i = NREC - 1; i >= 0; i--) {
        batch_rec_t *r = out[i];
        offsets_part_t *t = r->part;
        int64_t store = -7;
        int moved = offsets_done(t, r->seq, &store);
        if (i >= NPART) {
            assert_int_equal(moved, 0); /* an earlier record of this partition is undelivered */
        } else {
            assert_int_equal(moved, 1);
            assert_true(store == F.offset[NREC - NPART + i] + 1);
        }
        uint64_t age;
        batches_done += batches_delivered(F.bs, r, &age);
    }
    assert_int_equal(batches_done, NBATCHES);
    assert_true(batches_idle(F.bs));
}

/* A revoke of partition 0 drops its records from the filling and the queued
 * batches (not from one on a worker); partition 1's records all come out,
 * in order, and nothing of partition 0 is handed on but what was working. */
static void test_drop_on_revoke(void **state)
{
    (void)state;
    /* No registry yet: closed batches stay queued. */
    for (int i = 0; i < NREC; i++) {
        rd_kafka_message_t *m = F.msgs[i];
        offsets_part_t *t = offsets_set_add(&F.parts, "in", m->partition);
        if (batches_add(F.bs, m, t, offsets_push(t, m->offset)) == BATCHES_FULL)
            batches_close(F.bs, NULL);
    }
    assert_int_equal(batches_working(F.bs), 0);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, "in", 0);
    assert_int_equal(batches_drop(F.bs, l), PER_PART);
    offsets_set_remove_list(&F.parts, l);
    rd_kafka_topic_partition_list_destroy(l);
    batches_close(F.bs, F.reg);
    run_until(all_worked);
    batch_rec_t *out[NREC];
    int n = hand_on(out, NREC);
    assert_int_equal(n, PER_PART);
    int last = -1;
    for (int i = 0; i < n; i++) {
        int id = out_id(out[i]);
        if (id < 0)
            continue;
        assert_int_equal(id % NPART, 1);
        assert_true(id > last);
        last = id;
    }
    uint64_t age;
    for (int i = 0; i < n; i++) {
        int64_t store;
        offsets_done(out[i]->part, out[i]->seq, &store);
        batches_delivered(F.bs, out[i], &age);
    }
    assert_true(batches_idle(F.bs));
}

/* Delivers the n handed-on records, as the output would report them; then
 * the batches hold nothing. */
static void deliver_all(batch_rec_t **out, int n)
{
    uint64_t age;
    for (int i = 0; i < n; i++) {
        int64_t store;
        offsets_done(out[i]->part, out[i]->seq, &store);
        batches_delivered(F.bs, out[i], &age);
    }
    assert_int_equal(batches_bytes(F.bs), 0);
}

/* A batch also closes at max_bytes of input, before batch_size records. */
static void test_batch_closes_at_max_bytes(void **state)
{
    (void)state;
    size_t two = F.msgs[0]->len + F.msgs[1]->len;
    reopen(two + 1, 0);
    int rc[3];
    for (int i = 0; i < 3; i++) {
        rd_kafka_message_t *m = F.msgs[i];
        offsets_part_t *t = offsets_set_add(&F.parts, "in", m->partition);
        rc[i] = batches_add(F.bs, m, t, offsets_push(t, m->offset));
    }
    assert_int_equal(rc[0], BATCHES_OPENED);
    assert_int_equal(rc[1], BATCHES_ADDED);
    assert_int_equal(rc[2], BATCHES_FULL); /* 3 records < BATCH, but over the bytes */
    assert_true(batches_bytes(F.bs) >= two + F.msgs[2]->len);
    for (int i = 0; i < NREC; i++) {
        if (i >= 3)
            rd_kafka_message_destroy(F.msgs[i]); /* not added: the consumer waits for every message */
        F.msgs[i] = NULL;
    }
    batches_close(F.bs, NULL);
}

/* Held bytes: inputs until handed on, outputs until the batch is recycled;
 * nothing once everything is delivered. */
static void test_bytes_counted(void **state)
{
    (void)state;
    size_t in = 0;
    for (int i = 0; i < NREC; i++)
        in += F.msgs[i]->len;
    add_range(0, NREC);
    batches_close(F.bs, F.reg);
    assert_int_equal(batches_bytes(F.bs), in);
    run_until(all_worked);
    assert_true(batches_bytes(F.bs) > in); /* plus the encoded outputs */
    batch_rec_t *out[NREC];
    assert_int_equal(hand_on(out, NREC), NREC);
    assert_true(batches_bytes(F.bs) > 0 && batches_bytes(F.bs) < in * 20);
    deliver_all(out, NREC);
}

/* A labeled record larger than the producer's message.max.bytes becomes an
 * output_too_large dead letter holding the input (issue 9, defect 1: it was
 * produced, refused, and retried forever). */
static void test_output_too_large(void **state)
{
    (void)state;
    reopen(SIZE_MAX, 600);
    add_range(0, NREC);
    batches_close(F.bs, F.reg);
    run_until(all_worked);
    batch_rec_t *out[NREC];
    assert_int_equal(hand_on(out, NREC), NREC);
    for (int i = 0; i < NREC; i++) {
        assert_true(out[i]->out.dead);
        if (i != 5) {
            assert_int_equal(out[i]->status, REC_OUTPUT_TOO_LARGE);
            assert_true(memmem(out[i]->out.val, out[i]->out.vlen, "\"output_too_large\"", 18) != NULL);
            assert_true(memmem(out[i]->out.val, out[i]->out.vlen, "invoice number", 14) != NULL);
            assert_true(out[i]->out.vlen + out[i]->out.klen < 600);
        }
    }
    deliver_all(out, NREC);
}

/* An output Kafka refused for good becomes an undeliverable dead letter
 * carrying it; refused again, it goes without payload; then there is
 * nothing smaller to send. */
static void test_refused_output(void **state)
{
    (void)state;
    add_range(0, NREC);
    batches_close(F.bs, F.reg);
    run_until(all_worked);
    batch_rec_t *out[NREC];
    assert_int_equal(hand_on(out, NREC), NREC);
    batch_rec_t *r = out[0];
    assert_int_equal(r->status, REC_OK);
    assert_int_equal(batches_refused(F.bs, r, "Kafka refused the output: MSG_SIZE_TOO_LARGE"), 0);
    assert_true(r->out.dead);
    assert_int_equal(r->status, REC_UNDELIVERABLE);
    assert_true(memmem(r->out.val, r->out.vlen, "\"undeliverable\"", 15) != NULL);
    assert_true(memmem(r->out.val, r->out.vlen, "MSG_SIZE_TOO_LARGE", 18) != NULL);
    assert_true(memmem(r->out.val, r->out.vlen, "\\\"id\\\":\\\"r0", 11) != NULL); /* the refused output */
    assert_int_equal(batches_refused(F.bs, r, "again"), 0);
    assert_true(memmem(r->out.val, r->out.vlen, "\"payload_truncated\":true", 24) != NULL);
    assert_true(r->out.vlen <= REC_DEAD_OVERHEAD);
    assert_int_equal(batches_refused(F.bs, r, "again"), -1);
    deliver_all(out, NREC);
}

int main(void)
{
    char err[256];
    log_open("", log_level_parse("error"), 0, err, sizeof err);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_and_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_on_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_closes_at_max_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bytes_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_output, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
