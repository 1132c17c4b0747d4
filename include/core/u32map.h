/* u32map — an open-addressing map from uint32 keys to dense uint32 values
 * 0..n-1 (insertion order). The trainer uses it to give each hashed n-gram
 * seen in training a row.
 *
 * Ownership: the struct is the caller's; u32map_free releases its arrays. */
#ifndef U32MAP_H
#define U32MAP_H
#include <stddef.h>
#include <stdint.h>

typedef struct u32map {
    uint32_t *keys;   /* key + 1; 0 marks an empty slot */
    uint32_t *vals;
    size_t cap, n;
} u32map_t;

/* Returns the value of key, inserting it as the next value if absent;
 * *isnew says which. Returns -1 (as int64) on allocation failure. */
int64_t u32map_intern(u32map_t *m, uint32_t key, int *isnew);
/* Value of key or -1. */
int64_t u32map_get(const u32map_t *m, uint32_t key);
void u32map_free(u32map_t *m);

#endif
