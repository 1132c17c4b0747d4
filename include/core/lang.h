/* lang — the language of a prepared text, with Compact Language Detector 2
 * (Debian libcld2: its tables are compiled into the library, no data files
 * at run time, and it is thread-safe), and the rule that marks a record in a
 * language its model was not trained on for review.
 *
 * Why CLD2 and not libexttextcat: on the 72 short support texts in 12
 * languages of tests/lang/short-texts.tsv, CLD2 names the right language
 * more often (scripts/bench-lang prints both; see README "Measured"), and
 * libexttextcat answers "SHORT" or several candidates for many of them and
 * needs its fingerprint files on disk.
 *
 * CLD2 is C++: src/core/lang_cld2.cc is the small C shim this module calls.
 *
 * The training language mix: `triage train` detects the language of every
 * training text and stores the counts in the model's metadata
 *   "lang": {"records": N, "reliable": R, "counts": {"en": 11664, "es": 3},
 *            "min_share": 0.01}
 * (counts of reliable detections only). A record is then "foreign" when its
 * language was detected reliably and is absent from the counts or holds less
 * than min_share of the reliable detections. A model without the section
 * (trained before it existed) marks nothing: it cannot tell.
 *
 * Threads: any (no state; lang_mix_t is read-only once filled). */
#ifndef LANG_H
#define LANG_H
#include <jansson.h>
#include <stddef.h>

#define LANG_CODE_MAX 16
/* Detection reads at most this many bytes of a text (cut at a character
 * boundary): CLD2's cost grows with the text, and the first KiB of an
 * email say its language as well as the whole of it. */
#define LANG_DETECT_MAX_BYTES 1024
/* Default share of the training mix under which a language counts as one the
 * model was not trained on. */
#define LANG_MIN_SHARE_DEFAULT 0.01
/* Languages a loaded mix keeps (the largest shares; CLD2 knows ~160). */
#define LANG_MIX_MAX 96

/* Writes the ISO 639-1 code of text's language ("en", "de", "ja"; a few
 * are longer, "zh-Hant") or "und" when undetermined, NUL-terminated, into
 * code[LANG_CODE_MAX]. Returns 1 when CLD2 calls its answer reliable. */
int lang_detect(const char *text, size_t len, char *code);

/* The training language mix of n texts, as the metadata object above
 * (min_share as given). NULL when out of memory. */
json_t *lang_mix_json(char *const *text, const size_t *len, size_t n, double min_share);

typedef struct lang_mix {
    int present;                        /* the model stores a mix */
    size_t n;
    char code[LANG_MIX_MAX][LANG_CODE_MAX];
    double share[LANG_MIX_MAX];         /* of the reliable detections */
    double min_share;
} lang_mix_t;

/* Reads meta's "lang" section into mix (present = 0 when there is none).
 * Returns 0, or TRI_EFORMAT when the section is malformed. */
int lang_mix_from_meta(const json_t *meta, lang_mix_t *mix, char *err, size_t errlen);

/* Share of code in the mix (0 when absent). */
double lang_mix_share(const lang_mix_t *mix, const char *code);

/* The decision rule: 1 when a record whose language was detected as code
 * (reliable as lang_detect said) should be reviewed because the model was
 * not trained on that language. */
int lang_is_foreign(const lang_mix_t *mix, const char *code, int reliable);

#endif
