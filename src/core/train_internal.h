/* train_internal — what the trainers in src/core share and nothing else
 * includes: the linear (LIBLINEAR) trainer and the naming of the strongest
 * n-grams per label. */
#ifndef TRAIN_INTERNAL_H
#define TRAIN_INTERNAL_H
#include "core/train.h"

/* Fills out->top_features from out's weights (kept_df: documents per row). */
int train_top_features(const train_opts_t *o, const train_set_t *set, const size_t *idx, size_t nidx, tok_t *tok,
                       train_out_t *out, const uint32_t *kept_df);

/* train_fit for TRAIN_LR and TRAIN_SVM (arguments checked by train_fit). */
int train_fit_linear(const train_opts_t *o, const train_set_t *set, const size_t *idx, size_t nidx,
                     train_out_t *out, char *err, size_t errlen);

#endif
