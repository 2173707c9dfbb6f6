/* The compatibility gate, matrix and release planner (docs/design.md §6), on top of semver.h.
 *
 * A *world* describes what is live: services, each with a blue and a green slot holding a
 * revision (its version and API declarations) and a traffic weight. The live versions of a
 * service are its slots with weight > 0 (both while traffic is split). The gate asks whether
 * a world is compatible around one service; the deploy controller builds "the world after
 * the proposed step" (bg_compat_world_with_step) and asks before scale-up and before every
 * traffic step. The planner orders a multi-service release so that every intermediate state
 * passes that same gate.
 *
 * Everything here is pure: no I/O except loading a rules (matrix) file or a release file,
 * no threads, no globals, no logging. Results are plain data the caller owns.
 * Thread: any; a world or rule set may be read by several threads at once, and is written
 * by one owner at a time.
 */
#ifndef BG_COMPAT_COMPAT_H
#define BG_COMPAT_COMPAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "compat/semver.h"
#include "config/config.h"

/* ---- declarations -------------------------------------------------------------------- */

/* Checks the API declarations of one revision: every provided version must parse as a
 * SemVer version and every required range as an npm range. On failure returns BG_EINVAL
 * and fills <err> with semver's message; err->key is "<key_prefix>.api.requires.<api>"
 * (or ".api.provides.<api>[i]"); <key_prefix> may be NULL or "". Borrows <api>. */
int bg_compat_api_validate(const bg_api_config_t *api, const char *key_prefix, bg_err_t *err);

/* ---- world --------------------------------------------------------------------------- */

typedef struct bg_compat_world bg_compat_world_t; /* opaque */

/* A new empty world. Caller frees with bg_compat_world_free(). */
bg_compat_world_t *bg_compat_world_new(void);

/* Frees <w>; NULL is a no-op. */
void bg_compat_world_free(bg_compat_world_t *w);

/* Deep copy of <w> (revisions are shared immutably). Caller frees. */
bg_compat_world_t *bg_compat_world_copy(const bg_compat_world_t *w);

/* Puts <rev> (its version and API declarations; copied, <rev> stays the caller's) into
 * <slot> of <service> with traffic <weight_pct> (0..100), adding the service if it is new.
 * The other slot is left as it is. Returns 0, or BG_EINVAL when the version or a declared
 * range does not parse (<err> as bg_compat_api_validate with the service name as prefix)
 * or the weight is above 100; the world is then unchanged. */
int bg_compat_world_set_slot(bg_compat_world_t *w, const char *service, bg_slot_t slot,
                             const bg_revision_config_t *rev, uint32_t weight_pct, bg_err_t *err);

/* Sets both weights of <service> (as `bluegreen traffic` does). BG_ENOTFOUND when the
 * service is unknown, BG_EINVAL when a weight is above 100 or a slot with a positive weight
 * holds no revision. */
int bg_compat_world_set_weights(bg_compat_world_t *w, const char *service, uint32_t blue_pct,
                                uint32_t green_pct);

/* Empties <slot> of <service> (the old revision was stopped). Unknown service: no-op. */
void bg_compat_world_clear_slot(bg_compat_world_t *w, const char *service, bg_slot_t slot);

/* "The world after a proposed step": a copy of <w> where <service> has <rev> in <slot> at
 * <weight_pct> and its other slot (the old revision, if any) at 100 - <weight_pct>. So at
 * a split weight both old and new are live; at 100 only the new one is, the old revision
 * staying in its slot at weight 0. NULL with <err> on the errors of set_slot. Caller frees. */
bg_compat_world_t *bg_compat_world_with_step(const bg_compat_world_t *w, const char *service,
                                             bg_slot_t slot, const bg_revision_config_t *rev,
                                             uint32_t weight_pct, bg_err_t *err);

/* The world a config starts with: each service's initial revision in blue, weights from
 * `traffic:` (default blue 100); a green weight > 0 puts the same revision in green. NULL
 * with <err> when a declaration does not parse. Borrows <cfg>; caller frees the world. */
bg_compat_world_t *bg_compat_world_from_config(const bg_config_t *cfg, bg_err_t *err);

/* Slot holding <service>'s deployment target: the one that is not live (the lighter one;
 * green when both are equal), as the controller alternates colours. Unknown service: blue. */
bg_slot_t bg_compat_world_next_slot(const bg_compat_world_t *w, const char *service);

/* Number of services, and the name of the i-th (insertion order). Borrowed. */
size_t bg_compat_world_size(const bg_compat_world_t *w);
const char *bg_compat_world_service(const bg_compat_world_t *w, size_t i);

/* The version in <slot> of <service> (borrowed; NULL if empty or unknown) and its weight. */
const char *bg_compat_world_version(const bg_compat_world_t *w, const char *service, bg_slot_t slot,
                                    uint32_t *weight_pct);

/* ---- explicit rules (matrix file) ---------------------------------------------------- */

/* rules:
 *   - {service: orders, version: "2.x",
 *      incompatible_with: {service: inventory, version: "<3.1"}, reason: "..."}
 * `version` ranges are npm ranges over the services' revision versions; omitted = any.
 * A rule applies in both directions: deploying either side checks it. */
typedef struct bg_compat_rules bg_compat_rules_t; /* opaque, immutable once loaded */

/* Reads and validates the rules file <path>. Returns the rules (free with
 * bg_compat_rules_free) or NULL with <err>: file:line:column, key path (rules[0].version)
 * and what was expected (semver's message for a bad range). */
bg_compat_rules_t *bg_compat_rules_load(const char *path, bg_err_t *err);

/* The same from memory; <name> is the file name used in errors. */
bg_compat_rules_t *bg_compat_rules_parse(const char *text, size_t len, const char *name,
                                         bg_err_t *err);

/* Frees <r>; NULL is a no-op. */
void bg_compat_rules_free(bg_compat_rules_t *r);

/* Number of rules. */
size_t bg_compat_rules_count(const bg_compat_rules_t *r);

/* ---- the gate ------------------------------------------------------------------------ */

typedef enum bg_compat_edge_kind {
    BG_COMPAT_EDGE_REQUIRES = 0,    /* a requirement that live providers do not meet */
    BG_COMPAT_EDGE_NO_PROVIDER = 1, /* a requirement no live service provides */
    BG_COMPAT_EDGE_RULE = 2,        /* an explicit rule matched */
} bg_compat_edge_kind_t;
const char *bg_compat_edge_kind_str(bg_compat_edge_kind_t k); /* "requires" | ... */

/* One live revision of the provider side of an edge. */
typedef struct bg_compat_live {
    bg_slot_t slot;
    uint32_t weight_pct;
    char *version;       /* the revision's version */
    char **api_versions; /* versions of the edge's API it provides (none: it does not) */
    size_t n_api_versions;
    bool ok; /* this revision alone would meet the requirement / rule */
} bg_compat_live_t;

/* A broken edge: consumer (at one live revision) -> provider. For RULE edges <consumer>
 * is the rule's `service` side, <range> the other side's range and <api> is NULL. */
typedef struct bg_compat_edge {
    bg_compat_edge_kind_t kind;
    char *consumer;
    char *consumer_version;
    bg_slot_t consumer_slot;
    uint32_t consumer_weight_pct;
    char *api;                       /* NULL for RULE */
    char *range;                     /* as declared; "*" when a rule side has no version */
    char *provider;                  /* NULL for NO_PROVIDER */
    bg_compat_live_t *provider_live; /* the provider's live revisions, slot order */
    size_t n_provider_live;
    char *reason;  /* RULE: the rule's reason (may be NULL) */
    char *message; /* `orders 2.3.0 requires payments ^2.0; live payments is
                      1.9.2 (blue, 100%)` */
} bg_compat_edge_t;

/* Caller storage; bg_compat_result_fini() frees what it holds. Zero-initialised = empty. */
typedef struct bg_compat_result {
    bg_compat_edge_t *edges;
    size_t n_edges;
} bg_compat_result_t;

void bg_compat_result_init(bg_compat_result_t *res);
void bg_compat_result_fini(bg_compat_result_t *res);

/* True when <res> holds no broken edge. */
static inline bool bg_compat_result_ok(const bg_compat_result_t *res)
{
    return res->n_edges == 0;
}

/* {"ok": bool, "broken": [{kind, consumer, consumer_version, consumer_slot, api, range,
 *  provider, provider_live: [{slot, weight_pct, version, api_versions, ok}], reason,
 *  message}]}. New reference. */
json_t *bg_compat_result_to_json(const bg_compat_result_t *res);

/* The gate (docs/design.md §6) around <changed> in <w>, both directions:
 * (a) each live revision of <changed>: each requirement on API A is met when every live
 *     revision of every service providing A provides some version of A in the range; no
 *     live provider of A at all is broken;
 * (b) each live revision of every other service: its requirements on APIs that some
 *     revision of <changed> provides (live or not: a dropped API counts), against the live
 *     revisions of <changed>;
 * plus the rules (<rules> may be NULL) that name <changed> on either side. Edges that do
 * not involve <changed> are not judged (they are some other deployment's business).
 * Appends the broken edges to <res> (caller inits and finis it); refusal = any edge.
 * Returns 0, or BG_ENOTFOUND when <changed> is not in <w>. Borrows everything. */
int bg_compat_check(const bg_compat_world_t *w, const char *changed, const bg_compat_rules_t *rules,
                    bg_compat_result_t *res);

/* The whole deployment of <rev> into <slot> of <service>, judged up front (PRE_SCALE_UP,
 * `deploy --dry-run`): the split state at <first_pct> (the strategy's first weight; old
 * and new live) when it is below 100, then the state at 100% (new alone). Only liveness
 * matters to the verdict, so one split weight stands for all of them; it shows in the
 * messages. Appends deduplicated edges to <res>; returns 0, or BG_EINVAL (with <err>) when
 * <rev>'s declarations do not parse or <first_pct> is 0 or above 100. */
int bg_compat_check_deploy(const bg_compat_world_t *w, const char *service, bg_slot_t slot,
                           const bg_revision_config_t *rev, uint32_t first_pct,
                           const bg_compat_rules_t *rules, bg_compat_result_t *res, bg_err_t *err);

/* The rollback gate: the world where <service> goes back to <back_to> alone (weight 100,
 * the other slot 0), judged like bg_compat_check; messages read "after rollback ... would
 * be" instead of "live ... is", so the CLI can print which consumer (already depending on
 * what the new revision introduced) would break and ask for --force. BG_ENOTFOUND for an
 * unknown service, BG_ECONFLICT when <back_to> holds no revision. */
int bg_compat_check_rollback(const bg_compat_world_t *w, const char *service, bg_slot_t back_to,
                             const bg_compat_rules_t *rules, bg_compat_result_t *res);

/* ---- matrix view --------------------------------------------------------------------- */

/* The matrix of <w>: {"ok", "services": [names], "live": {svc: [{slot, weight_pct,
 * version, provides: {api: [v]}, requires: {api: range}}]}, "cells": [{consumer,
 * consumer_version, consumer_slot, provider, api (null for a rule), rule: bool, range,
 * provider_versions: ["1.9.2 (blue, 90%)"], status: "ok"|"broken", message (broken only)}],
 * "missing": [{consumer, consumer_version, api, range, message}], "broken": [edges as in
 * bg_compat_result_to_json]}. A cell is one (consumer revision requirement or rule,
 * provider service) pair; consumer and provider name the services × services grid.
 * New reference; borrows <w> and <rules> (may be NULL). */
json_t *bg_compat_matrix_json(const bg_compat_world_t *w, const bg_compat_rules_t *rules);

/* Renders a matrix JSON (as returned above, e.g. fetched from the admin API) for a
 * terminal: a consumer × provider grid of "range ok|BROKEN" cells, the live versions, then
 * one line per broken edge. <color>: ANSI colours (a tty); otherwise plain text. Caller
 * frees. Unknown or missing members are rendered as empty, never crash. */
char *bg_compat_matrix_render(const json_t *matrix, bool color);

/* ---- release files and the planner ---------------------------------------------------- */

typedef struct bg_compat_release_entry {
    char *service;
    char *file;               /* resolved path of `file:`, NULL when inline */
    bg_revision_config_t rev; /* the target revision */
} bg_compat_release_entry_t;

typedef struct bg_compat_release {
    char *path;                         /* the release file (as given) */
    bg_compat_release_entry_t *entries; /* in file order */
    size_t n_entries;
} bg_compat_release_t;

/* Loads RELEASE.yaml: `services: {NAME: {file: REV.yaml} | {version, run|image, api, ...}}`.
 * `file:` is resolved relative to the release file's directory and read with
 * bg_revision_parse(); inline revisions are read in place. <cfg> (may be NULL) supplies the
 * service defaults and driver check, and then every NAME must be one of its services.
 * Declared ranges and versions are validated (bg_compat_api_validate). Errors name
 * file:line:column (of the release file, or of the revision file) and the key path
 * (services.payments.api.requires.orders). Fills <out> (caller finis) and returns 0. */
int bg_compat_release_load(const char *path, const bg_config_t *cfg, bg_compat_release_t *out,
                           bg_err_t *err);

/* The same from memory: <name> is used in errors and as the base for `file:` paths. */
int bg_compat_release_parse(const char *text, size_t len, const char *name, const bg_config_t *cfg,
                            bg_compat_release_t *out, bg_err_t *err);

void bg_compat_release_fini(bg_compat_release_t *rel);

typedef struct bg_compat_plan_step {
    char *service;
    size_t entry;       /* index into the release's entries */
    char *from_version; /* live version before (NULL for a new service) */
    char *to_version;
    bg_slot_t slot; /* where the new revision goes */
} bg_compat_plan_step_t;

/* One "X must go before Y" constraint of a cycle that blocks the release. */
typedef struct bg_compat_constraint {
    char *first; /* must be deployed first */
    char *then;
    char *reason; /* "orders 3.0.0 needs payments ^2.0 (payments first)" */
} bg_compat_constraint_t;

typedef struct bg_compat_plan {
    bool ok;
    bg_compat_plan_step_t *steps; /* ok: the order; each step passes the gate split and
                                     at 100% */
    size_t n_steps;
    char **unchanged; /* release services already live at their target */
    size_t n_unchanged;
    /* !ok: */
    bg_compat_constraint_t *cycle; /* the constraint cycle, if one explains the block */
    size_t n_cycle;
    bg_compat_result_t blockers; /* broken edges no order can fix (or, without a cycle,
                                    those met where the search got stuck) */
    char *hint_service;          /* expand/contract: deploy this service first ... */
    char *hint_api;              /* ... providing these versions of this API */
    char **hint_versions;
    size_t n_hint_versions;
    bool hint_verified; /* the release then has an order (searched) */
    char *explanation;  /* sentences for humans, NULL when ok */
} bg_compat_plan_t;

/* Orders the release <rel> against the live world <w> so that every intermediate state
 * passes bg_compat_check for the service being deployed, both while split (old and new
 * live) and at 100%. Depth-first search over orders, memoised on the set of deployed
 * services; services are tried in release order, so the plan is deterministic. When no
 * order exists, explains the constraint cycle and proposes the expand/contract provider
 * revision that would unblock it. Fills <out> (caller finis) and returns 0 (also when no
 * order exists: check out->ok); BG_EINVAL when the release has more than 20 changed
 * services. Borrows everything. */
int bg_compat_plan(const bg_compat_world_t *w, const bg_compat_release_t *rel,
                   const bg_compat_rules_t *rules, bg_compat_plan_t *out, bg_err_t *err);

void bg_compat_plan_fini(bg_compat_plan_t *plan);

/* {"ok", "steps": [{service, from_version, to_version, slot}], "unchanged": [...],
 *  "cycle": [{first, then, reason}], "blockers": [edges], "hint": {service, api, versions,
 *  verified}, "explanation"}. New reference. */
json_t *bg_compat_plan_to_json(const bg_compat_plan_t *plan);

/* Text for humans: numbered steps, or the explanation. Caller frees. */
char *bg_compat_plan_format(const bg_compat_plan_t *plan);

#endif
