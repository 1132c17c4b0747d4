/* Unit tests for the classify role's output (daemon/output.h) against
 * librdkafka's mock cluster in this process: a message is reported
 * delivered only once the cluster has it, a failed delivery is retried
 * until it succeeds (never skipped, never reported twice), and a full
 * producer queue hands the message back (OUTPUT_RETRY) instead of losing it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/metrics.h"
#include "daemon/output.h"
#include "io/cfg.h"
#include "io/kafka_mock.h"
#include "io/log.h"

#define NMSG 6
/* Loop turns a test waits for something before failing (each turn is at
 * most one 10 ms tick): a bound against hanging, not a timed assertion. */
#define MAX_TURNS 3000

typedef struct fixture {
    uv_loop_t loop;
    kafka_mock_t *mock;
    cfg_t *cfg;
    metrics_t *met;
    output_t *out;
    uv_timer_t tick;
    output_msg_t msg[NMSG];
    char val[NMSG][16];
    int delivered[NMSG];        /* times each message was reported delivered */
    int order[NMSG], ndelivered;
    int writable_calls, fatal_calls, closed;
    int waiting;                /* messages handed back with OUTPUT_RETRY, to send again */
    int next_to_send;
} fixture_t;

static void on_delivered(void *ctx, output_msg_t *m)
{
    fixture_t *f = ctx;
    int i = (int)(m - f->msg);
    assert_true(i >= 0 && i < NMSG);
    f->delivered[i]++;
    f->order[f->ndelivered++] = i;
}

static void send_pending(fixture_t *f)
{
    while (f->next_to_send < NMSG) {
        output_result_t r = output_send(f->out, &f->msg[f->next_to_send]);
        if (r == OUTPUT_RETRY) {
            f->waiting = 1;
            return;
        }
        f->next_to_send++;
    }
    f->waiting = 0;
}

static void on_writable(void *ctx)
{
    fixture_t *f = ctx;
    f->writable_calls++;
    if (f->waiting)
        send_pending(f);
}

static void on_served(void *ctx) { (void)ctx; }

static void on_fatal(void *ctx, const char *msg)
{
    fixture_t *f = ctx;
    (void)msg;
    f->fatal_calls++;
}

static void on_tick(uv_timer_t *t) { uv_stop(t->loop); }

/* Runs the loop until cond(f) holds; fails the test after MAX_TURNS. */
static void run_until(fixture_t *f, int (*cond)(fixture_t *))
{
    for (int i = 0; i < MAX_TURNS && !cond(f); i++) {
        output_poll(f->out);
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_true(cond(f));
}

static void setup_output(fixture_t *f, const char *const *sets)
{
    char err[512];
    memset(f, 0, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(kafka_mock_start(1, &f->mock, err, sizeof err), 0);
    assert_int_equal(kafka_mock_topic(f->mock, "out", 1, err, sizeof err), 0);
    assert_int_equal(kafka_mock_topic(f->mock, "dlq", 1, err, sizeof err), 0);
    assert_int_equal(cfg_new(&f->cfg), 0);
    static const char *const base[] = {"output.topic=out", "output.dlq.topic=dlq", NULL};
    for (int i = 0; base[i]; i++)
        assert_int_equal(cfg_set_arg(f->cfg, base[i], "test", err, sizeof err), 0);
    for (int i = 0; sets && sets[i]; i++)
        if (cfg_set_arg(f->cfg, sets[i], "test", err, sizeof err))
            fail_msg("%s: %s", sets[i], err);
    assert_non_null(f->met = metrics_new());
    output_hooks_t h = {on_delivered, on_writable, on_served, NULL, on_fatal, f};
    if (output_new(&f->loop, f->cfg, kafka_mock_bootstraps(f->mock), f->met, &h, &f->out, err, sizeof err))
        fail_msg("output_new: %s", err);
    for (int i = 0; i < NMSG; i++) {
        snprintf(f->val[i], sizeof f->val[i], "v%d", i);
        f->msg[i] = (output_msg_t){i % 3 == 2, f->val[i], f->val[i], strlen(f->val[i]), strlen(f->val[i]), NULL};
    }
    uv_timer_init(&f->loop, &f->tick);
    uv_timer_start(&f->tick, on_tick, 10, 10);
}

static void on_closed(void *ctx) { ((fixture_t *)ctx)->closed = 1; }

static int is_closed(fixture_t *f) { return f->closed; }

static void teardown_output(fixture_t *f)
{
    output_close(f->out, on_closed, f);
    uv_close((uv_handle_t *)&f->tick, NULL);
    while (!f->closed)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_true(is_closed(f));
    output_free(f->out);
    metrics_free(f->met);
    cfg_free(f->cfg);
    kafka_mock_stop(f->mock);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static int all_delivered(fixture_t *f) { return f->ndelivered == NMSG; }

static int some_failed(fixture_t *f) { return output_failing(f->out); }

static void assert_each_once(fixture_t *f)
{
    for (int i = 0; i < NMSG; i++)
        assert_int_equal(f->delivered[i], 1);
}

static void test_delivers_in_order(void **state)
{
    (void)state;
    fixture_t f;
    setup_output(&f, NULL);
    send_pending(&f);
    assert_int_equal(f.next_to_send, NMSG);
    run_until(&f, all_delivered);
    assert_each_once(&f);
    /* One partition per topic: order kept within the labeled topic and
     * within the dead-letter topic. */
    int last_out = -1, last_dlq = -1;
    for (int k = 0; k < NMSG; k++) {
        int i = f.order[k];
        int *last = f.msg[i].dead ? &last_dlq : &last_out;
        assert_true(i > *last);
        *last = i;
    }
    assert_false(output_failing(f.out));
    assert_int_equal(f.fatal_calls, 0);
    teardown_output(&f);
}

/* The cluster is unreachable longer than message.timeout.ms: every
 * delivery fails, nothing is reported delivered (so no offset could be
 * stored), and once it is back each message is delivered exactly once. */
static void test_failed_delivery_is_retried_not_skipped(void **state)
{
    (void)state;
    static const char *const sets[] = {"kafka.producer.message.timeout.ms=300", NULL};
    fixture_t f;
    setup_output(&f, sets);
    rd_kafka_mock_cluster_t *mc = kafka_mock_cluster(f.mock);
    assert_int_equal(rd_kafka_mock_broker_set_down(mc, 1), 0);
    send_pending(&f);
    run_until(&f, some_failed);
    assert_int_equal(f.ndelivered, 0);
    assert_int_equal(rd_kafka_mock_broker_set_up(mc, 1), 0);
    run_until(&f, all_delivered);
    assert_each_once(&f);
    assert_false(output_failing(f.out));
    assert_int_equal(f.fatal_calls, 0);
    teardown_output(&f);
}

/* A producer queue of two messages: the third send is handed back
 * (OUTPUT_RETRY), the output calls `writable` later and every message is
 * delivered once. */
static void test_queue_full_hands_back(void **state)
{
    (void)state;
    static const char *const sets[] = {"kafka.producer.queue.buffering.max.messages=2", NULL};
    fixture_t f;
    setup_output(&f, sets);
    send_pending(&f);
    assert_int_equal(f.waiting, 1);
    assert_int_equal(f.next_to_send, 2);
    run_until(&f, all_delivered);
    assert_true(f.writable_calls >= 1);
    assert_int_equal(f.waiting, 0);
    assert_each_once(&f);
    for (int k = 0; k < NMSG; k++)
        if (!f.msg[f.order[k]].dead)
            for (int j = k + 1; j < NMSG; j++)
                if (!f.msg[f.order[j]].dead)
                    assert_true(f.order[j] > f.order[k]);
    teardown_output(&f);
}

int main(void)
{
    char err[256];
    log_open("", log_level_parse("error"), 0, err, sizeof err);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delivers_in_order),
        cmocka_unit_test(test_failed_delivery_is_retried_not_skipped),
        cmocka_unit_test(test_queue_full_hands_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
