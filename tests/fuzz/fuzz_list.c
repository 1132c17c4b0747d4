/* libFuzzer harness: the S3 ListObjectsV2 page parser and the S3 error
 * document parser. Every object it returns must carry a key that the store's
 * own key rules accept (a listing must never hand the registry a name that
 * could escape the prefix), and every continuation token must be a string. */
#include "store_internal.h"
#include "core/tri_err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *xml = (const char *)data;
    static const char *const strips[] = {"", "models/"};
    char err[TRI_ERRLEN];
    for (int i = 0; i < 2; i++) {
        store_list_t l = {0};
        int truncated = 0;
        char *next = NULL;
        if (!store_parse_list(xml, size, strips[i], &l, &truncated, &next, err, sizeof err)) {
            for (size_t k = 0; k < l.n; k++)
                if (!l.v[k].key || store_check_key(l.v[k].key, 0, err, sizeof err) ||
                    !memchr(l.v[k].etag, 0, sizeof l.v[k].etag)) {
                    fprintf(stderr, "listing returned a key the store refuses: %s\n", err);
                    abort();
                }
            for (size_t k = 0; k < l.nskipped && k < STORE_LIST_SKIP_NAMES; k++)
                for (const char *p = l.skipped[k]; *p; p++)
                    if ((unsigned char)*p < 0x20)
                        abort();
            if (next && strlen(next) > size)
                abort();
        }
        free(next);
        store_list_free(&l);
    }
    char code[64], msg[256];
    if (!store_parse_error(xml, size, code, sizeof code, msg, sizeof msg))
        for (const char *p = msg; *p; p++)
            if ((unsigned char)*p < 0x20)
                abort();
    return 0;
}
