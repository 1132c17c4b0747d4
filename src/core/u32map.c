#include "core/u32map.h"

#include <stdlib.h>

static inline size_t slot_of(uint32_t key, size_t mask) { return (size_t)(key * 2654435761u) & mask; }

static int rehash(u32map_t *m, size_t cap)
{
    uint32_t *k = calloc(cap, sizeof *k), *v = malloc(cap * sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = slot_of(m->keys[i] - 1, cap - 1);
        while (k[j])
            j = (j + 1) & (cap - 1);
        k[j] = m->keys[i];
        v[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = k;
    m->vals = v;
    m->cap = cap;
    return 0;
}

int64_t u32map_get(const u32map_t *m, uint32_t key)
{
    if (!m->cap)
        return -1;
    size_t mask = m->cap - 1;
    for (size_t i = slot_of(key, mask);; i = (i + 1) & mask) {
        if (m->keys[i] == key + 1)
            return m->vals[i];
        if (!m->keys[i])
            return -1;
    }
}

int64_t u32map_intern(u32map_t *m, uint32_t key, int *isnew)
{
    if ((m->n + 1) * 2 > m->cap && rehash(m, m->cap ? m->cap * 2 : 1024))
        return -1;
    size_t mask = m->cap - 1;
    size_t i = slot_of(key, mask);
    for (;; i = (i + 1) & mask) {
        if (m->keys[i] == key + 1) {
            if (isnew)
                *isnew = 0;
            return m->vals[i];
        }
        if (!m->keys[i])
            break;
    }
    m->keys[i] = key + 1;
    m->vals[i] = (uint32_t)m->n;
    if (isnew)
        *isnew = 1;
    return (int64_t)m->n++;
}

void u32map_free(u32map_t *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = m->vals = NULL;
    m->cap = m->n = 0;
}
