/* clf_explain — why a model gave one text its label: the prepared text, its
 * tokens, its n-gram features and the ones that weighed most for the chosen
 * label. For `triage classify --explain` and the daemon's admin endpoint
 * POST /classify?explain=1: a debugging aid, never on the hot path (it
 * tokenizes again with names kept and scans the model's rows once).
 *
 * Each feature's value is the one the scorer used (model.h, feat.h): 1 per
 * presence or occurrence for the Naive Bayes shapes; (1 + ln tf) x idf,
 * divided by its family's L2 norm, for svm and lr. Its pull toward the
 * chosen label is
 *   svm, lr:      value x weight[label]   (the score is the bias plus the sum
 *                                          of these over the features)
 *   nb, bnb, cnb: value x (weight[label] - weight[runner-up]) (the weights
 *                 are log-likelihoods, all negative: only the difference
 *                 between two labels says which one a word argues for)
 * and the top n-grams are the largest pulls, largest first.
 *
 * Threads: as clf.h (one clf_t per thread). */
#ifndef CLF_EXPLAIN_H
#define CLF_EXPLAIN_H
#include "core/clf.h"
#include <jansson.h>
#include <stddef.h>

#define CLF_EXPLAIN_TOP 10

/* Classifies the fields with c (exactly as clf_classify_fields, into *r) and
 * explains it:
 *   {"prepared":"...","lang":"en","lang_reliable":true,
 *    "label":"...","score":0.93,"runner_up":"..."|null,
 *    "tokens":["my","flight",...],
 *    "features":{"total":N,"known":K,"words":W,"chars":C},
 *    "rule":"value x weight" | "value x (weight - runner-up weight)",
 *    "bias":B,"raw":[per label raw score],
 *    "top":[{"ngram":"rude","kind":"words"|"chars","value":V,"weight":W,
 *            "pull":P},...],   (at most `top` with a positive pull, largest first)
 *    "ngrams":[the same for every n-gram the model knows, largest pull first]}
 * weight is the n-gram's weight for the chosen label, so the bias plus the
 * sum of value x weight over "ngrams" is the label's raw score.
 * Character n-grams show their word-boundary padding as '_'. Returns 0,
 * CLF_NO_TEXT (nothing left after preparation; *out NULL) or TRI_ENOMEM. */
int clf_explain(clf_t *c, const prep_field_t *f, size_t n, size_t top, clf_result_t *r, json_t **out);

#endif
