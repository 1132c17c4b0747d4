// The C shim over CLD2's C++ interface (lang.h): one call, no exceptions
// across the boundary (CLD2 throws none), no allocation.
#include <cstdio> // compact_lang_det.h uses FILE without including it
#include <cld2/public/compact_lang_det.h>
#include <cstring>

extern "C" int lang_cld2_detect(const char *text, size_t len, char *code, size_t codelen);

extern "C" int lang_cld2_detect(const char *text, size_t len, char *code, size_t codelen)
{
    bool reliable = false;
    // CLD2 takes an int length; longer texts are judged on their first 1 MiB.
    int n = len > (1u << 20) ? (1 << 20) : (int)len;
    CLD2::Language l = CLD2::DetectLanguage(text, n, true, &reliable);
    const char *c = l == CLD2::UNKNOWN_LANGUAGE ? "und" : CLD2::LanguageCode(l);
    if (!c || !*c) // a language CLD2 has no code for
        c = "und";
    std::strncpy(code, c, codelen - 1);
    code[codelen - 1] = '\0';
    return reliable ? 1 : 0;
}
