/* admin — the admin HTTP server (libmicrohttpd, its own thread).
 *
 * It serves documents that the daemon's loop publishes (admin_publish copies
 * them under a lock): /metrics, /readyz, the status page... so the HTTP
 * thread never reads the loop's live state. /healthz is answered here: 200
 * while the loop keeps calling admin_heartbeat, 503 once it has been silent for
 * ADMIN_STALL_MS (a wedged loop is not healthy, even if the process lives).
 *
 * Hostile clients: only GET and HEAD (405 otherwise), but for the POST
 * routes the daemon registers (admin_route_post), whose bodies are bounded
 * (413 when the Content-Length passes the route's limit, before a byte of the
 * body is read; a chunked body that passes it has its connection closed); request headers bounded by a per-connection
 * memory limit, connection count and idle timeout bounded; unknown paths get
 * 404. Slow clients: a request header must
 * be complete within ADMIN_HEADER_DEADLINE_MS of the connection (or of its
 * previous request), however steadily its bytes trickle in, and one address
 * holds at most a quarter of the connections, so probes and scrapers from
 * elsewhere always find room.
 *
 * Ownership: admin_t is created by admin_start and destroyed by admin_stop. */
#ifndef ADMIN_H
#define ADMIN_H
#include "core/buf.h"
#include <stddef.h>

#define ADMIN_STALL_MS 10000
#define ADMIN_MAX_DOCS 16
#define ADMIN_HEADER_DEADLINE_MS 5000

typedef struct adm admin_t;

/* listen: "host:port" ("127.0.0.1:9464", "[::1]:0", "0.0.0.0:9464"); port 0
 * picks a free port (admin_port tells which). */
int admin_start(const char *listen, unsigned max_connections, admin_t **out, char *err, size_t errlen);
void admin_stop(admin_t *a);
/* What admin_start would refuse in the address itself (not a port in use). */
int admin_check_listen(const char *listen, char *err, size_t errlen);
int admin_port(const admin_t *a);

/* Publishes (replaces) the document served at path. Returns 0 or TRI_ENOMEM. */
int admin_publish(admin_t *a, const char *path, int status, const char *content_type, const void *body, size_t len);
void admin_heartbeat(admin_t *a);

#define ADMIN_MAX_ROUTES 4

/* One POST request, as a route's handler sees it. */
typedef struct admin_req admin_req_t;
/* The value of a query argument ("explain" in /classify?explain=1), or NULL. */
const char *admin_req_arg(const admin_req_t *r, const char *name);
/* The whole body (not NUL-terminated). */
const char *admin_req_body(const admin_req_t *r, size_t *len);

/* Answers a POST: appends the response body to out, sets *type (a static
 * string) and returns the HTTP status. Runs on the admin thread, so it must
 * be quick and thread-safe against the loop. */
typedef int (*admin_post_fn)(void *ctx, const admin_req_t *req, buf_t *out, const char **type);

/* Registers a POST route at path with bodies of at most max_body bytes.
 * Call before the server takes requests that need it (routes are never
 * removed). Returns 0, or TRI_EINVAL when the table is full. */
int admin_route_post(admin_t *a, const char *path, size_t max_body, admin_post_fn fn, void *ctx);

#endif
