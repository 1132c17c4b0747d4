/* registry_internal — what the registry's files share (private):
 * registry.c (slots, accounts, jobs queue, swaps, lifecycle),
 * registry_model.c (one loaded version: refcount, scorer pool, its JSON),
 * registry_fetch.c (a job's work off the loop: store listing, download,
 * validation), registry_challenger.c (the challenger slot: model.challenger).
 *
 * Ownership and threads: see daemon/registry.h. A registry_model_t is created
 * by registry_model_new with one reference (its slot's); refs and the scorer
 * pool are loop-thread only, the rest is immutable after creation. A job_t
 * belongs to the registry's queue; while on the thread pool only the worker
 * touches it. */
#ifndef REGISTRY_INTERNAL_H
#define REGISTRY_INTERNAL_H
#include "core/tri_err.h"
#include "daemon/registry.h"
#include "io/store.h"
#include <sys/stat.h>

struct registry_model {
    model_t *model;
    char *name, *version;
    registry_json_t json;      /* tag and labels as JSON strings */
    int refs;
    clf_t **idle;              /* scorers not in use */
    size_t nidle, capidle;
    size_t idle_bytes;         /* their memory (clf_memory), counted in the account budget */
    size_t nlent, lent_bytes;  /* scorers lent to batches on the pool, counted too */
    int64_t loaded_ms;
};

/* Takes m (on success). NULL when out of memory. */
registry_model_t *registry_model_new(const char *name, const char *version, model_t *m);
/* Whether anything but the registry's slot holds m (a batch scoring with it). */
static inline int registry_model_in_use(const registry_model_t *m) { return m->refs > 1; }
/* Version of a plain model file: its own "version" when it has one, else its
 * training time as a sortable UTC stamp (20261123T151359Z). */
void registry_file_version(const model_t *m, char *out, size_t n);

#define VERSION_MAX 96
#define PIN_MAX 256

/* One model slot: the default, or one account's. */
typedef struct slot {
    char *account;             /* NULL for the default */
    char *dir;                 /* store-relative directory: NAME or accounts/ACCOUNT */
    char target[VERSION_MAX];  /* what the store says should serve; "" when nothing */
    uint64_t target_size;      /* its size in the listing */
    char failed[VERSION_MAX];  /* a version that was refused: not retried until it changes */
    registry_model_t *loaded;
    uint64_t last_used;
    uint64_t loaded_at;        /* clock when loaded: last_used == loaded_at, not used since */
    int loading, present;
    size_t mem;                /* what its model and a scorer held when last loaded; 0: never */
} slot_t;

enum { J_CHECK, J_LOAD };

/* What a store check found: per directory, the version to serve. */
typedef struct cat_ent {
    char *dir;                 /* NAME or accounts/ACCOUNT */
    char target[VERSION_MAX];
    uint64_t size;
    int unreadable;            /* its PIN could not be read: keep what serves */
    char chal[VERSION_MAX];    /* the default's directory only: model.challenger's version, "" for none */
    uint64_t chal_size;
} cat_ent_t;

typedef struct job {
    uv_work_t work;
    registry_t *reg;
    int kind;
    /* inputs (copied: the worker never touches loop-owned state) */
    char dir[512];
    char version[VERSION_MAX];
    uint64_t size;             /* listed size of the version, 0 when unknown */
    int may_fall_back;         /* nothing serves yet: a store failure may load the cached last good */
    int file_mode;
    int challenger;            /* a load for the challenger slot: no cache fallback, no last-good */
    /* results */
    int rc;
    char err[TRI_ERRLEN];
    const char *reason;        /* why it failed, for metrics: a static string */
    model_t *model;
    int from_cache;            /* the store failed; the cached last good version loaded */
    cat_ent_t *cat;
    size_t ncat;
    size_t nskipped;           /* keys the store's rules refuse, left out */
    char skipped[2 * STORE_LIST_SKIP_NAMES][128];
    uint64_t t0;
    store_t *store;            /* a load's own connection (store_t is one thread at a time) */
    int store_ix;
    size_t est;                /* an account load's memory estimate, held in reg->loading_bytes */
    struct job *next;          /* in the queue, then in the running list */
} job_t;

struct reg {
    uv_loop_t *loop;
    uv_timer_t poll;
    int file_mode;             /* model.source is a plain file */
    char *source, *name, *cache_dir;
    store_t *store;
    uint64_t interval_ms;
    size_t max_bytes, account_bytes;
    uint64_t wait_ms;          /* model.account.wait */
    json_t *pins;              /* PIN cache, check jobs only (read_pin_cached) */
    registry_hooks_t hooks;
    slot_t def;
    slot_t chal;               /* model.challenger (dir: the default's) */
    char chal_cfg[VERSION_MAX]; /* "", "next" or a VERSION */
    slot_t **acct;             /* open addressing by account name */
    size_t acct_cap, acct_n;
    uint64_t clock;
    /* Jobs: one check at a time; up to max_loads loads at once, each on a
     * store connection of its own (lstore[i], busy while lbusy[i]); an
     * account load starts only when its estimate fits the budget. */
    job_t *qhead, *qtail, *running;
    int check_running, nloads, max_loads, peak_loads;
    store_t **lstore;
    unsigned char *lbusy;
    size_t loading_bytes, peak_bytes;
    double file_bytes, mem_bytes; /* account loads so far: listed sizes, memory held after */
    int check_queued, closing, tried_cache, store_down;
    struct stat seen;          /* file mode: identity of the last file loaded or tried */
    int have_seen;
    metrics_family_t *f_info, *f_loads, *f_refusals, *f_load_seconds, *f_last_check, *f_loaded_at, *f_last_error,
        *f_store_errors, *f_bad_keys, *f_acct_loaded, *f_acct_bytes, *f_evictions, *f_fallbacks, *f_lookups, *f_waits_cut, *f_chal_info,
        *f_checks, *f_loads_running, *f_loads_peak, *f_bytes_peak;
};

/* registry.c, for registry_challenger.c. */
void registry_start_load(registry_t *r, slot_t *s, const char *version);
void registry_slot_unload(registry_t *r, slot_t *s);
/* The bookkeeping every finished load shares (champion, account, challenger):
 * load time (*secs), and for a refusal its counters, the last error and the
 * version not to fetch again. Returns j->rc; the caller logs and installs. */
int registry_load_finished(registry_t *r, const job_t *j, slot_t *s, double *secs);
void registry_publish_info(registry_t *r);
/* f's one series: NAME, VERSION and checksum of m (none when m is NULL). */
void registry_publish_model_info(metrics_family_t *f, const registry_model_t *m);
void registry_note_error(registry_t *r, const char *reason);

/* registry_challenger.c. Validates model.challenger (a version name, or
 * next; a store source only). */
int registry_challenger_check_config(const cfg_t *cfg, int file_mode, char *err, size_t errlen);
int registry_challenger_init(registry_t *r, const cfg_t *cfg, metrics_t *met);
/* After a store check, before the default's own refresh: what the store
 * names as challenger now (ent: the default's entry, or NULL). A promoted
 * challenger already loaded becomes the default at once (no reload). */
void registry_challenger_after_check(registry_t *r, const cat_ent_t *ent, const char *def_target);
/* A challenger load finished (loop thread). */
void registry_challenger_after_load(registry_t *r, job_t *j);
/* On the pool (check job): the challenger among a directory's versions. */
const char *registry_challenger_pick(const registry_t *r, char *const *versions, size_t n, const char *pinned);

/* Creates the directories of path (mkdir -p); 0 or -1 (errno set). */
int registry_mkdirs(const char *path);
/* The thread-pool side of a job (uv_work_cb). */
void registry_job_work(uv_work_t *w);
/* Loads the model file at path and smoke-tests it on its probe texts, as
 * every version is before it serves; *reason is the refusal reason. */
int registry_load_verified(const char *path, model_t **out, const char **reason, char *err, size_t errlen);

/* Account models and their budget (registry_accounts.c). */
slot_t *registry_acct_get(registry_t *r, const char *name, int create);
slot_t **registry_acct_find(registry_t *r, const char *name, size_t len);
/* Memory account models hold (weights, idle and lent scorers). */
size_t registry_account_bytes(const registry_t *r);
/* Evicts least recently used account models not in use by a batch, other
 * than keep and those not used since they loaded (their batches have yet to
 * take them; a load asked for later may still evict them, registry_admit),
 * until the total is within the budget; updates the gauges. */
void registry_evict(registry_t *r, const slot_t *keep);
/* Whether an account load of est bytes, last asked for at clock `asked`,
 * may start now (evicting models used before that): it fits the budget with
 * the loads in flight, or nothing is loaded or loading (a model larger than
 * the budget still loads, alone). */
int registry_admit(registry_t *r, size_t est, uint64_t asked);
/* Memory an account load will add, for admission: what the account's model
 * held when last loaded, else its listed size times the memory per file
 * byte of the account loads so far (weights are stored as int8, held wider
 * with an index: ~4x), plus a scorer. registry_learn records a load. */
size_t registry_estimate(const registry_t *r, const slot_t *s, uint64_t size);
void registry_learn(registry_t *r, slot_t *s, uint64_t size);
/* Memory a scorer is expected to hold (a stem cache and scratch) before one
 * exists: part of an account load's estimate. */
#define REGISTRY_SCORER_EST (320u << 10)

/* Returns the allocator's free pages to the system (registry_model.c). */
void registry_heap_release(void);

#endif
