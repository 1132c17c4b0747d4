/* cfg — triaged's configuration: one table of keys (name, type, default,
 * bounds, documentation) that parses, validates and documents itself.
 *
 * File syntax (conf/triaged.conf is the documented example, generated from
 * the table by `triaged --config-doc` and checked by the tests):
 *
 *   role = classify              # keys before any [section] are top-level
 *   [input]
 *   topics = support.emails      # this is input.topics
 *   [kafka]
 *   security.protocol = SASL_SSL # not in the table: passed to librdkafka
 *   sasl.password = ${KAFKA_PASSWORD}   # ${VAR} reads the environment
 *
 * Every error names its origin as FILE:LINE (or "--set N") so an operator can
 * fix it at once. `kafka.*` keys not in the table pass through to librdkafka
 * (`kafka.consumer.*` / `kafka.producer.*` to one client only); keys that
 * triaged owns (group.id, offset storing, idempotence...) are refused there
 * with a pointer to the right key. librdkafka itself validates passthrough
 * values when the clients are configured; that error carries the same origin.
 *
 * Ownership: cfg_t is created by cfg_new and freed by cfg_free; strings
 * returned by getters live as long as the cfg_t. */
#ifndef CFG_H
#define CFG_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct cfg cfg_t;

int cfg_new(cfg_t **out);
void cfg_free(cfg_t *c);

/* Reads a file; the first error stops it. Returns 0 or TRI_EINVAL/TRI_EIO. */
int cfg_load_file(cfg_t *c, const char *path, char *err, size_t errlen);
/* Applies "section.key=value" (a --set argument); origin names it in errors. */
int cfg_set_arg(cfg_t *c, const char *kv, const char *origin, char *err, size_t errlen);

/* Getters by full key name; asking for a key not in the table aborts (a
 * programming error, caught by the first test run). */
const char *cfg_str(const cfg_t *c, const char *key);
int64_t cfg_int(const cfg_t *c, const char *key);      /* ints, sizes, durations (ms), bools */
double cfg_double(const cfg_t *c, const char *key);
/* Where the effective value came from ("default", "FILE:LINE", "--set 2"). */
const char *cfg_origin(const cfg_t *c, const char *key);

/* Passthrough entries for a client: kind "consumer" or "producer" yields the
 * kafka.* entries plus kafka.<kind>.* ones, with the prefix removed. Stops
 * early and returns the callback's nonzero value. */
typedef int (*cfg_pass_fn)(const char *key, const char *value, const char *origin, void *ctx);
int cfg_each_kafka(const cfg_t *c, const char *kind, cfg_pass_fn fn, void *ctx);

/* Whether a key's value must never be logged (passwords, secrets, tokens). */
int cfg_is_secret(const char *key);

/* Writes the documented example configuration (every key, its default and
 * bounds, commented). */
void cfg_write_doc(FILE *f);
/* Writes the effective configuration, secrets redacted, one key=value a line. */
void cfg_write_effective(const cfg_t *c, FILE *f);

#endif
