#include "io/offsets.h"

#include <stdlib.h>
#include <string.h>

offsets_part_t *offsets_new(const char *topic, int32_t partition)
{
    offsets_part_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->topic = strdup(topic);
    p->cap = 1024;
    p->ring = malloc(p->cap * sizeof *p->ring);
    if (!p->topic || !p->ring) {
        free(p->topic);
        free(p->ring);
        free(p);
        return NULL;
    }
    p->partition = partition;
    p->refs = 1;
    p->stored = -1;
    return p;
}

offsets_part_t *offsets_ref(offsets_part_t *p)
{
    p->refs++;
    return p;
}

void offsets_unref(offsets_part_t *p)
{
    if (!p || --p->refs > 0)
        return;
    free(p->topic);
    free(p->ring);
    free(p);
}

/* Entries live at seq & (cap-1); growing re-places them by the new mask. */
static int grow(offsets_part_t *p)
{
    size_t cap = p->cap * 2;
    offsets_entry_t *r = malloc(cap * sizeof *r);
    if (!r)
        return -1;
    for (uint64_t s = p->head; s < p->tail; s++)
        r[s & (cap - 1)] = p->ring[s & (p->cap - 1)];
    free(p->ring);
    p->ring = r;
    p->cap = cap;
    return 0;
}

uint64_t offsets_push(offsets_part_t *p, int64_t offset)
{
    if (p->tail - p->head == p->cap && grow(p))
        return UINT64_MAX;
    uint64_t s = p->tail++;
    p->ring[s & (p->cap - 1)] = (offsets_entry_t){offset, 0};
    return s;
}

int offsets_done(offsets_part_t *p, uint64_t seq, int64_t *store)
{
    if (seq < p->head || seq >= p->tail)
        return -1;
    offsets_entry_t *e = &p->ring[seq & (p->cap - 1)];
    if (e->done)
        return -1;
    e->done = 1;
    int64_t last = -1;
    int moved = 0;
    while (p->head < p->tail && p->ring[p->head & (p->cap - 1)].done) {
        last = p->ring[p->head & (p->cap - 1)].offset;
        p->head++;
        moved = 1;
    }
    if (!moved)
        return 0;
    *store = last + 1;
    p->stored = last + 1;
    return 1;
}
