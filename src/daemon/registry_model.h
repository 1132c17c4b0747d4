/* registry_model — one loaded model version as the registry serves it
 * (private to the registry): the model, its name and version, the JSON the
 * labeled records need, a reference count and a pool of idle scorers.
 *
 * Ownership: created by registry_model_new with one reference (the
 * registry's slot); a batch takes another while it scores with it; freed at
 * the last registry_model_unref. Threads: refs and the scorer pool are loop
 * thread only; the rest is immutable after creation, so workers may read it. */
#ifndef REGISTRY_MODEL_H
#define REGISTRY_MODEL_H
#include "daemon/registry.h"

struct registry_model {
    model_t *model;
    char *name, *version;
    registry_json_t json;      /* tag and labels as JSON strings */
    int refs;
    clf_t **idle;              /* scorers not in use */
    size_t nidle, capidle;
    size_t idle_bytes;         /* their memory (clf_memory), counted in the account budget */
    int64_t loaded_ms;
};

/* Takes m (on success). NULL when out of memory. */
registry_model_t *registry_model_new(const char *name, const char *version, model_t *m);
/* Whether anything but the registry's slot holds m (a batch scoring with it). */
static inline int registry_model_in_use(const registry_model_t *m) { return m->refs > 1; }
/* Version of a plain model file: its own "version" when it has one, else its
 * training time as a sortable UTC stamp (20261123T151359Z). */
void registry_file_version(const model_t *m, char *out, size_t n);

#endif
