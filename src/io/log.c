#include "io/log.h"
#include "core/tri_err.h"
#include "core/tstamp.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int log_fd = 2;
static char *log_path;
static int log_level = LOG_LEVEL_INFO;
static int log_json;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const names[] = {"debug", "info", "warn", "error"};

const char *log_level_name(int level) { return level >= 0 && level <= LOG_LEVEL_ERROR ? names[level] : "?"; }

int log_level_parse(const char *s)
{
    for (int i = 0; i <= LOG_LEVEL_ERROR; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

int log_enabled(int level) { return level >= log_level; }

static int open_path(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return tri_errf(err, errlen, TRI_EIO, "log file %s: %s", path, strerror(errno));
    return fd;
}

int log_open(const char *path, int level, int json, char *err, size_t errlen)
{
    pthread_mutex_lock(&log_mu);
    log_level = level;
    log_json = json;
    free(log_path);
    log_path = NULL;
    int rc = 0;
    if (path && *path) {
        int fd = open_path(path, err, errlen);
        if (fd < 0) {
            rc = fd;
        } else {
            if (log_fd != 2)
                close(log_fd);
            log_fd = fd;
            log_path = strdup(path);
        }
    }
    pthread_mutex_unlock(&log_mu);
    return rc;
}

int log_reopen(char *err, size_t errlen)
{
    int rc = 0;
    pthread_mutex_lock(&log_mu);
    if (log_path) {
        int fd = open_path(log_path, err, errlen);
        if (fd < 0) {
            rc = fd;
        } else {
            close(log_fd);
            log_fd = fd;
        }
    }
    pthread_mutex_unlock(&log_mu);
    return rc;
}

void log_close(void)
{
    pthread_mutex_lock(&log_mu);
    if (log_fd != 2)
        close(log_fd);
    log_fd = 2;
    free(log_path);
    log_path = NULL;
    pthread_mutex_unlock(&log_mu);
}

const char *log_q(const char *s)
{
    static __thread char ring[8][448];
    static __thread unsigned idx;
    char *o = ring[idx++ & 7];
    size_t n = 0, cap = sizeof ring[0];
    if (!s)
        s = "";
    o[n++] = '"';
    /* Room kept at the end for the longest escape (6), "..." and the closing
     * quote with its NUL. */
    for (; *s && n < cap - 12; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            o[n++] = '\\';
            o[n++] = (char)c;
        } else if (c == '\n') {
            o[n++] = '\\';
            o[n++] = 'n';
        } else if (c < 0x20 || c == 0x7F) {
            n += (size_t)snprintf(o + n, cap - n, "\\u%04x", c);
        } else {
            o[n++] = (char)c;
        }
    }
    if (*s) {
        memcpy(o + n, "...", 3);
        n += 3;
    }
    o[n++] = '"';
    o[n] = '\0';
    return o;
}

/* Whether s[0..n) is a JSON number (RFC 8259 grammar: no leading zeros,
 * no '+', no hex, no nan/inf). */
static int json_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n)
        return 0;
    if (s[i] == '0')
        i++;
    else if (s[i] >= '1' && s[i] <= '9')
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    else
        return 0;
    if (i < n && s[i] == '.') {
        if (++i >= n || s[i] < '0' || s[i] > '9')
            return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    return i == n;
}

/* Converts "k=v k2=\"a b\"" into JSON members. Values in quotes are already
 * escaped JSON-compatibly by log_q; bare values become numbers when they
 * look like one, else strings. */
static size_t fields_to_json(const char *f, char *o, size_t cap)
{
    size_t n = 0;
    while (*f && n + 16 < cap) {
        while (*f == ' ')
            f++;
        if (!*f)
            break;
        const char *k = f;
        while (*f && *f != '=' && *f != ' ')
            f++;
        size_t kl = (size_t)(f - k);
        if (*f != '=') {
            continue;
        }
        f++;
        n += (size_t)snprintf(o + n, cap - n, ",\"%.*s\":", (int)kl, k);
        if (n >= cap)
            return cap - 1;
        if (*f == '"') {
            const char *v = f++;
            while (*f && *f != '"') {
                if (*f == '\\' && f[1])
                    f++;
                f++;
            }
            if (*f == '"')
                f++;
            n += (size_t)snprintf(o + n, cap - n, "%.*s", (int)(f - v), v);
        } else {
            const char *v = f;
            while (*f && *f != ' ')
                f++;
            size_t vl = (size_t)(f - v);
            if (json_number(v, vl))
                n += (size_t)snprintf(o + n, cap - n, "%.*s", (int)vl, v);
            else
                n += (size_t)snprintf(o + n, cap - n, "\"%.*s\"", (int)vl, v);
        }
        if (n >= cap)
            return cap - 1;
    }
    return n;
}

void log_event(int level, const char *event, const char *fmt, ...)
{
    if (level < log_level)
        return;
    char fields[3072], line[4096], ts[40];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fields, sizeof fields, fmt ? fmt : "", ap);
    va_end(ap);
    tstamp_format(tstamp_now_ms(), ts, sizeof ts);
    size_t n;
    if (log_json) {
        n = (size_t)snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"%s\"", ts,
                             log_level_name(level), event);
        if (n < sizeof line)
            n += fields_to_json(fields, line + n, sizeof line - n);
        if (n > sizeof line - 3)
            n = sizeof line - 3;
        line[n++] = '}';
    } else {
        n = (size_t)snprintf(line, sizeof line, "ts=%s level=%s event=%s%s%s", ts, log_level_name(level), event,
                             fields[0] ? " " : "", fields);
        if (n > sizeof line - 2)
            n = sizeof line - 2;
    }
    line[n++] = '\n';
    pthread_mutex_lock(&log_mu);
    ssize_t w = write(log_fd, line, n);
    (void)w;
    pthread_mutex_unlock(&log_mu);
}
