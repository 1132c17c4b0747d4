#include "core/tri_err.h"
#include <stdarg.h>
#include <stdio.h>

int tri_errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *tri_strerror(int code)
{
    switch (code) {
    case TRI_OK: return "ok";
    case TRI_EINVAL: return "invalid";
    case TRI_ENOMEM: return "out of memory";
    case TRI_EIO: return "i/o error";
    case TRI_EFORMAT: return "bad format";
    case TRI_ERANGE: return "out of range";
    case TRI_ENOENT: return "not found";
    case TRI_EAGAIN: return "try again";
    default: return "unknown error";
    }
}
