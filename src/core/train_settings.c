/* train_opts_from_model: the settings a model was trained with, read back from
 * the model itself, so a successor (triage retrain) is trained exactly the
 * same way. The tokenizer and features come from the model's own sections
 * (what its scorer applies); the trainer's options from the metadata
 * train_run wrote (run_meta in train_run.c). */
#include "core/train.h"
#include "core/tri_err.h"

#include <string.h>

static double meta_num(const json_t *o, const char *key, double dflt)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

int train_opts_from_model(const model_t *m, train_run_opts_t *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    const json_t *meta = model_meta(m);
    const char *algo = json_string_value(json_object_get(meta, "algo"));
    train_opts_t *to = &o->fit;
    if (!algo || (to->algo = train_algo_parse(algo)) < 0)
        return tri_errf(err, errlen, TRI_EINVAL, "the model's metadata names no known algorithm ('%s')",
                        algo ? algo : "none");
    to->tok = *model_tok_config(m);
    to->feat = *model_feat_config(m);
    to->alpha = meta_num(meta, "alpha", 0.25);
    to->C = meta_num(meta, "C", 0.5);
    to->sb = meta_num(meta, "sb", 0);
    double min_df = meta_num(meta, "min_df", -1);
    if (!(min_df >= 0 && min_df < 4294967295.0))
        return tri_errf(err, errlen, TRI_EINVAL, "the model's metadata has no min_df");
    to->min_df = (uint32_t)min_df;
    to->weights_q8 = (uint32_t)model_weights_q8(m);
    /* top_features: as many n-grams per label as the model names */
    const json_t *tf = json_object_get(meta, "top_features");
    const char *k;
    const json_t *v;
    to->top_features = 25;
    json_object_foreach((json_t *)tf, k, v)
    {
        if (json_array_size(v))
            to->top_features = (uint32_t)json_array_size(v);
        break;
    }
    const json_t *h = json_object_get(meta, "holdout");
    o->holdout = h ? meta_num(h, "fraction", 0.1) : 0;
    o->seed = (uint32_t)meta_num(h, "seed", 1);
    o->refit = h ? json_is_true(json_object_get(h, "refit_on_all")) : 1;
    /* A review threshold chosen for a precision is chosen again on the new
     * held-out records; a given one is kept. */
    const json_t *rv = json_object_get(meta, "review");
    o->review_precision = o->holdout > 0 ? meta_num(rv, "precision", 0) : 0;
    o->review_below = o->review_precision > 0 ? 0 : (double)model_review_below(m);
    const json_t *cost = json_object_get(meta, "cost");
    if (json_array_size(cost) == 2) {
        o->cost[0] = json_number_value(json_array_get(cost, 0));
        o->cost[1] = json_number_value(json_array_get(cost, 1));
    }
    return 0;
}
