/* The program's one YAML reader (issue 9 item 7): text -> a libyaml document built from
 * parser events with a nesting-depth guard enforced while parsing, every node stamped with
 * its position; then walking it with key paths, strict mappings and typed scalars, every
 * error as file:line:column + key path + what was expected (docs/design.md §10).
 *
 * The config file, revision files (config/), and the matrix rules and release files
 * (compat/) are all read through it; nothing else in the program calls libyaml's loader.
 * libyaml marks are 0-based; errors print 1-based. Nothing here logs.
 * Thread: any (all state is in the cfg_ctx_t the caller owns).
 */
#ifndef BG_CONFIG_NODE_H
#define BG_CONFIG_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "base/err.h"
#include "config/config.h"

/* Deepest nesting of collections a document may have (our schemas need 6). */
#define CFG_MAX_DEPTH 64

typedef struct cfg_ctx {
    yaml_document_t *doc;
    const char *file; /* name used in errors */
    bg_err_t *err;
    char path[BG_ERR_PATH_MAX]; /* key path of the node being read, "" at the root */
    size_t path_len;
    void *user;    /* for handlers that need more than their field */
    bool owns_doc; /* cfg_doc_open() allocated <doc> */
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
/* cfg_doc_load() into a document that <ctx> owns (cfg_ctx_init() done here): for readers
 * outside this module. Returns 0 or BG_EINVAL with <err> set; either way cfg_doc_close()
 * is safe afterwards. */
int cfg_doc_open(cfg_ctx_t *ctx, const char *text, size_t len, const char *file, bg_err_t *err);
/* Frees the document of cfg_doc_open(); a zeroed <ctx> is fine. */
void cfg_doc_close(cfg_ctx_t *ctx);
/* The root node of <ctx>'s document, NULL for an empty text. */
yaml_node_t *cfg_root(cfg_ctx_t *ctx);

/* node.c: positions, paths */

void cfg_ctx_init(cfg_ctx_t *ctx, yaml_document_t *doc, const char *file, bg_err_t *err);
yaml_node_t *cfg_node(cfg_ctx_t *ctx, int index);
/* Records an error at <node> (NULL: line 1 column 1) with the current key path. */
int cfg_fail(cfg_ctx_t *ctx, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same <extra_cols> columns right of <node>'s start (a character inside a scalar). */
int cfg_fail_col(cfg_ctx_t *ctx, const yaml_node_t *node, unsigned extra_cols, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
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

#endif
