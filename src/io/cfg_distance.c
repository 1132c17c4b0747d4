/* cfg_key_distance: how far an unknown configuration key is from a known one
 * (cfg.c suggests the nearest). */
#include "cfg_internal.h"

#include <ctype.h>
#include <string.h>

/* Edit distance with '_' and '-' equal to '.', so "batch_size" is one step
 * from nothing; keys are short (< 64 bytes), longer input is not compared. */
size_t cfg_key_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la >= 64 || lb >= 64)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            char ca = a[i - 1] == '_' || a[i - 1] == '-' ? '.' : (char)tolower((unsigned char)a[i - 1]);
            size_t sub = diag + (ca != b[j - 1]), del = row[j] + 1, ins = row[j - 1] + 1;
            diag = row[j];
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    }
    return row[lb];
}
