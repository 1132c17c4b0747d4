/* classify_api — POST /classify[?explain=1] on the admin server: one input
 * record (JSON, as the input topic carries it, at most input.max.bytes and
 * never over CLASSIFY_API_MAX_BYTES) classified by the model serving now,
 * answered with the labeled record the daemon would publish for it; with
 * explain=1 it also carries "explain" (core/explain.h: the prepared text,
 * tokens, n-grams and the ones that weighed most for the label). A debugging
 * aid for one text at a time: it runs on the admin thread, never on the
 * batches' path.
 *
 * Answers: 200 the record; 400 {"error":CODE,"detail":...} for a record the
 * daemon would dead-letter (not_json, missing_id, ...); 422 for no_text;
 * 503 while no model is loaded; 413 (admin.c) for a larger body.
 *
 * Threads: classify_api_set_model on the loop, the handler on the admin
 * thread (one at a time: libmicrohttpd's single polling thread); the model
 * pointer is handed over under a lock, its reference count is atomic. */
#ifndef CLASSIFY_API_H
#define CLASSIFY_API_H
#include "daemon/registry.h"
#include "io/admin.h"
#include "io/cfg.h"
#include <stddef.h>

#define CLASSIFY_API_MAX_BYTES (1u << 20)

typedef struct classify_api classify_api_t;

/* Reads the record schema from cfg (input.*.field, input.text.fields,
 * output.passthrough.fields, output.excerpt.bytes) and registers the route
 * on a. */
int classify_api_new(const cfg_t *cfg, admin_t *a, classify_api_t **out, char *err, size_t errlen);
/* The default model now serving (loop thread). */
void classify_api_set_model(classify_api_t *api, registry_model_t *m);
/* After admin_stop. */
void classify_api_free(classify_api_t *api);

#endif
