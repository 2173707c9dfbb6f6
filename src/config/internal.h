/* Private helpers of the config module: walking a libyaml document with positions.
 *
 * Every reader takes the node it reads and reports failures through cfg_fail(), which
 * stamps file:line:column of that node and the current key path (ctx->path, maintained by
 * cfg_walk/cfg_each/cfg_path_push_*) into the bg_err_t. Readers return 0 or BG_EINVAL and
 * never log: the caller of bg_config_load() decides where the message goes.
 * Values (never keys) go through ${VAR} substitution before they are interpreted.
 */
#ifndef BG_CONFIG_INTERNAL_H
#define BG_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "base/file.h"
#include "base/err.h"
#include "config/config.h"

typedef struct cfg_ctx {
    yaml_document_t *doc;
    const char *file; /* name used in errors */
    bg_err_t *err;
    char path[BG_ERR_PATH_MAX]; /* key path of the node being read, "" at the root */
    size_t path_len;
    void *user; /* for handlers that need more than their field */
} cfg_ctx_t;

/* A known key of a mapping: <fn> reads <val> into (char *)obj + <offset>. */
typedef int (*cfg_field_fn)(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);
typedef struct cfg_field {
    const char *key;
    cfg_field_fn fn;
    size_t offset;
} cfg_field_t;

/* A mapping with free-form keys (services, env): called once per entry. */
typedef int (*cfg_entry_fn)(cfg_ctx_t *ctx, const char *key, yaml_node_t *key_node,
                            yaml_node_t *val, void *obj);

/* load.c: text -> document */

/* Parses <text> into <doc> (caller deletes it with yaml_document_delete on success).
 * Exactly one document is allowed, nested at most 64 levels; an empty text gives a
 * document without a root. Every node carries the start mark of its event; an alias
 * resolves to the anchored node (and so reports that node's position). */
int cfg_doc_load(const char *text, size_t len, const char *file, yaml_document_t *doc,
                 bg_err_t *err);

/* node.c: positions, paths */

void cfg_ctx_init(cfg_ctx_t *ctx, yaml_document_t *doc, const char *file, bg_err_t *err);
yaml_node_t *cfg_node(cfg_ctx_t *ctx, int index);
/* Records an error at <node> (NULL: line 1 column 1) with the current key path. */
int cfg_fail(cfg_ctx_t *ctx, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends ".key" / "[i]" to the key path; returns the length to restore with _pop. */
size_t cfg_path_push_key(cfg_ctx_t *ctx, const char *key);
size_t cfg_path_push_index(cfg_ctx_t *ctx, size_t i);
void cfg_path_pop(cfg_ctx_t *ctx, size_t saved);
/* Short description for "got ...": `"fast"`, `a mapping`, `a list`, `nothing`. Static
 * buffer per call site is avoided: writes into <buf>. */
const char *cfg_describe(const yaml_node_t *node, char *buf, size_t size);
bool cfg_is_null(const yaml_node_t *node);

/* node.c: structure */

/* Walks mapping <node>: each key must be one of <fields>, at most once. <seen> (may be
 * NULL) gets bit i set for fields[i] present. A null node counts as an empty mapping. */
int cfg_walk(cfg_ctx_t *ctx, yaml_node_t *node, const cfg_field_t *fields, size_t n_fields,
             void *obj, uint64_t *seen);
/* Walks mapping <node> with free-form (but unique) keys. */
int cfg_each(cfg_ctx_t *ctx, yaml_node_t *node, cfg_entry_fn fn, void *obj);
/* Value node of <key> in mapping <node>; NULL if absent or <node> is not a mapping. */
yaml_node_t *cfg_find(cfg_ctx_t *ctx, yaml_node_t *node, const char *key);
size_t cfg_map_size(const yaml_node_t *node);

/* node.c: typed scalars (all substitute ${VAR}) */

/* Expands ${VAR} from the environment in <in>; "$${" gives a literal "${". */
int cfg_subst(cfg_ctx_t *ctx, const yaml_node_t *node, const char *in, char **out);
/* A scalar value as a new string (caller frees); <what> names the expectation. */
int cfg_str(cfg_ctx_t *ctx, yaml_node_t *node, const char *what, char **out);
/* Replaces *<out> (freed first) with the scalar; rejects empty strings. */
int cfg_set_str(cfg_ctx_t *ctx, yaml_node_t *node, const char *what, char **out);
int cfg_u32(cfg_ctx_t *ctx, yaml_node_t *node, uint32_t min, uint32_t max, uint32_t *out);
int cfg_bool(cfg_ctx_t *ctx, yaml_node_t *node, bool *out);
int cfg_duration(cfg_ctx_t *ctx, yaml_node_t *node, uint32_t *ms);
/* "10%" or "10" (0..100); cfg_percent_u32 also requires a whole number in [min, max]. */
int cfg_percent(cfg_ctx_t *ctx, yaml_node_t *node, double *pct);
int cfg_percent_u32(cfg_ctx_t *ctx, yaml_node_t *node, uint32_t min, uint32_t max, uint32_t *out);
int cfg_size(cfg_ctx_t *ctx, yaml_node_t *node, uint64_t *bytes);
/* A list of non-empty strings (a single string is a list of one when <one_ok>). */
int cfg_str_list(cfg_ctx_t *ctx, yaml_node_t *node, bool one_ok, char ***out, size_t *n);
/* {KEY: VALUE, ...} appended to (*out, *n); a key already present is an error. */
int cfg_kv_map(cfg_ctx_t *ctx, yaml_node_t *node, bg_kv_t **out, size_t *n);

/* syntax.c: syntactic checks and the command splitter (no ctx: reused by the CLI path) */

bool cfg_semver_ok(const char *s);
/* host:port, [v6]:port; the port must be 1..65535 (or 0 when <port_zero_ok>). */
bool cfg_addr_ok(const char *s, bool port_zero_ok);
/* [a-z0-9][a-z0-9-_]*, at most 63 bytes */
bool cfg_service_name_ok(const char *s);
/* Splits <s> by shell-like rules (whitespace, '...', "...", backslash; no expansion).
 * Returns a NULL-terminated argv (caller frees with cfg_strv_free(v, SIZE_MAX)) or NULL
 * with *<why> set. */
char **cfg_split_command(const char *s, const char **why);
/* Frees <v> (<n> entries, or up to the NULL terminator when n == SIZE_MAX). */
void cfg_strv_free(char **v, size_t n);
char **cfg_strv_dup(char *const *v, size_t n);
void cfg_kv_free(bg_kv_t *kv, size_t n);
bg_kv_t *cfg_kv_dup(const bg_kv_t *kv, size_t n);

/* revision.c: keys a service and a revision file share (obj is bg_revision_config_t) */

int cfg_rev_version(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);
int cfg_rev_run(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);
int cfg_rev_image(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);
int cfg_rev_env(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);
int cfg_rev_count(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);
int cfg_rev_port(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);
int cfg_rev_api(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);
int cfg_rev_labels(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);
/* Checks that the artifact fits <driver> (run for process, image for docker/ecs, none for
 * static); <node> is the mapping holding the revision keys, for positions. */
int cfg_rev_check_artifact(cfg_ctx_t *ctx, yaml_node_t *node, const bg_revision_config_t *rev,
                           bg_driver_kind_t driver);

/* strategy.c */

/* `driver:` process | docker | static | ecs -> bg_driver_kind_t at <obj>. */
int cfg_driver(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);
/* Reads `strategy:` into <obj> (a bg_strategy_t, fini'd first). */
int cfg_strategy(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);

/* service.c */

/* Reads services.<key> into <svc> (zeroed by the caller) with <driver> as the default. */
int cfg_service(cfg_ctx_t *ctx, const char *key, yaml_node_t *key_node, yaml_node_t *val,
                bg_driver_kind_t driver, bg_service_config_t *svc);
/* Checks <svc> against the services before it (route conflicts). */
int cfg_service_check_routes(cfg_ctx_t *ctx, yaml_node_t *val, const bg_config_t *cfg, size_t idx);
void cfg_service_fini(bg_service_config_t *svc);

#endif
