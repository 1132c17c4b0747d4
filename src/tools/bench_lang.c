/* bench-lang: how often each candidate detector names the right language of
 * short texts (lang TAB text lines, '#' comments): CLD2 as lang.h uses it,
 * and libexttextcat with Debian's fingerprints. Prints one line per detector
 * and the texts each got wrong. Usage: bench-lang FILE [FPDB_DIR]. */
#include "core/lang.h"

#include <libexttextcat/textcat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* exttextcat answers "[en--utf8][de--utf8]", "SHORT" or "UNKNOWN": its first
 * candidate's language part, or "und". */
static void first_candidate(const char *ans, char *out, size_t n)
{
    snprintf(out, n, "und");
    if (ans[0] != '[')
        return;
    size_t k = strcspn(ans + 1, "-]");
    if (k && k < n) {
        memcpy(out, ans + 1, k);
        out[k] = '\0';
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-lang FILE [FPDB_DIR]\n");
        return 2;
    }
    const char *dir = argc > 2 ? argv[2] : "/usr/share/libexttextcat/";
    char conf[512];
    snprintf(conf, sizeof conf, "%s/fpdb.conf", dir);
    void *tc = special_textcat_Init(conf, dir);
    if (!tc) {
        fprintf(stderr, "bench-lang: cannot load %s\n", conf);
        return 1;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    char line[4096];
    int n = 0, ok_cld2 = 0, ok_tc = 0, short_tc = 0;
    char langs[64][16];
    int nlangs = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || !tab)
            continue;
        *tab = '\0';
        const char *want = line, *text = tab + 1;
        int seen = 0;
        for (int i = 0; i < nlangs; i++)
            seen |= !strcmp(langs[i], want);
        if (!seen && nlangs < 64)
            snprintf(langs[nlangs++], sizeof langs[0], "%.15s", want);
        char c1[LANG_CODE_MAX], c2[32];
        lang_detect(text, strlen(text), c1);
        const char *ans = textcat_Classify(tc, text, strlen(text));
        first_candidate(ans, c2, sizeof c2);
        short_tc += !strcmp(ans, "SHORT");
        n++;
        ok_cld2 += !strcmp(c1, want);
        ok_tc += !strcmp(c2, want);
        if (strcmp(c1, want))
            printf("  cld2 miss: %s -> %s: %s\n", want, c1, text);
        if (strcmp(c2, want))
            printf("  exttextcat miss: %s -> %s: %s\n", want, ans, text);
    }
    fclose(f);
    textcat_Done(tc);
    printf("texts %d in %d languages\n", n, nlangs);
    printf("cld2        %d/%d = %.3f\n", ok_cld2, n, n ? (double)ok_cld2 / n : 0);
    printf("exttextcat  %d/%d = %.3f (%d answered SHORT)\n", ok_tc, n, n ? (double)ok_tc / n : 0, short_tc);
    return 0;
}
