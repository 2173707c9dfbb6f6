/* The config file (docs/design.md §10): top-level keys, proxy limits, the services map, defaults
 * and the cross-key checks (admin endpoint and token, workers alias, route conflicts).
 * bg_config_parse either returns a complete, validated config or NULL with one error that
 * names file:line:column and the key path; it never returns half a config.
 */
#include "config/config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/mem.h"
#include "config/internal.h"
#include "base/compat.h"

#define CFG(f) offsetof(bg_config_t, f)
#define PROXY(f) (offsetof(bg_config_t, proxy) + offsetof(bg_proxy_config_t, f))

/* "HOST:0" asks the kernel for a port: never the same address as another listener. */
static bool port_is_zero(const char *addr)
{
    size_t n = strlen(addr);
    return n >= 2 && strcmp(addr + n - 2, ":0") == 0;
}

/* Top-level nodes kept for checks that run after the whole mapping is read. */

/* tls.acme validates by HTTP-01 (docs/tls.md): the CA fetches the token over plain HTTP, so
 * one listener must be plain (the other, or test_listen when listen has tls). */
static int check_acme_plain(cfg_ctx_t *ctx, yaml_node_t *root, const bg_config_t *cfg)
{
    const char *key = cfg->listen_tls && cfg->listen_tls->acme ? "listen"
                      : cfg->test_listen_tls && cfg->test_listen_tls->acme ? "test_listen"
                                                                            : NULL;
    yaml_node_t *node;
    size_t saved;
    int rc;

    if (key == NULL || cfg->listen_tls == NULL || (cfg->test_listen && !cfg->test_listen_tls))
        return 0;
    saved = cfg_path_push_key(ctx, key);
    cfg_path_push_key(ctx, "tls");
    cfg_path_push_key(ctx, "acme");
    node = cfg_find(ctx, cfg_find(ctx, cfg_find(ctx, root, key), "tls"), "acme");
    rc = cfg_fail(ctx, node, "acme validates over plain HTTP (HTTP-01): %s",
                  cfg->test_listen ? "listen and test_listen both have tls; leave one plain "
                                     "(port 80 in production)"
                                   : "add a plain test_listen (port 80 in production)");
    cfg_path_pop(ctx, saved);
    return rc;
}

/* Two listeners on one address would fail at bind time with a less helpful message. */
static int check_listeners(cfg_ctx_t *ctx, yaml_node_t *root, const bg_config_t *cfg)
{
    const char *admin_addr = strncmp(cfg->admin, "http://", 7) == 0 ? cfg->admin + 7 : NULL;
    const char *key = NULL;
    size_t saved;
    int rc;

    if (cfg->test_listen != NULL && strcmp(cfg->test_listen, cfg->listen) == 0)
        key = "test_listen";
    else if (admin_addr != NULL &&
             (strcmp(admin_addr, cfg->listen) == 0 ||
              (cfg->test_listen && strcmp(admin_addr, cfg->test_listen) == 0)))
        key = "admin";
    else if (cfg->metrics_listen != NULL && !port_is_zero(cfg->metrics_listen) &&
             (strcmp(cfg->metrics_listen, cfg->listen) == 0 ||
              (cfg->test_listen && strcmp(cfg->metrics_listen, cfg->test_listen) == 0) ||
              (admin_addr != NULL && strcmp(cfg->metrics_listen, admin_addr) == 0)))
        key = "metrics_listen";
    if (key == NULL)
        return check_acme_plain(ctx, root, cfg);
    saved = cfg_path_push_key(ctx, key);
    rc = cfg_fail(ctx, cfg_find(ctx, root, key),
                  "%s uses the same address as another listener (listen %s%s%s)", key, cfg->listen,
                  cfg->test_listen ? ", test_listen " : "",
                  cfg->test_listen ? cfg->test_listen : "");
    cfg_path_pop(ctx, saved);
    return rc;
}

typedef struct top_nodes {
    yaml_node_t *services;
    yaml_node_t *workers; /* top-level alias */
    uint32_t workers_value;
} top_nodes_t;

static int top_listen(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_listen_addr(ctx, val, obj);
}

static int top_string(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_set_str(ctx, val, "a non-empty string", obj);
}

static int top_alog_format(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    char **fmt = obj;
    int rc = cfg_set_str(ctx, val, "json or combined", fmt);

    if (rc != 0 || strcmp(*fmt, "json") == 0 || strcmp(*fmt, "combined") == 0)
        return rc;
    return cfg_fail(ctx, val, "expected json or combined, got \"%s\"", *fmt);
}

static int top_admin(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    char **admin = obj;
    int rc = cfg_set_str(ctx, val, "unix:PATH or http://HOST:PORT", admin);
    const char *a = *admin;

    if (rc != 0)
        return rc;
    if (strncmp(a, "unix:", 5) == 0 && a[5] != '\0')
        return 0;
    if (strncmp(a, "http://", 7) == 0 && cfg_addr_ok(a + 7, false))
        return 0;
    return cfg_fail(ctx, val, "expected unix:PATH or http://HOST:PORT, got \"%.64s\"", a);
}

int cfg_driver(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    static const char *const names[] = {"process", "docker", "static", "ecs"};
    char *s = NULL;
    int rc = cfg_str(ctx, val, "a driver", &s);

    if (rc != 0)
        return rc;
    for (size_t i = 0; i < BG_ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *(bg_driver_kind_t *)obj = (bg_driver_kind_t)i;
            free(s);
            return 0;
        }
    }
    rc = cfg_fail(ctx, val, "expected one of process, docker, static, ecs, got \"%.64s\"", s);
    free(s);
    return rc;
}

static int p_workers(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_u32(ctx, val, 1, 1024, obj);
}

static int p_duration(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    uint32_t *ms = obj;
    int rc = cfg_duration(ctx, val, ms);

    if (rc == 0 && *ms == 0)
        return cfg_fail(ctx, val, "expected a duration above 0");
    return rc;
}

static int p_header_size(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    uint64_t v = 0;
    int rc = cfg_size(ctx, val, &v);

    if (rc == 0 && (v < 1024 || v > 1048576))
        return cfg_fail(ctx, val, "expected a header size from 1k to 1MiB");
    *(uint32_t *)obj = (uint32_t)v;
    return rc;
}

static int p_body_size(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_size(ctx, val, obj);
}

static int p_count(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_u32(ctx, val, 0, 100, obj);
}

static int p_pool(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_u32(ctx, val, 0, 100000, obj);
}

static int p_max_conns(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_u32(ctx, val, 1, 10000000, obj);
}

static const cfg_field_t proxy_fields[] = {
    {"workers", p_workers, offsetof(bg_proxy_config_t, workers)},
    {"header_timeout", p_duration, offsetof(bg_proxy_config_t, header_timeout_ms)},
    {"idle_timeout", p_duration, offsetof(bg_proxy_config_t, idle_timeout_ms)},
    {"connect_timeout", p_duration, offsetof(bg_proxy_config_t, connect_timeout_ms)},
    {"response_timeout", p_duration, offsetof(bg_proxy_config_t, response_timeout_ms)},
    {"write_timeout", p_duration, offsetof(bg_proxy_config_t, write_timeout_ms)},
    {"max_header_size", p_header_size, offsetof(bg_proxy_config_t, max_header_bytes)},
    {"max_body_size", p_body_size, offsetof(bg_proxy_config_t, max_body_bytes)},
    {"retries", p_count, offsetof(bg_proxy_config_t, retries)},
    {"pool_idle", p_pool, offsetof(bg_proxy_config_t, pool_idle_per_target)},
    {"pool_idle_timeout", p_duration, offsetof(bg_proxy_config_t, pool_idle_timeout_ms)},
    {"max_connections", p_max_conns, offsetof(bg_proxy_config_t, max_connections)},
};

static int top_proxy(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_walk(ctx, val, proxy_fields, BG_ARRAY_LEN(proxy_fields), obj, NULL);
}

static int h2_bool(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_bool(ctx, val, obj);
}

static int h2_streams(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_u32(ctx, val, 1, 10000, obj);
}

/* http2: {h2c, alpn, max_concurrent_streams}; stored with the proxy's limits (workers read them). */
static const cfg_field_t http2_fields[] = {
    {"h2c", h2_bool, offsetof(bg_proxy_config_t, h2c)},
    {"alpn", h2_bool, offsetof(bg_proxy_config_t, h2_alpn)},
    {"max_concurrent_streams", h2_streams, offsetof(bg_proxy_config_t, h2_max_streams)},
};

static int top_http2(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_walk(ctx, val, http2_fields, BG_ARRAY_LEN(http2_fields), obj, NULL);
}

/* The two handlers below only note their node (in ctx->user): they are applied once the
 * whole top level is known (the default driver, proxy.workers). */
static int top_workers(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    top_nodes_t *t = ctx->user;

    t->workers = val;
    return cfg_u32(ctx, val, 1, 1024, &t->workers_value);
}

static int top_services(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    top_nodes_t *t = ctx->user;
    char got[96];

    if (!cfg_is_null(val) && val->type != YAML_MAPPING_NODE)
        return cfg_fail(ctx, val, "expected a mapping of service names, got %s",
                        cfg_describe(val, got, sizeof(got)));
    t->services = val;
    return 0;
}

static const cfg_field_t top_fields[] = {
    {"listen", cfg_listen_prod, 0},
    {"test_listen", cfg_listen_test, 0},
    {"metrics_listen", top_listen, CFG(metrics_listen)},
    {"access_log", top_string, CFG(access_log)},
    {"access_log_format", top_alog_format, CFG(access_log_format)},
    {"admin", top_admin, CFG(admin)},
    {"admin_token", top_string, CFG(admin_token)},
    {"state_dir", top_string, CFG(state_dir)},
    {"driver", cfg_driver, CFG(driver)},
    {"workers", top_workers, 0},
    {"proxy", top_proxy, CFG(proxy)},
    {"http2", top_http2, CFG(proxy)},
    {"services", top_services, 0},
    {"matrix", top_string, CFG(matrix)},
};

static void config_defaults(bg_config_t *cfg)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    bg_proxy_config_t *p = &cfg->proxy;

    cfg->driver = BG_DRIVER_PROCESS;
    p->workers = cpus < 1 ? 1 : cpus > 1024 ? 1024 : (uint32_t)cpus;
    p->header_timeout_ms = 10000;
    p->idle_timeout_ms = 60000;
    p->connect_timeout_ms = 3000;
    p->response_timeout_ms = 60000;
    p->max_header_bytes = 16 * 1024;
    p->max_body_bytes = 100ull * 1024 * 1024;
    p->retries = 2;
    p->pool_idle_per_target = 256;
    p->pool_idle_timeout_ms = 30000;
    p->max_connections = 100000;
    p->write_timeout_ms = 60000;
    p->h2_max_streams = 100;
}

static int fill_admin(cfg_ctx_t *ctx, yaml_node_t *root, bg_config_t *cfg)
{
    yaml_node_t *admin = cfg_find(ctx, root, "admin");
    struct sockaddr_un sun;
    size_t saved;
    int rc = 0;

    if (cfg->admin == NULL)
        cfg->admin = bg_asprintf("unix:%s/bluegreen.sock", cfg->state_dir);
    saved = cfg_path_push_key(ctx, admin != NULL ? "admin" : "state_dir");
    if (admin == NULL)
        admin = cfg_find(ctx, root, "state_dir");
    if (strncmp(cfg->admin, "unix:", 5) == 0 && strlen(cfg->admin + 5) >= sizeof(sun.sun_path))
        rc = cfg_fail(ctx, admin, "unix socket path %s is too long (at most %zu bytes)",
                      cfg->admin + 5, sizeof(sun.sun_path) - 1);
    cfg_path_pop(ctx, saved);
    if (rc != 0)
        return rc;
    if (strncmp(cfg->admin, "http://", 7) == 0 && cfg->admin_token == NULL) {
        saved = cfg_path_push_key(ctx, "admin");
        rc = cfg_fail(ctx, admin,
                      "an http admin listener needs admin_token (e.g. "
                      "admin_token: ${BLUEGREEN_TOKEN})");
        cfg_path_pop(ctx, saved);
    }
    return rc;
}

static int fill_workers(cfg_ctx_t *ctx, yaml_node_t *root, bg_config_t *cfg, const top_nodes_t *t)
{
    yaml_node_t *proxy = cfg_find(ctx, root, "proxy");
    size_t saved;
    int rc;

    if (t->workers == NULL)
        return 0;
    if (cfg_find(ctx, proxy, "workers") != NULL) {
        saved = cfg_path_push_key(ctx, "workers");
        rc = cfg_fail(ctx, t->workers,
                      "workers is set twice (here and in "
                      "proxy.workers); keep one");
        cfg_path_pop(ctx, saved);
        return rc;
    }
    cfg->proxy.workers = t->workers_value;
    return 0;
}

static int service_entry(cfg_ctx_t *ctx, const char *key, yaml_node_t *key_node, yaml_node_t *val,
                         void *obj)
{
    bg_config_t *cfg = obj;
    size_t idx = cfg->n_services++;
    int rc;

    rc = cfg_service(ctx, key, key_node, val, cfg->driver, &cfg->services[idx]);
    if (rc != 0)
        return rc;
    return cfg_service_check_routes(ctx, val, cfg, idx);
}

static int parse_root(cfg_ctx_t *ctx, yaml_node_t *root, bg_config_t *cfg)
{
    top_nodes_t t = {0};
    size_t saved;
    int rc;

    ctx->user = &t;
    rc = cfg_walk(ctx, root, top_fields, BG_ARRAY_LEN(top_fields), cfg, NULL);
    ctx->user = NULL;
    if (rc != 0)
        return rc;
    if (cfg->listen == NULL)
        cfg->listen = bg_strdup("127.0.0.1:8080");
    if (cfg->state_dir == NULL)
        cfg->state_dir = bg_strdup("./state");
    rc = fill_workers(ctx, root, cfg, &t);
    if (rc == 0)
        rc = fill_admin(ctx, root, cfg);
    if (rc == 0)
        rc = check_listeners(ctx, root, cfg);
    if (rc != 0 || t.services == NULL)
        return rc;
    cfg->services = bg_xcalloc(cfg_map_size(t.services) + 1, sizeof(bg_service_config_t));
    saved = cfg_path_push_key(ctx, "services");
    rc = cfg_each(ctx, t.services, service_entry, cfg);
    if (rc == 0)
        cfg_path_pop(ctx, saved);
    return rc;
}

bg_config_t *bg_config_parse(const char *text, size_t len, const char *name, bg_err_t *err)
{
    yaml_document_t doc;
    bg_config_t *cfg = NULL;
    yaml_node_t *root;
    cfg_ctx_t ctx;
    char got[96];
    int rc;

    bg_err_clear(err);
    if (cfg_doc_load(text, len, name, &doc, err) != 0)
        return NULL;
    cfg_ctx_init(&ctx, &doc, name, err);
    cfg = BG_NEW(bg_config_t);
    cfg->path = bg_strdup(name);
    config_defaults(cfg);
    root = yaml_document_get_root_node(&doc);
    if (root == NULL || cfg_is_null(root)) {
        /* an empty file is a mistake (a wrong path, a truncated write), not "all defaults
         * and no service" */
        rc = cfg_fail(&ctx, root,
                      "the config is empty: expected a mapping of settings with "
                      "services (see docs/design.md §10)");
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        rc = cfg_fail(&ctx, root,
                      "expected a mapping of settings (listen, services, ...), "
                      "got %s",
                      cfg_describe(root, got, sizeof(got)));
        goto out;
    }
    rc = parse_root(&ctx, root, cfg);
out:
    yaml_document_delete(&doc);
    if (rc != 0) {
        bg_config_free(cfg);
        cfg = NULL;
    }
    return cfg;
}

bg_config_t *bg_config_load(const char *path, bg_err_t *err)
{
    bg_config_t *cfg;
    char *text = NULL;
    size_t len = 0;

    bg_err_clear(err);
    if (bg_file_read(path, &text, &len, err) != 0)
        return NULL;
    cfg = bg_config_parse(text, len, path, err);
    free(text);
    return cfg;
}

void bg_config_free(bg_config_t *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->path);
    free(cfg->listen);
    free(cfg->test_listen);
    bg_tls_config_free(cfg->listen_tls);
    bg_tls_config_free(cfg->test_listen_tls);
    free(cfg->metrics_listen);
    free(cfg->access_log);
    free(cfg->access_log_format);
    free(cfg->admin);
    free(cfg->admin_token);
    free(cfg->state_dir);
    free(cfg->matrix);
    for (size_t i = 0; i < cfg->n_services; i++)
        cfg_service_fini(&cfg->services[i]);
    free(cfg->services);
    free(cfg);
}

const bg_service_config_t *bg_config_service(const bg_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_services; i++)
        if (strcmp(cfg->services[i].name, name) == 0)
            return &cfg->services[i];
    return NULL;
}
