/* The durable state store (SQLite, WAL): services and their routing, revisions, targets,
 * deployments with their phases, and the events table (the audit trail: who did what, from
 * where). The controller writes a change here BEFORE it takes effect (a phase change, a
 * weight change), so that after a crash the routing and every deployment can be rebuilt
 * from the store. All calls are synchronous and belong to the control thread: workers never
 * touch the store. Each write is its own transaction unless wrapped in
 * bg_store_begin/bg_store_commit.
 */
#ifndef BG_STORE_STORE_H
#define BG_STORE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

typedef struct bg_store bg_store_t;

/* Bytes kept in <path>-reserve and given back when the disk is full (store.c). */
#define BG_STORE_RESERVE_BYTES (1024u * 1024u)

/* Opens (creating if needed) the database at <path> in EXCLUSIVE locking mode (no -shm
 * mapping; no other process may open it meanwhile), enables WAL and foreign keys, runs
 * PRAGMA integrity_check and migrates the schema to the current version; creates the disk
 * reserve <path>-reserve. NULL + <err> on failure, with a message for a human: a read-only
 * file, a damaged one, a newer schema, a database another process holds. Thread: control. */
bg_store_t *bg_store_open(const char *path, bg_err_t *err);
/* Closes the database. NULL is a no-op. */
void bg_store_close(bg_store_t *s);
/* Schema version after migration. */
int bg_store_schema_version(bg_store_t *s);

/* The store's identity (32 hex digits, meta.store_id), created with the database: the
 * instance markers carry it, so instances outlive neither a lost nor a replaced database
 * unnoticed. Borrowed. */
const char *bg_store_id(const bg_store_t *s);
/* 0 if changes can be stored; BG_EIO with the reason when the database file was deleted or
 * replaced while running (sticky) or the disk reserve was used and cannot be re-created
 * yet (the disk is still full). Callers refuse new changes (deployments, traffic) then;
 * what is in flight may still write. */
int bg_store_status(bg_store_t *s, bg_err_t *err);

/* Explicit transactions (nesting is not allowed). 0 or a negative code.
 * bg_store_begin() and bg_store_commit() refuse (BG_EIO) once the database file was deleted
 * or replaced; a commit that fails with SQLITE_FULL releases the reserve and is retried
 * once; a failed commit is rolled back (nothing of it is stored).
 * bg_store_deployment_set_phase() joins an open transaction instead of opening its own. */
int bg_store_begin(bg_store_t *s, bg_err_t *err);
int bg_store_commit(bg_store_t *s, bg_err_t *err);
void bg_store_rollback(bg_store_t *s);
/* True while a bg_store_begin() transaction is open (history.c). */
bool bg_store_in_tx(const bg_store_t *s);

/* ---- services: the routing state that must survive a restart ---- */
typedef struct bg_store_service {
    char name[64];
    int live_slot;              /* 0 blue, 1 green */
    uint32_t weight[2];
    int64_t revision[2];        /* revision number in each slot; 0 = empty */
    uint64_t updated_ms;
} bg_store_service_t;

/* Inserts or replaces the routing state of a service. */
int bg_store_service_put(bg_store_t *s, const bg_store_service_t *svc, bg_err_t *err);
/* Fills <out>; BG_ENOTFOUND if the service has no stored state. */
int bg_store_service_get(bg_store_t *s, const char *name, bg_store_service_t *out, bg_err_t *err);

/* ---- revisions: immutable, numbered per service ---- */
typedef struct bg_store_revision {
    char service[64];
    int64_t number;             /* 1, 2, ... per service; assigned by add */
    char version[64];
    char *spec_json;            /* owned: the full revision (artifact, env, api, ...) */
    uint64_t created_ms;
} bg_store_revision_t;

/* Adds a revision with the next number for its service and sets rev->number. */
int bg_store_revision_add(bg_store_t *s, bg_store_revision_t *rev, bg_err_t *err);
/* Fills <out> (caller frees out->spec_json). BG_ENOTFOUND if absent. */
int bg_store_revision_get(bg_store_t *s, const char *service, int64_t number,
                          bg_store_revision_t *out, bg_err_t *err);

/* Replaces the spec of revision <number> of <service>: the one change a revision allows,
 * when PRE_SCALE_UP pins its artifact (an image tag -> its digest) before anything runs. */
int bg_store_revision_set_spec(bg_store_t *s, const char *service, int64_t number,
                               const char *spec_json, bg_err_t *err);

/* ---- targets: running instances, for re-adoption after a restart ---- */
typedef struct bg_store_target {
    int64_t id;                 /* assigned by add */
    char service[64];
    int slot;
    int64_t revision;
    char address[80];
    char driver[16];
    char handle[128];           /* pid, container id, task arn */
    char state[16];             /* starting | running | draining | stopped */
} bg_store_target_t;

/* Adds a target row (state "starting" unless t->state says otherwise) and sets t->id. The
 * controller adds it, and commits it, BEFORE the driver starts anything: the intent is
 * durable first, then bg_store_target_started() records where it runs. */
int bg_store_target_add(bg_store_t *s, bg_store_target_t *t, bg_err_t *err);
/* The instance of target <id> runs: its <address> and driver <handle>; state "running". */
int bg_store_target_started(bg_store_t *s, int64_t id, const char *address, const char *handle,
                            bg_err_t *err);
int bg_store_target_set_state(bg_store_t *s, int64_t id, const char *state, bg_err_t *err);
/* Calls <cb> for every target of <service> (NULL: all) not in state "stopped". A non-zero
 * return from <cb> stops the walk and is returned. */
int bg_store_target_each(bg_store_t *s, const char *service,
                         int (*cb)(void *arg, const bg_store_target_t *t), void *arg,
                         bg_err_t *err);

/* ---- deployments ---- */
typedef struct bg_store_deployment {
    int64_t id;                 /* assigned by create */
    char service[64];
    int64_t from_revision, to_revision;
    int slot;                   /* slot the new revision goes to */
    char phase[32];             /* PRE_SCALE_UP ... CLEAN_UP, or DONE */
    char result[16];            /* "" while running; SUCCEEDED, ROLLED_BACK, ... */
    char reason[512];
    uint32_t weight[2];
    char actor[64];             /* who started it */
    char origin[128];           /* from where (unix socket peer uid, TCP address) */
    char *record_json;          /* owned: strategy, labels, evidence, switch times */
    uint64_t started_ms, ended_ms;
} bg_store_deployment_t;

int bg_store_deployment_create(bg_store_t *s, bg_store_deployment_t *d, bg_err_t *err);
/* Records a phase change durably (phase row + deployment row, one transaction), before
 * the controller acts on it. */
int bg_store_deployment_set_phase(bg_store_t *s, int64_t id, const char *phase,
                                  const uint32_t weight[2], bg_err_t *err);
/* Ends a deployment with <result> and <reason>; <record_json> (may be NULL) replaces the
 * stored record. */
int bg_store_deployment_finish(bg_store_t *s, int64_t id, const char *result, const char *reason,
                               const char *record_json, bg_err_t *err);
int bg_store_deployment_get(bg_store_t *s, int64_t id, bg_store_deployment_t *out, bg_err_t *err);
/* The unfinished deployment of <service> (result ""), if any: 0 and filled, or
 * BG_ENOTFOUND. */
int bg_store_deployment_active(bg_store_t *s, const char *service, bg_store_deployment_t *out,
                               bg_err_t *err);
void bg_store_deployment_fini(bg_store_deployment_t *d);
/* (history.c) Calls <cb> for the newest deployments of <service> (NULL: all), newest first,
 * at most <limit> (0 = no limit); a non-zero return from <cb> stops the walk. */
int bg_store_deployment_list(bg_store_t *s, const char *service, unsigned limit,
                             int (*cb)(void *arg, const bg_store_deployment_t *d), void *arg,
                             bg_err_t *err);
/* Sets the weights a deployment's row shows (the routing when it ended: after a rollback
 * the old slot's 100%), without a phase row. */
int bg_store_deployment_set_weights(bg_store_t *s, int64_t id, const uint32_t weight[2],
                                    bg_err_t *err);
/* Replaces the record JSON of a deployment (running or not). */
int bg_store_deployment_set_record(bg_store_t *s, int64_t id, const char *record_json,
                                   bg_err_t *err);
/* Rewrites phase, result and reason of a deployment even after it finished (a rollback
 * within the termination wait, the clean-up); <record_json> may be NULL (kept). */
int bg_store_deployment_amend(bg_store_t *s, int64_t id, const char *phase, const char *result,
                              const char *reason, const char *record_json, bg_err_t *err);

/* ---- events: the audit trail ---- */
typedef struct bg_store_event {
    int64_t id;
    uint64_t ts_ms;
    char service[64];
    int64_t deployment;         /* 0 if none */
    char kind[32];              /* deploy.phase, traffic, health, target, ... */
    char message[512];
    char actor[64];
    char origin[128];
} bg_store_event_t;

/* Appends an event (ts = now if ev->ts_ms == 0) and sets ev->id. */
int bg_store_event_add(bg_store_t *s, bg_store_event_t *ev, bg_err_t *err);
/* Calls <cb> for events with id > <after_id> (of <service>, or all if NULL), oldest first,
 * at most <limit> (0 = no limit). */
int bg_store_event_each(bg_store_t *s, int64_t after_id, const char *service, unsigned limit,
                        int (*cb)(void *arg, const bg_store_event_t *ev), void *arg,
                        bg_err_t *err);

#endif
