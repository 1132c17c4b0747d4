/* buf — a growable byte buffer, the one way this project builds output text.
 *
 * Ownership: the struct is the caller's (usually on the stack or inside another
 * struct); buf_free releases the bytes. Growth failure is sticky: after an
 * allocation fails, `oom` is set and further appends are ignored, so a writer can
 * append many pieces and check once at the end. */
#ifndef BUF_H
#define BUF_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct buf {
    char *p;
    size_t len, cap;
    int oom;
} buf_t;

#define BUF_INIT {NULL, 0, 0, 0}

void buf_free(buf_t *b);
/* Makes room for n more bytes; returns 0 or TRI_ENOMEM. */
int buf_reserve(buf_t *b, size_t n);
void buf_append(buf_t *b, const void *data, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NUL-terminates without counting the NUL in len; returns b->p (or "" on oom). */
const char *buf_cstr(buf_t *b);
/* Grows an array of elem-byte elements: *cap doubles (or becomes first when
 * 0). Returns the moved array, or NULL when out of memory (then arr and *cap
 * are unchanged). The one growth rule for the project's arrays. */
void *buf_grow(void *arr, size_t *cap, size_t elem, size_t first);

static inline void buf_putc(buf_t *b, char c)
{
    if (b->len + 1 > b->cap && buf_reserve(b, 1))
        return;
    b->p[b->len++] = c;
}

static inline void buf_reset(buf_t *b) { b->len = 0; b->oom = 0; }

#endif
