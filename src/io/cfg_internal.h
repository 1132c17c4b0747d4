/* cfg_internal — what cfg.c shares with its helper files. Private to src/io. */
#ifndef CFG_INTERNAL_H
#define CFG_INTERNAL_H
#include <stddef.h>

/* Edit distance of two keys, '_' and '-' counting as '.', case-insensitive in
 * a; (size_t)-1 for keys of 64 bytes or more. */
size_t cfg_key_distance(const char *a, const char *b);

#endif
