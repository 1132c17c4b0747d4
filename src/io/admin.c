#include "io/admin.h"
#include "core/tri_err.h"
#include "core/tstamp.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct doc {
    char *path;
    int status;
    char *type;
    void *body;
    size_t len;
} doc_t;

typedef struct route {
    char *path;
    size_t max_body;
    admin_post_fn fn;
    void *ctx;
} route_t;

/* A POST in progress: its route (a copy) and the body read so far. */
struct admin_req {
    route_t route;
    struct MHD_Connection *c;
    buf_t body;
};

/* The state of a GET or HEAD request past its header. */
static int get_state;

/* One open connection, from MHD's connect notification to its close
 * notification; the header deadline is measured from `since`. */
typedef struct conn {
    int fd;
    int waiting;           /* no complete request header yet */
    int cut;               /* shut down by the watchdog */
    int64_t since;         /* accepted, or its previous request completed */
    struct conn *prev, *next;
} conn_t;

struct adm {
    struct MHD_Daemon *d;
    pthread_mutex_t mu;
    doc_t docs[ADMIN_MAX_DOCS];
    size_t ndocs;
    route_t routes[ADMIN_MAX_ROUTES];  /* under mu */
    size_t nroutes;
    int64_t heartbeat_ms;  /* monotonic */
    int port;
    /* The header deadline: MHD's own timeout restarts with every byte, so a
     * client trickling a byte every few seconds would hold its slot forever.
     * The watchdog thread shuts down connections whose header is late. */
    pthread_mutex_t cmu;   /* conns, stop */
    pthread_cond_t ccv;
    conn_t *conns;
    int stop;
    pthread_t watchdog;
    int watchdog_started;
};

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void admin_heartbeat(admin_t *a)
{
    __atomic_store_n(&a->heartbeat_ms, mono_ms(), __ATOMIC_RELAXED);
}

int admin_publish(admin_t *a, const char *path, int status, const char *type, const void *body, size_t len)
{
    void *copy = malloc(len ? len : 1);
    if (!copy)
        return TRI_ENOMEM;
    memcpy(copy, body, len);
    pthread_mutex_lock(&a->mu);
    doc_t *d = NULL;
    for (size_t i = 0; i < a->ndocs; i++)
        if (!strcmp(a->docs[i].path, path))
            d = &a->docs[i];
    if (!d && a->ndocs < ADMIN_MAX_DOCS) {
        d = &a->docs[a->ndocs];
        memset(d, 0, sizeof *d);
        d->path = strdup(path);
        d->type = strdup(type);
        if (!d->path || !d->type) {
            free(d->path);
            free(d->type);
            d = NULL;
        } else {
            a->ndocs++;
        }
    }
    int rc = TRI_ENOMEM;
    if (d) {
        if (strcmp(d->type, type)) {
            char *t = strdup(type);
            if (t) {
                free(d->type);
                d->type = t;
            }
        }
        free(d->body);
        d->body = copy;
        d->len = len;
        d->status = status;
        copy = NULL;
        rc = 0;
    }
    pthread_mutex_unlock(&a->mu);
    free(copy);
    return rc;
}

int admin_route_post(admin_t *a, const char *path, size_t max_body, admin_post_fn fn, void *ctx)
{
    char *p = strdup(path);
    if (!p)
        return TRI_ENOMEM;
    int rc = TRI_EINVAL;
    pthread_mutex_lock(&a->mu);
    if (a->nroutes < ADMIN_MAX_ROUTES) {
        a->routes[a->nroutes++] = (route_t){p, max_body, fn, ctx};
        p = NULL;
        rc = 0;
    }
    pthread_mutex_unlock(&a->mu);
    free(p);
    return rc;
}

static int find_route(admin_t *a, const char *url, route_t *out)
{
    int found = 0;
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->nroutes && !found; i++)
        if (!strcmp(a->routes[i].path, url)) {
            *out = a->routes[i];
            found = 1;
        }
    pthread_mutex_unlock(&a->mu);
    return found;
}

const char *admin_req_arg(const admin_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, name);
}

const char *admin_req_body(const admin_req_t *r, size_t *len)
{
    *len = r->body.len;
    return r->body.len ? r->body.p : "";
}

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *type, const void *body, size_t len,
                             const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (allow)
        MHD_add_response_header(r, "Allow", allow);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    admin_t *a = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_t *k = calloc(1, sizeof *k);
        if (!k || !info) {
            free(k);
            *socket_context = NULL;
            return;
        }
        k->fd = info->connect_fd;
        k->waiting = 1;
        k->since = mono_ms();
        pthread_mutex_lock(&a->cmu);
        k->next = a->conns;
        if (a->conns)
            a->conns->prev = k;
        a->conns = k;
        pthread_mutex_unlock(&a->cmu);
        *socket_context = k;
        return;
    }
    /* Closed: MHD closes the descriptor only after this returns, so the
     * watchdog, which shuts down only listed connections under the same lock,
     * never touches a descriptor that was reused. */
    conn_t *k = *socket_context;
    if (!k)
        return;
    pthread_mutex_lock(&a->cmu);
    if (k->prev)
        k->prev->next = k->next;
    else
        a->conns = k->next;
    if (k->next)
        k->next->prev = k->prev;
    pthread_mutex_unlock(&a->cmu);
    free(k);
    *socket_context = NULL;
}

static conn_t *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

/* A request completed: the next one on this keep-alive connection has its
 * own deadline. */
static void on_completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode toe)
{
    admin_t *a = cls;
    if (*state && *state != &get_state) {
        admin_req_t *q = *state;
        buf_free(&q->body);
        free(q);
    }
    *state = NULL;
    conn_t *k = conn_of(c);
    if (!k)
        return;
    pthread_mutex_lock(&a->cmu);
    k->waiting = 1;
    k->since = mono_ms();
    pthread_mutex_unlock(&a->cmu);
}

static void *watchdog(void *arg)
{
    admin_t *a = arg;
    pthread_mutex_lock(&a->cmu);
    while (!a->stop) {
        int64_t now = mono_ms();
        for (conn_t *k = a->conns; k; k = k->next)
            if (k->waiting && !k->cut && now - k->since > ADMIN_HEADER_DEADLINE_MS) {
                /* MHD sees the end of the stream and closes the connection itself. */
                shutdown(k->fd, SHUT_RDWR);
                k->cut = 1;
            }
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        t.tv_nsec += 200 * 1000000L;
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&a->ccv, &a->cmu, &t);
    }
    pthread_mutex_unlock(&a->cmu);
    return NULL;
}

/* The first call for a request: its header is in. */
static enum MHD_Result begin_request(admin_t *a, struct MHD_Connection *c, const char *url, const char *method,
                                     void **state)
{
    route_t rt;
    int routed = find_route(a, url, &rt);
    if (routed && !strcmp(method, "POST")) {
        /* A declared length over the limit is refused before any byte of
         * the body is read. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > rt.max_body) {
            char msg[96];
            int n = snprintf(msg, sizeof msg, "request body over %zu bytes\n", rt.max_body);
            *state = &get_state;
            return reply(c, 413, "text/plain", msg, (size_t)n, NULL);
        }
        admin_req_t *q = calloc(1, sizeof *q);
        if (!q)
            return MHD_NO;
        q->route = rt;
        q->c = c;
        *state = q;
        return MHD_YES;
    }
    *state = &get_state;
    if (routed)
        return reply(c, 405, "text/plain", "method not allowed\n", 19, "POST");
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return reply(c, 405, "text/plain", "method not allowed\n", 19, "GET, HEAD");
    return MHD_YES;
}

/* The following calls of a POST: body bytes, then the end of the body. */
static enum MHD_Result post_request(struct MHD_Connection *c, admin_req_t *q, const char *upload, size_t *upload_size)
{
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        /* No length declared (chunked) and the bytes pass the limit: the
         * connection is closed here (libmicrohttpd cannot queue a 413 in
         * the middle of a body, and reading on to the end to answer would
         * let a client stream without bound). */
        if (q->body.len + n > q->route.max_body)
            return MHD_NO;
        buf_append(&q->body, upload, n);
        return q->body.oom ? MHD_NO : MHD_YES;
    }
    buf_t out = BUF_INIT;
    const char *type = "text/plain";
    int status = q->route.fn(q->route.ctx, q, &out, &type);
    enum MHD_Result ret = out.oom ? MHD_NO : reply(c, status, type, out.p ? out.p : "", out.len, NULL);
    buf_free(&out);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state)
{
    admin_t *a = cls;
    /* Headers first: refuse bodies instead of buffering them, but for a
     * POST route's, up to its limit. */
    if (!*state) {
        conn_t *k = conn_of(c);
        if (k) {
            pthread_mutex_lock(&a->cmu);
            k->waiting = 0;
            pthread_mutex_unlock(&a->cmu);
        }
        return begin_request(a, c, url, method, state);
    }
    if (*state != &get_state)
        return post_request(c, *state, upload, upload_size);
    if (*upload_size) {
        *upload_size = 0;
        return reply(c, 413, "text/plain", "request bodies are not accepted\n", 32, NULL);
    }
    if (!strcmp(url, "/healthz")) {
        int64_t age = mono_ms() - __atomic_load_n(&a->heartbeat_ms, __ATOMIC_RELAXED);
        char body[96];
        int n = snprintf(body, sizeof body, age < ADMIN_STALL_MS ? "ok\n" : "event loop silent for %lld ms\n",
                         (long long)age);
        return reply(c, age < ADMIN_STALL_MS ? 200 : 503, "text/plain", body, (size_t)n, NULL);
    }
    enum MHD_Result ret = MHD_NO;
    int found = 0;
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->ndocs; i++)
        if (!strcmp(a->docs[i].path, url)) {
            ret = reply(c, a->docs[i].status, a->docs[i].type, a->docs[i].body, a->docs[i].len, NULL);
            found = 1;
            break;
        }
    pthread_mutex_unlock(&a->mu);
    if (!found)
        ret = reply(c, 404, "text/plain", "not found\n", 10, NULL);
    return ret;
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sl, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || strlen(listen) >= sizeof host)
        return tri_errf(err, errlen, TRI_EINVAL, "admin.listen '%s' is not host:port", listen);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 0 || port > 65535)
        return tri_errf(err, errlen, TRI_EINVAL, "admin.listen '%s': port must be 0-65535", listen);
    size_t hl = (size_t)(colon - listen);
    memcpy(host, listen, hl);
    host[hl] = '\0';
    char *h = host;
    if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
        h[hl - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res;
    int g = getaddrinfo(h, colon + 1, &hints, &res);
    if (g)
        return tri_errf(err, errlen, TRI_EINVAL, "admin.listen '%s': %s", listen, gai_strerror(g));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int admin_check_listen(const char *listen, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    return parse_listen(listen, &ss, &sl, err, errlen);
}

int admin_start(const char *listen, unsigned maxconn, admin_t **out, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int rc = parse_listen(listen, &ss, &sl, err, errlen);
    if (rc)
        return rc;
    admin_t *a = calloc(1, sizeof *a);
    if (!a)
        return tri_errf(err, errlen, TRI_ENOMEM, "out of memory");
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->cmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->ccv, &ca);
    pthread_condattr_destroy(&ca);
    a->heartbeat_ms = mono_ms();
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* No address may take more than a quarter of the connections: the rest
     * stay free for the probes and scrapers of other addresses. */
    unsigned per_address = maxconn / 4 ? maxconn / 4 : 1;
    a->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_LIMIT, maxconn, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_address,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024), MHD_OPTION_CONNECTION_TIMEOUT,
                            10u, MHD_OPTION_NOTIFY_CONNECTION, on_connection, a, MHD_OPTION_NOTIFY_COMPLETED,
                            on_completed, a, MHD_OPTION_END);
    if (!a->d) {
        admin_stop(a);
        return tri_errf(err, errlen, TRI_EIO, "admin.listen %s: cannot listen (address in use or not permitted?)",
                        listen);
    }
    if (pthread_create(&a->watchdog, NULL, watchdog, a)) {
        admin_stop(a);
        return tri_errf(err, errlen, TRI_EIO, "admin: cannot start its watchdog thread");
    }
    a->watchdog_started = 1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
    a->port = info ? info->port : 0;
    *out = a;
    return 0;
}

int admin_port(const admin_t *a) { return a->port; }

void admin_stop(admin_t *a)
{
    if (!a)
        return;
    if (a->watchdog_started) {
        pthread_mutex_lock(&a->cmu);
        a->stop = 1;
        pthread_cond_signal(&a->ccv);
        pthread_mutex_unlock(&a->cmu);
        pthread_join(a->watchdog, NULL);
    }
    if (a->d)
        MHD_stop_daemon(a->d);
    for (size_t i = 0; i < a->nroutes; i++)
        free(a->routes[i].path);
    for (size_t i = 0; i < a->ndocs; i++) {
        free(a->docs[i].path);
        free(a->docs[i].type);
        free(a->docs[i].body);
    }
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->cmu);
    pthread_cond_destroy(&a->ccv);
    free(a);
}
