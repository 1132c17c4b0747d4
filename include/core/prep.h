/* prep — text preparation: a record's text fields in, the text the tokenizer
 * sees out. One module for `triage train`, `eval`, `classify` and the daemon,
 * and the mode is stored in every model (metadata "prep"), so training and
 * serving can never prepare text differently.
 *
 * Modes:
 *   plain  the fields joined by '\n', unchanged (what models without a stored
 *          mode were trained on)
 *   tweet  plain, with the HTML entities tweets carry (&amp; &lt; &gt; &quot;
 *          &#39;) decoded
 *   email  per field: a field named "subject" (or ending in "subject") becomes
 *          one line "subject: ..." (marked, so its words are told apart by
 *          the line they sit on); a field named "html" (or ending in "html"),
 *          or one whose text starts with an HTML tag, is parsed with gumbo
 *          (HTML5): scripts, styles, <head> and hidden elements dropped, block
 *          elements as line breaks, entities decoded, <blockquote> as "> "
 *          lines. Then every body is cut at the first quoted reply ("On ...
 *          wrote:" and its German, French, Spanish, Italian, Dutch,
 *          Portuguese, Swedish, Danish, Norwegian, Polish and Russian forms;
 *          Outlook's "From: ... Sent: ..." header block; "-----Original
 *          Message-----"; forwarded-message markers) and at the signature
 *          ("-- ", "Sent from my ...", "Get Outlook for ...", a sign-off line
 *          such as "Best regards," followed by at most a few short lines);
 *          lines starting with '>' are dropped; trailing spaces trimmed and
 *          blank-line runs squeezed.
 * The output may be empty (an HTML body with no visible text, an email that is
 * all quote): callers dead-letter or skip such records as no_text.
 *
 * Ownership: prep_t holds scratch buffers; one per thread (prep_new/prep_free).
 * Fields are borrowed. */
#ifndef PREP_H
#define PREP_H
#include "core/buf.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum prep_mode { PREP_PLAIN = 0, PREP_TWEET, PREP_EMAIL, PREP_NMODES };

typedef struct prep_field {
    const char *name;   /* the record field it came from */
    const char *p;      /* its decoded text (valid UTF-8) */
    size_t len;
} prep_field_t;

typedef struct prep prep_t;

int prep_new(prep_t **out, char *err, size_t errlen);
void prep_free(prep_t *p);

/* "plain", "tweet", "email" and back (-1 when unknown). */
const char *prep_mode_name(int mode);
int prep_mode_parse(const char *s);

/* The mode stored in a model's metadata ("prep": {"mode": ...}); a model
 * without it is PREP_PLAIN. Returns 0, or TRI_EFORMAT for a mode this build
 * does not know (the model must be refused, not served differently). */
int prep_mode_from_meta(const json_t *meta, int *mode, char *err, size_t errlen);

/* Prepares fields into out (cleared first). Returns 0 or TRI_ENOMEM. */
int prep_run(prep_t *p, int mode, const prep_field_t *f, size_t n, buf_t *out);

/* Whether s[0..len) holds any character other than whitespace. */
int prep_has_text(const char *s, size_t len);

#endif
