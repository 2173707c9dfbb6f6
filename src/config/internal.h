/* Private helpers of the config module (the YAML node reader they build on is
 * config/node.h, shared with compat/).
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
#include "config/node.h"

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
/* "arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REV": the ecs driver's pinned artifact. */
bool cfg_is_task_definition_arn(const char *s);
int cfg_rev_env(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);
int cfg_rev_count(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);
int cfg_rev_port(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);
/* resources: {memory: 256Mi, cpus: 0.5} */
int cfg_rev_resources(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);
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

/* listen.c: `listen` / `test_listen` (obj is the bg_config_t), a bare address */
int cfg_listen_prod(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);
int cfg_listen_test(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);
int cfg_listen_addr(cfg_ctx_t *ctx, yaml_node_t *val, char **out);

/* ecs.c */

/* services.<name>.ecs into <obj> (a bg_ecs_config_t). */
int cfg_ecs(cfg_ctx_t *ctx, yaml_node_t *val, void *obj);
/* ecs: present exactly when the driver is ecs (<svc_node>: the service mapping). */
int cfg_ecs_check(cfg_ctx_t *ctx, yaml_node_t *svc_node, const bg_service_config_t *svc);
void cfg_ecs_fini(bg_ecs_config_t *e);

/* service.c */

/* Reads services.<key> into <svc> (zeroed by the caller) with <driver> as the default. */
int cfg_service(cfg_ctx_t *ctx, const char *key, yaml_node_t *key_node, yaml_node_t *val,
                bg_driver_kind_t driver, bg_service_config_t *svc);
/* Checks <svc> against the services before it (route conflicts). */
int cfg_service_check_routes(cfg_ctx_t *ctx, yaml_node_t *val, const bg_config_t *cfg, size_t idx);
void cfg_service_fini(bg_service_config_t *svc);

#endif
