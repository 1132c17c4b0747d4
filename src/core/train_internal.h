/* train_internal — what the trainers in src/core share and nothing else
 * includes: the linear (LIBLINEAR) and Naive Bayes trainers and their common
 * end (naming the strongest n-grams per label). */
#ifndef TRAIN_INTERNAL_H
#define TRAIN_INTERNAL_H
#include "core/train.h"

/* A trainer's last step. rc is the fit's outcome: 0, or an error already
 * formatted in err. On success fills out->top_features from out's weights
 * (kept_df: documents per row); on any failure frees out. Returns the
 * outcome. */
int train_finish(const train_opts_t *o, const train_set_t *set, const size_t *idx, size_t nidx, tok_t *tok,
                 train_out_t *out, const uint32_t *kept_df, int rc, char *err, size_t errlen);

/* train_fit for TRAIN_LR and TRAIN_SVM (arguments checked by train_fit). */
int train_fit_linear(const train_opts_t *o, const train_set_t *set, const size_t *idx, size_t nidx,
                     train_out_t *out, char *err, size_t errlen);

/* train_fit for TRAIN_NB, TRAIN_BNB and TRAIN_CNB (train_nb.c). */
int train_fit_nb(const train_opts_t *o, const train_set_t *set, const size_t *idx, size_t nidx, train_out_t *out,
                 char *err, size_t errlen);

#endif
