/* Unit tests for the offset tracker and the partition set (io/offsets.h): the at-least-once
 * invariant "the stored offset is 1 + the highest offset o such that every
 * record consumed up to o has been delivered". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "io/offsets.h"

static offsets_part_t *new_part(void)
{
    offsets_part_t *p = offsets_new("in", 3);
    assert_non_null(p);
    return p;
}

static void test_new_fields(void **state)
{
    (void)state;
    offsets_part_t *p = new_part();
    assert_string_equal(p->topic, "in");
    assert_int_equal(p->partition, 3);
    assert_int_equal(p->refs, 1);
    assert_int_equal(p->revoked, 0);
    assert_true(p->stored == -1);
    assert_int_equal(offsets_outstanding(p), 0);
    offsets_unref(p);
}

static void test_in_order_advances_each_time(void **state)
{
    (void)state;
    offsets_part_t *p = new_part();
    uint64_t s[5];
    for (int i = 0; i < 5; i++)
        s[i] = offsets_push(p, 100 + i);
    for (int i = 0; i < 5; i++)
        assert_int_equal(s[i], (uint64_t)i);
    assert_int_equal(offsets_outstanding(p), 5);
    for (int i = 0; i < 5; i++) {
        int64_t store = -7;
        assert_int_equal(offsets_done(p, s[i], &store), 1);
        assert_true(store == 100 + i + 1);
        assert_true(p->stored == 100 + i + 1);
        assert_int_equal(offsets_outstanding(p), (size_t)(4 - i));
    }
    offsets_unref(p);
}

/* Offsets 10, 11, 12 completed in the order 3, 1, 2. */
static void test_out_of_order_3_1_2(void **state)
{
    (void)state;
    offsets_part_t *p = new_part();
    uint64_t s1 = offsets_push(p, 10), s2 = offsets_push(p, 11), s3 = offsets_push(p, 12);
    int64_t store = -7;
    /* 12 done first: 10 and 11 still outstanding, nothing may be stored. */
    assert_int_equal(offsets_done(p, s3, &store), 0);
    assert_true(store == -7);
    assert_true(p->stored == -1);
    assert_int_equal(offsets_outstanding(p), 3);
    /* 10 done: the frontier moves past 10 only (11 is outstanding). */
    assert_int_equal(offsets_done(p, s1, &store), 1);
    assert_true(store == 11);
    assert_true(p->stored == 11);
    assert_int_equal(offsets_outstanding(p), 2);
    /* 11 done: 11 and the already-done 12 are passed at once. */
    store = -7;
    assert_int_equal(offsets_done(p, s2, &store), 1);
    assert_true(store == 13);
    assert_true(p->stored == 13);
    assert_int_equal(offsets_outstanding(p), 0);
    offsets_unref(p);
}

static void test_out_of_order_3_2_1(void **state)
{
    (void)state;
    /* Complete in reverse: 3 and 2 move nothing, 1 moves past all three. */
    offsets_part_t *p = new_part();
    uint64_t s[3];
    for (int i = 0; i < 3; i++)
        s[i] = offsets_push(p, 10 + i);
    int64_t store = -7;
    assert_int_equal(offsets_done(p, s[2], &store), 0);
    assert_int_equal(offsets_done(p, s[1], &store), 0);
    assert_true(store == -7);
    assert_true(p->stored == -1);
    assert_int_equal(offsets_done(p, s[0], &store), 1);
    assert_true(store == 13);
    assert_int_equal(offsets_outstanding(p), 0);
    offsets_unref(p);
}

static void test_gaps_in_offsets(void **state)
{
    (void)state;
    /* Compacted topics and transaction markers leave gaps in offsets: only
     * the consumed records count. */
    offsets_part_t *p = new_part();
    uint64_t a = offsets_push(p, 5), b = offsets_push(p, 9), c = offsets_push(p, 20);
    int64_t store = -7;
    assert_int_equal(offsets_done(p, b, &store), 0);
    assert_true(store == -7);
    assert_int_equal(offsets_done(p, a, &store), 1);
    assert_true(store == 10); /* 5 and 9 delivered; 20 is not */
    assert_int_equal(offsets_done(p, c, &store), 1);
    assert_true(store == 21);
    assert_true(p->stored == 21);

    /* Later pushes continue from there. */
    uint64_t d = offsets_push(p, 1000);
    assert_int_equal(d, 3);
    assert_int_equal(offsets_done(p, d, &store), 1);
    assert_true(store == 1001);
    offsets_unref(p);
}

static void test_repeated_and_unknown_seq(void **state)
{
    (void)state;
    offsets_part_t *p = new_part();
    int64_t store = -7;
    /* Nothing pushed yet. */
    assert_int_equal(offsets_done(p, 0, &store), -1);
    assert_int_equal(offsets_done(p, UINT64_MAX, &store), -1);
    assert_true(store == -7);

    uint64_t s0 = offsets_push(p, 40), s1 = offsets_push(p, 41), s2 = offsets_push(p, 42);
    /* Beyond the tail. */
    assert_int_equal(offsets_done(p, 3, &store), -1);
    assert_int_equal(offsets_done(p, 1000, &store), -1);
    assert_int_equal(offsets_outstanding(p), 3);

    /* Done twice while outstanding (not yet passed by the frontier). */
    assert_int_equal(offsets_done(p, s2, &store), 0);
    assert_int_equal(offsets_done(p, s2, &store), -1);
    assert_true(store == -7);
    assert_true(p->stored == -1);
    assert_int_equal(offsets_outstanding(p), 3);

    assert_int_equal(offsets_done(p, s0, &store), 1);
    assert_true(store == 41);
    /* Done twice after the frontier passed it. */
    store = -7;
    assert_int_equal(offsets_done(p, s0, &store), -1);
    assert_true(store == -7);
    assert_true(p->stored == 41);
    assert_int_equal(offsets_outstanding(p), 2);

    assert_int_equal(offsets_done(p, s1, &store), 1);
    assert_true(store == 43);
    store = -7;
    assert_int_equal(offsets_done(p, s1, &store), -1);
    assert_int_equal(offsets_done(p, s2, &store), -1);
    assert_true(store == -7);
    assert_true(p->stored == 43);
    assert_int_equal(offsets_outstanding(p), 0);
    offsets_unref(p);
}

/* Deterministic PRNG (splitmix64). */
static uint64_t rng_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A reference model run beside the tracker: delivered[] flags and the
 * frontier (index of the first record not delivered). Every call checks the
 * tracker against it exactly. */
typedef struct model {
    offsets_part_t *p;
    size_t n;
    int64_t *offs;
    uint64_t *seqs;
    unsigned char *delivered;
    size_t pushed, frontier;
    int64_t expect_stored;
    size_t grew_wrapped; /* growths while the ring had wrapped */
} model_t;

static void model_init(model_t *m, size_t n, uint64_t *x)
{
    memset(m, 0, sizeof *m);
    m->p = new_part();
    m->n = n;
    m->offs = malloc(n * sizeof *m->offs);
    m->seqs = malloc(n * sizeof *m->seqs);
    m->delivered = calloc(n, 1);
    assert_non_null(m->offs);
    assert_non_null(m->seqs);
    assert_non_null(m->delivered);
    int64_t o = 1000;
    for (size_t i = 0; i < n; i++) {
        o += 1 + (int64_t)(rng_next(x) % 3); /* gaps of 0..2 between offsets */
        m->offs[i] = o;
    }
    m->expect_stored = -1;
}

static void model_free(model_t *m)
{
    free(m->offs);
    free(m->seqs);
    free(m->delivered);
    offsets_unref(m->p);
}

static void model_push(model_t *m)
{
    size_t cap = m->p->cap;
    /* The ring grows only when full; full, it has wrapped unless head sits
     * at slot 0. */
    int wrapped = (m->p->head & (cap - 1)) != 0;
    size_t i = m->pushed;
    m->seqs[i] = offsets_push(m->p, m->offs[i]);
    if (m->seqs[i] != (uint64_t)i)
        fail_msg("push %zu: seq %llu", i, (unsigned long long)m->seqs[i]);
    m->pushed++;
    if (m->p->cap != cap && wrapped)
        m->grew_wrapped++;
    if (offsets_outstanding(m->p) != m->pushed - m->frontier)
        fail_msg("push %zu: outstanding %zu, expected %zu", i, offsets_outstanding(m->p), m->pushed - m->frontier);
}

static void model_done(model_t *m, size_t i)
{
    int64_t store = -7;
    int r = offsets_done(m->p, m->seqs[i], &store);
    m->delivered[i] = 1;
    size_t f = m->frontier;
    while (f < m->pushed && m->delivered[f])
        f++;
    if (f != m->frontier) {
        if (r != 1)
            fail_msg("record %zu: ot_done = %d, expected 1", i, r);
        m->expect_stored = m->offs[f - 1] + 1;
        if (store != m->expect_stored)
            fail_msg("record %zu: store %lld, expected %lld", i, (long long)store, (long long)m->expect_stored);
        /* Never past an undelivered record. */
        if (f < m->pushed && store > m->offs[f])
            fail_msg("record %zu: stored %lld past undelivered offset %lld", i, (long long)store,
                     (long long)m->offs[f]);
        m->frontier = f;
    } else {
        if (r != 0)
            fail_msg("record %zu: ot_done = %d, expected 0", i, r);
        if (store != -7)
            fail_msg("record %zu: *store written (%lld) though the frontier did not move", i, (long long)store);
    }
    if (m->p->stored != m->expect_stored)
        fail_msg("record %zu: p->stored %lld, expected %lld", i, (long long)m->p->stored,
                 (long long)m->expect_stored);
    if (offsets_outstanding(m->p) != m->pushed - m->frontier)
        fail_msg("record %zu: outstanding %zu, expected %zu", i, offsets_outstanding(m->p), m->pushed - m->frontier);
}

static void model_finish(model_t *m)
{
    assert_int_equal(m->frontier, m->n);
    assert_true(m->p->stored == m->offs[m->n - 1] + 1);
    assert_int_equal(offsets_outstanding(m->p), 0);
    /* Every one again: all repeated now. */
    int64_t store = -7;
    for (size_t i = 0; i < m->n; i += 997)
        assert_int_equal(offsets_done(m->p, m->seqs[i], &store), -1);
    assert_true(store == -7);
}

static void shuffle(uint32_t *order, size_t n, uint64_t *x)
{
    for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        size_t j = (size_t)(rng_next(x) % (i + 1));
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* 100,000 records completed in a shuffled order: all pushed first, or pushed
 * only as far as the next completion needs. */
static void check_large_shuffled(uint64_t seed, int interleave)
{
    enum { N = 100000 };
    uint64_t x = seed;
    model_t m;
    model_init(&m, N, &x);
    size_t initial_cap = m.p->cap;
    uint32_t *order = malloc(N * sizeof *order);
    assert_non_null(order);
    for (size_t i = 0; i < N; i++)
        order[i] = (uint32_t)i;
    shuffle(order, N, &x);
    if (!interleave) {
        while (m.pushed < N)
            model_push(&m);
        assert_true(m.p->cap > initial_cap);
        assert_true(m.p->cap >= N);
    }
    for (size_t k = 0; k < N; k++) {
        while (m.pushed <= order[k])
            model_push(&m);
        model_done(&m, order[k]);
    }
    model_finish(&m);
    free(order);
    model_free(&m);
}

static void test_growth_shuffled(void **state)
{
    (void)state;
    check_large_shuffled(12345, 0);
}

static void test_growth_shuffled_interleaved(void **state)
{
    (void)state;
    check_large_shuffled(987654321, 1);
}

/* A sliding window: each push is followed by completing random outstanding
 * records while more than W are outstanding, W growing from 1 to 6000, so
 * the ring grows many times after head has moved far from 0 (wrapped). */
static void test_growth_sliding_window(void **state)
{
    (void)state;
    enum { N = 100000 };
    uint64_t x = 42;
    model_t m;
    model_init(&m, N, &x);
    size_t *pool = malloc(N * sizeof *pool), npool = 0;
    assert_non_null(pool);
    for (size_t i = 0; i < N; i++) {
        model_push(&m);
        pool[npool++] = i;
        size_t w = 1 + (i < 60000 ? i / 10 : 6000);
        while (npool > w) {
            size_t j = (size_t)(rng_next(&x) % npool);
            size_t rec = pool[j];
            pool[j] = pool[--npool];
            model_done(&m, rec);
        }
    }
    while (npool) {
        size_t j = (size_t)(rng_next(&x) % npool);
        size_t rec = pool[j];
        pool[j] = pool[--npool];
        model_done(&m, rec);
    }
    model_finish(&m);
    assert_true(m.p->cap >= 4096);
    assert_true(m.grew_wrapped >= 1);
    free(pool);
    model_free(&m);
}

/* The ring wraps (head far from 0) and then grows: entries must keep their
 * sequence numbers and offsets. */
static void test_growth_after_wrap(void **state)
{
    (void)state;
    offsets_part_t *p = new_part();
    size_t cap0 = p->cap;
    int64_t store;
    /* Advance head/tail by 1.5 capacities so the ring has wrapped. */
    uint64_t base = cap0 + cap0 / 2;
    for (uint64_t i = 0; i < base; i++) {
        uint64_t s = offsets_push(p, (int64_t)i);
        assert_int_equal(s, i);
        assert_int_equal(offsets_done(p, s, &store), 1);
        assert_true(store == (int64_t)i + 1);
    }
    /* Now fill past the capacity while nothing completes. */
    size_t n = 3 * cap0 + 7;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(offsets_push(p, (int64_t)(base + i)), base + i);
    assert_true(p->cap >= n);
    assert_int_equal(offsets_outstanding(p), n);
    /* Complete the odd ones: nothing moves (the first is outstanding). */
    for (size_t i = 1; i < n; i += 2) {
        store = -7;
        assert_int_equal(offsets_done(p, base + i, &store), 0);
        assert_true(store == -7);
    }
    /* Each even one moves the frontier past itself and the next (odd, done):
     * every stored value checks an entry's offset kept through growth. */
    for (size_t i = 0; i < n; i += 2) {
        store = -7;
        assert_int_equal(offsets_done(p, base + i, &store), 1);
        int64_t want = (int64_t)(base + (i + 1 < n ? i + 2 : i + 1));
        if (store != want)
            fail_msg("seq %zu: store %lld, expected %lld", (size_t)(base + i), (long long)store, (long long)want);
    }
    assert_int_equal(offsets_outstanding(p), 0);
    /* And once more, the other way round: a full ring that wrapped, grown,
     * completed in order. */
    uint64_t b2 = base + n;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(offsets_push(p, (int64_t)(10 * (b2 + i))), b2 + i);
    for (size_t i = 0; i < n; i++) {
        store = -7;
        assert_int_equal(offsets_done(p, b2 + i, &store), 1);
        if (store != (int64_t)(10 * (b2 + i)) + 1)
            fail_msg("seq %zu: store %lld, expected %lld", (size_t)(b2 + i), (long long)store,
                     (long long)(10 * (b2 + i)) + 1);
    }
    offsets_unref(p);
}

/* A sequence number the frontier has passed is unknown, even once its ring
 * slot holds a newer record. */
static void test_stale_seq_after_slot_reuse(void **state)
{
    (void)state;
    offsets_part_t *p = new_part();
    size_t cap = p->cap;
    int64_t store = -7;
    uint64_t s0 = offsets_push(p, 500);
    assert_int_equal(offsets_done(p, s0, &store), 1);
    assert_true(store == 501);
    /* Fill every slot; the last push reuses s0's slot. */
    for (size_t i = 1; i <= cap; i++)
        assert_int_equal(offsets_push(p, (int64_t)(500 + i)), i);
    assert_int_equal(p->cap, cap); /* not grown: the slot was reused */
    store = -7;
    assert_int_equal(offsets_done(p, s0, &store), -1);
    assert_true(store == -7);
    /* The newer record in that slot is still outstanding. */
    assert_int_equal(offsets_done(p, cap, &store), 0);
    assert_true(store == -7);
    assert_int_equal(offsets_outstanding(p), cap);
    for (size_t i = 1; i < cap; i++)
        assert_int_equal(offsets_done(p, i, &store), 1);
    assert_true(store == (int64_t)(500 + cap + 1));
    assert_true(p->stored == (int64_t)(500 + cap + 1));
    offsets_unref(p);
}

static void test_refcount(void **state)
{
    (void)state;
    offsets_part_t *p = new_part();
    assert_ptr_equal(offsets_ref(p), p);
    assert_ptr_equal(offsets_ref(p), p);
    assert_int_equal(p->refs, 3);
    uint64_t s = offsets_push(p, 7);
    offsets_unref(p);
    assert_int_equal(p->refs, 2);
    /* A late delivery report through a surviving reference, after revoke. */
    p->revoked = 1;
    offsets_unref(p);
    assert_int_equal(p->refs, 1);
    int64_t store = -7;
    assert_int_equal(offsets_done(p, s, &store), 1);
    assert_true(store == 8);
    offsets_unref(p); /* the last one frees; ASan reports leaks or double frees */
    offsets_unref(NULL);
}

/* ---- the partition set ---- */

static rd_kafka_topic_partition_list_t *list_of(const char *topic, int32_t partition)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    return l;
}

/* Lookup is by topic and partition together: the same partition number in
 * two topics is two trackers, and adding an existing one returns it. */
static void test_set_find_add(void **state)
{
    (void)state;
    offsets_set_t s = OFFSETS_SET_INIT;
    assert_null(offsets_set_find(&s, "in", 0));
    offsets_part_t *a = offsets_set_add(&s, "in", 0);
    offsets_part_t *b = offsets_set_add(&s, "other", 0);
    offsets_part_t *c = offsets_set_add(&s, "in", 1);
    assert_non_null(a);
    assert_true(a != b && a != c && b != c);
    assert_ptr_equal(offsets_set_add(&s, "in", 0), a);
    assert_int_equal(s.n, 3);
    /* Alternate so the one-entry cache misses and hits. */
    for (int i = 0; i < 3; i++) {
        assert_ptr_equal(offsets_set_find(&s, "other", 0), b);
        assert_ptr_equal(offsets_set_find(&s, "other", 0), b);
        assert_ptr_equal(offsets_set_find(&s, "in", 1), c);
        assert_ptr_equal(offsets_set_find(&s, "in", 0), a);
    }
    assert_null(offsets_set_find(&s, "in", 2));
    assert_null(offsets_set_find(&s, "i", 0));
    /* Many partitions: the array grows and every one is still found. */
    for (int32_t p = 2; p < 100; p++)
        assert_non_null(offsets_set_add(&s, "in", p));
    for (int32_t p = 0; p < 100; p++)
        assert_int_equal(offsets_set_find(&s, "in", p)->partition, p);
    offsets_set_clear(&s);
    assert_int_equal(s.n, 0);
    assert_null(offsets_set_find(&s, "in", 0));
}

/* A revoked partition leaves the set and is marked revoked, but a record
 * still holding it keeps it alive: its late delivery report moves that
 * tracker's frontier, and the owner can tell not to store it. The cache must
 * not return the removed tracker. */
static void test_set_remove_keeps_held_tracker(void **state)
{
    (void)state;
    offsets_set_t s = OFFSETS_SET_INIT;
    offsets_part_t *a = offsets_set_add(&s, "in", 0);
    offsets_part_t *b = offsets_set_add(&s, "in", 1);
    uint64_t seq = offsets_push(a, 41);
    offsets_part_t *held = offsets_ref(a); /* a record in flight */
    assert_ptr_equal(offsets_set_find(&s, "in", 0), a); /* now cached */
    rd_kafka_topic_partition_list_t *l = list_of("in", 0);
    assert_true(offsets_in_list(l, a));
    assert_false(offsets_in_list(l, b));
    offsets_set_remove_list(&s, l);
    assert_int_equal(s.n, 1);
    assert_null(offsets_set_find(&s, "in", 0));
    assert_ptr_equal(offsets_set_find(&s, "in", 1), b);
    assert_int_equal(held->revoked, 1);
    assert_int_equal(held->refs, 1);
    int64_t store = -7;
    assert_int_equal(offsets_done(held, seq, &store), 1);
    assert_true(store == 42);
    offsets_unref(held);
    /* Re-assigned: a fresh tracker, nothing stored yet. */
    offsets_part_t *again = offsets_set_add(&s, "in", 0);
    assert_int_equal(again->revoked, 0);
    assert_true(again->stored == -1);
    /* Removing what is not in the set changes nothing. */
    rd_kafka_topic_partition_list_t *other = list_of("nope", 0);
    offsets_set_remove_list(&s, other);
    assert_int_equal(s.n, 2);
    rd_kafka_topic_partition_list_destroy(other);
    rd_kafka_topic_partition_list_destroy(l);
    offsets_set_clear(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_fields),
        cmocka_unit_test(test_in_order_advances_each_time),
        cmocka_unit_test(test_out_of_order_3_1_2),
        cmocka_unit_test(test_out_of_order_3_2_1),
        cmocka_unit_test(test_gaps_in_offsets),
        cmocka_unit_test(test_repeated_and_unknown_seq),
        cmocka_unit_test(test_growth_shuffled),
        cmocka_unit_test(test_growth_shuffled_interleaved),
        cmocka_unit_test(test_growth_sliding_window),
        cmocka_unit_test(test_growth_after_wrap),
        cmocka_unit_test(test_stale_seq_after_slot_reuse),
        cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_set_find_add),
        cmocka_unit_test(test_set_remove_keeps_held_tracker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
