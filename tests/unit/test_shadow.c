/* Unit tests for the challenger's sample (daemon/shadow.h): FNV-1a 64 of the
 * id mixed by murmur3's fmix64, against model.challenger.sample x 2^64, as
 * documented, so the choice
 * can be reproduced outside triaged (tests/integration/53-challenger.sh does
 * it in Python); 0 picks nothing, 1 everything, and a fraction about its
 * share of many ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "codec/rec.h"
#include "daemon/metrics.h"
#include "daemon/shadow.h"
#include "io/cfg.h"

static shadow_t *open_shadow(const char *sample, cfg_t **cfg, metrics_t **met, rec_schema_t *schema)
{
    char err[256], set[64];
    assert_int_equal(cfg_new(cfg), 0);
    snprintf(set, sizeof set, "model.challenger.sample=%s", sample);
    assert_int_equal(cfg_set_arg(*cfg, set, "test", err, sizeof err), 0);
    assert_non_null(*met = metrics_new());
    rec_schema_default(schema);
    uv_loop_t *loop = uv_default_loop();
    shadow_t *sh = NULL;
    assert_int_equal(shadow_new(loop, *cfg, schema, *met, &sh, err, sizeof err), 0);
    return sh;
}

static void close_shadow(shadow_t *sh, cfg_t *cfg, metrics_t *met)
{
    shadow_free(sh);
    metrics_free(met);
    cfg_free(cfg);
}

static void test_fnv_rule(void **state)
{
    (void)state;
    cfg_t *cfg;
    metrics_t *met;
    rec_schema_t schema;
    shadow_t *sh = open_shadow("0.5", &cfg, &met, &schema);
    /* Values computed in Python with the documented rule (53-challenger.sh):
     * "a" -> 0x82a2a958a9bece5b (not below 2^63: out), "foobar" -> 0x2c22194922d1672b (in). */
    assert_false(shadow_sampled(sh, "a", 1));
    assert_true(shadow_sampled(sh, "foobar", 6));
    /* Find ids on both sides and check them against the rule computed here. */
    int in = 0, out = 0;
    for (int i = 0; i < 1000; i++) {
        char id[32];
        int n = snprintf(id, sizeof id, "r-%d", i);
        uint64_t h = 0xcbf29ce484222325ull;
        for (int k = 0; k < n; k++)
            h = (h ^ (unsigned char)id[k]) * 0x100000001b3ull;
        h = (h ^ (h >> 33)) * 0xff51afd7ed558ccdull;
        h = (h ^ (h >> 33)) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 33;
        int want = h < (1ull << 63);
        assert_int_equal(shadow_sampled(sh, id, (size_t)n), want);
        in += want;
        out += !want;
    }
    assert_true(in > 400 && out > 400);
    close_shadow(sh, cfg, met);
}

static void test_bounds(void **state)
{
    (void)state;
    cfg_t *cfg;
    metrics_t *met;
    rec_schema_t schema;
    shadow_t *none = open_shadow("0", &cfg, &met, &schema);
    int n0 = 0;
    for (int i = 0; i < 5000; i++) {
        char id[32];
        n0 += shadow_sampled(none, id, (size_t)snprintf(id, sizeof id, "%d", i));
    }
    assert_int_equal(n0, 0);
    close_shadow(none, cfg, met);

    shadow_t *all = open_shadow("1", &cfg, &met, &schema);
    int n1 = 0;
    for (int i = 0; i < 5000; i++) {
        char id[32];
        n1 += shadow_sampled(all, id, (size_t)snprintf(id, sizeof id, "%d", i));
    }
    assert_int_equal(n1, 5000);
    close_shadow(all, cfg, met);

    shadow_t *third = open_shadow("0.3", &cfg, &met, &schema);
    int n3 = 0;
    for (int i = 0; i < 100000; i++) {
        char id[32];
        n3 += shadow_sampled(third, id, (size_t)snprintf(id, sizeof id, "id-%d", i));
    }
    assert_true(n3 > 29000 && n3 < 31000);
    json_t *st = shadow_status_json(third);
    assert_float_equal(json_number_value(json_object_get(st, "sample")), 0.3, 1e-9);
    assert_int_equal(json_integer_value(json_object_get(st, "records")), 0);
    assert_true(json_is_null(json_object_get(st, "model")) || !json_object_get(st, "model"));
    json_decref(st);
    close_shadow(third, cfg, met);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv_rule),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
