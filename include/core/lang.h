/* lang — the language of a prepared text, with Compact Language Detector 2
 * (Debian libcld2: its tables are compiled into the library, no data files
 * at run time, and it is thread-safe).
 *
 * Why CLD2 and not libexttextcat: on the 72 short support texts in 12
 * languages of tests/lang/short-texts.tsv, CLD2 names the right language
 * more often (scripts/bench-lang prints both; see README "Measured"), and
 * libexttextcat answers "SHORT" or several candidates for many of them and
 * needs its fingerprint files on disk.
 *
 * CLD2 is C++: src/core/lang_cld2.cc is the small C shim this module calls.
 *
 * Threads: any (no state). */
#ifndef LANG_H
#define LANG_H
#include <stddef.h>

#define LANG_CODE_MAX 16

/* Writes the ISO 639-1 code of text's language ("en", "de", "ja"; a few
 * are longer, "zh-Hant") or "und" when undetermined, NUL-terminated, into
 * code[LANG_CODE_MAX]. Returns 1 when CLD2 calls its answer reliable. */
int lang_detect(const char *text, size_t len, char *code);

#endif
