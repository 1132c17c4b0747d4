#include "core/lang.h"

int lang_cld2_detect(const char *text, size_t len, char *code, size_t codelen);

int lang_detect(const char *text, size_t len, char *code) { return lang_cld2_detect(text, len, code, LANG_CODE_MAX); }
