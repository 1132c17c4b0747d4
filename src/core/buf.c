#include "core/buf.h"
#include "core/tri_err.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void buf_free(buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

int buf_reserve(buf_t *b, size_t n)
{
    if (b->oom)
        return TRI_ENOMEM;
    if (b->len + n <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return TRI_ENOMEM;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return TRI_ENOMEM;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void buf_append(buf_t *b, const void *data, size_t n)
{
    if (!n || buf_reserve(b, n))
        return;
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

void buf_puts(buf_t *b, const char *s) { buf_append(b, s, strlen(s)); }

void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n + 1))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *buf_cstr(buf_t *b)
{
    if (buf_reserve(b, 1))
        return "";
    b->p[b->len] = '\0';
    return b->p;
}

void *buf_grow(void *arr, size_t *cap, size_t elem, size_t first)
{
    size_t n = *cap ? *cap * 2 : first;
    if (n < *cap || (elem && n > SIZE_MAX / elem))
        return NULL;
    void *v = realloc(arr, n * elem);
    if (v)
        *cap = n;
    return v;
}
