/* adm — the admin HTTP server (libmicrohttpd, its own thread).
 *
 * It serves documents that the daemon's loop publishes (adm_publish copies
 * them under a lock): /metrics, /readyz, the status page... so the HTTP
 * thread never reads the loop's live state. /healthz is answered here: 200
 * while the loop keeps calling adm_heartbeat, 503 once it has been silent for
 * ADM_STALL_MS (a wedged loop is not healthy, even if the process lives).
 *
 * Hostile clients: only GET and HEAD (405 otherwise), request headers and
 * bodies bounded by a per-connection memory limit, connection count and idle
 * timeout bounded; unknown paths get 404.
 *
 * Ownership: adm_t is created by adm_start and destroyed by adm_stop. */
#ifndef ADM_H
#define ADM_H
#include <stddef.h>

#define ADM_STALL_MS 10000
#define ADM_MAX_DOCS 16

typedef struct adm adm_t;

/* listen: "host:port" ("127.0.0.1:9464", "[::1]:0", "0.0.0.0:9464"); port 0
 * picks a free port (adm_port tells which). */
int adm_start(const char *listen, unsigned max_connections, adm_t **out, char *err, size_t errlen);
void adm_stop(adm_t *a);
int adm_port(const adm_t *a);

/* Publishes (replaces) the document served at path. Returns 0 or TRI_ENOMEM. */
int adm_publish(adm_t *a, const char *path, int status, const char *content_type, const void *body, size_t len);
void adm_heartbeat(adm_t *a);

#endif
