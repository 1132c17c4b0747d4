/* tri_err — the error convention shared by every module.
 *
 * A fallible function returns 0 (TRI_OK) or a negative TRI_E* code and, when the
 * caller passed a buffer, writes one human-readable sentence into it. Callers add
 * context by prefixing (tri_errf with "%s: %s"), never by logging deep inside a
 * library module: only programs decide what to print. */
#ifndef TRI_ERR_H
#define TRI_ERR_H
#include <stddef.h>

enum {
    TRI_OK = 0,
    TRI_EINVAL = -1,   /* bad argument or bad input data */
    TRI_ENOMEM = -2,
    TRI_EIO = -3,      /* operating-system I/O failure */
    TRI_EFORMAT = -4,  /* malformed file or record */
    TRI_ERANGE = -5,   /* value out of bounds */
    TRI_ENOENT = -6,   /* not found */
    TRI_EAGAIN = -7,   /* transient; try again later */
};

/* Size that error buffers in this project use; any size works. */
#define TRI_ERRLEN 512

/* Writes a formatted message into err (if err && errlen) and returns code, so a
 * failing path reads `return tri_errf(err, errlen, TRI_EINVAL, "...", ...)`. */
int tri_errf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Short name of a code ("invalid", "no memory", ...). */
const char *tri_strerror(int code);

#endif
