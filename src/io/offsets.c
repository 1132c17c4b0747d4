#include "io/offsets.h"
#include "core/buf.h"

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

/* ---- the partition set ---- */

offsets_part_t *offsets_set_find(offsets_set_t *s, const char *topic, int32_t partition)
{
    offsets_part_t *l = s->last;
    if (l && l->partition == partition && !strcmp(l->topic, topic))
        return l;
    for (size_t i = 0; i < s->n; i++)
        if (s->parts[i]->partition == partition && !strcmp(s->parts[i]->topic, topic))
            return s->last = s->parts[i];
    return NULL;
}

offsets_part_t *offsets_set_add(offsets_set_t *s, const char *topic, int32_t partition)
{
    offsets_part_t *t = offsets_set_find(s, topic, partition);
    if (t)
        return t;
    if (s->n == s->cap) {
        offsets_part_t **v = buf_grow(s->parts, &s->cap, sizeof *v, 16);
        if (!v)
            return NULL;
        s->parts = v;
    }
    t = offsets_new(topic, partition);
    if (t)
        s->parts[s->n++] = t;
    return t;
}

void offsets_set_remove(offsets_set_t *s, offsets_part_t *t)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->parts[i] == t) {
            s->parts[i] = s->parts[--s->n];
            break;
        }
    if (s->last == t)
        s->last = NULL;
    t->revoked = 1;
    offsets_unref(t);
}

void offsets_set_remove_list(offsets_set_t *s, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        offsets_part_t *t = offsets_set_find(s, parts->elems[i].topic, parts->elems[i].partition);
        if (t)
            offsets_set_remove(s, t);
    }
}

int offsets_in_list(const rd_kafka_topic_partition_list_t *parts, const offsets_part_t *t)
{
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].partition == t->partition && !strcmp(parts->elems[i].topic, t->topic))
            return 1;
    return 0;
}

void offsets_set_clear(offsets_set_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        offsets_unref(s->parts[i]);
    free(s->parts);
    *s = (offsets_set_t)OFFSETS_SET_INIT;
}
