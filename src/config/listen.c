/* The listener keys `listen` and `test_listen`: either an address string or a mapping
 * {address, tls, redirect_https} (docs/tls.md). The TLS block is read here as plain data;
 * the files it names are opened and checked by src/tls/ (bg_tls_ctx_new), which reports
 * problems at the positions recorded in bg_config_pos_t.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "config/internal.h"
#include "base/compat.h"

typedef struct listener_out {
    char **addr;
    bg_tls_config_t **tls;
    bg_redirect_config_t *redirect;
} listener_out_t;

static void pos_set(cfg_ctx_t *ctx, const yaml_node_t *node, bg_config_pos_t *pos)
{
    free(pos->key);
    pos->line = (unsigned)node->start_mark.line + 1;
    pos->column = (unsigned)node->start_mark.column + 1;
    pos->key = bg_strdup(ctx->path);
}

static void pos_fini(bg_config_pos_t *pos)
{
    free(pos->key);
    pos->key = NULL;
}

int cfg_listen_addr(cfg_ctx_t *ctx, yaml_node_t *val, char **out)
{
    int rc = cfg_set_str(ctx, val, "an address host:port like 127.0.0.1:8080", out);

    /* port 0 lets the kernel pick one (tests on ephemeral ports) */
    if (rc == 0 && !cfg_addr_ok(*out, true))
        return cfg_fail(ctx, val,
                        "expected an address host:port like 127.0.0.1:8080, got \"%.64s\"", *out);
    return rc;
}

/* ---- tls: {...} ---- */

static int cert_file(cfg_ctx_t *ctx, yaml_node_t *val, char **out, bg_config_pos_t *pos)
{
    int rc = cfg_set_str(ctx, val, "a PEM file path", out);

    if (rc == 0)
        pos_set(ctx, val, pos);
    return rc;
}

static int c_cert(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_tls_cert_config_t *c = obj;
    return cert_file(ctx, val, &c->cert, &c->cert_pos);
}

static int c_key(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_tls_cert_config_t *c = obj;
    return cert_file(ctx, val, &c->key, &c->key_pos);
}

static const cfg_field_t cert_fields[] = {
    {"cert", c_cert, 0},
    {"key", c_key, 0},
};

static int t_certificates(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_tls_config_t *tls = obj;
    char got[96];
    size_t n;

    if (val->type != YAML_SEQUENCE_NODE || val->data.sequence.items.top ==
                                               val->data.sequence.items.start)
        return cfg_fail(ctx, val, "expected a list of {cert: FILE, key: FILE}, got %s",
                        cfg_describe(val, got, sizeof(got)));
    n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
    if (n > 256)
        return cfg_fail(ctx, val, "expected at most 256 certificates, got %zu", n);
    tls->certs = bg_xcalloc(n, sizeof(*tls->certs));
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = cfg_node(ctx, val->data.sequence.items.start[i]);
        bg_tls_cert_config_t *c = &tls->certs[i];
        size_t saved = cfg_path_push_index(ctx, i);
        int rc;

        tls->n_certs = i + 1;
        if (item->type != YAML_MAPPING_NODE)
            return cfg_fail(ctx, item, "expected {cert: FILE, key: FILE}, got %s",
                            cfg_describe(item, got, sizeof(got)));
        rc = cfg_walk(ctx, item, cert_fields, BG_ARRAY_LEN(cert_fields), c, NULL);
        if (rc != 0)
            return rc;
        if (c->cert == NULL || c->key == NULL)
            return cfg_fail(ctx, item, "a certificate needs both cert and key (PEM files)");
        cfg_path_pop(ctx, saved);
    }
    return 0;
}

static int t_default(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_u32(ctx, val, 0, 255, obj);
}

static int t_policy(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    char **policy = obj;
    int rc = cfg_set_str(ctx, val, "a TLS policy name", policy);

    if (rc != 0 || bg_tls_policy_known(*policy))
        return rc;
    return cfg_fail(ctx, val, "unknown TLS policy \"%.64s\"; expected one of %s", *policy,
                    BG_TLS_POLICY_NAMES);
}

static int t_tickets(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_bool(ctx, val, obj);
}

static int t_rotation(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    uint32_t *ms = obj;
    int rc = cfg_duration(ctx, val, ms);

    if (rc == 0 && (*ms < 60000 || *ms > 86400000u))
        return cfg_fail(ctx, val, "expected a ticket key rotation from 1m to 24h");
    return rc;
}

static const cfg_field_t tls_fields[] = {
    {"certificates", t_certificates, 0},
    {"default", t_default, offsetof(bg_tls_config_t, default_cert)},
    {"policy", t_policy, offsetof(bg_tls_config_t, policy)},
    {"tickets", t_tickets, offsetof(bg_tls_config_t, tickets)},
    {"ticket_rotation", t_rotation, offsetof(bg_tls_config_t, ticket_rotation_ms)},
};

static int l_tls(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    listener_out_t *o = obj;
    bg_tls_config_t *tls;
    char got[96];
    int rc;

    if (val->type != YAML_MAPPING_NODE)
        return cfg_fail(ctx, val, "expected a mapping {certificates: [...], policy: ...}, got %s",
                        cfg_describe(val, got, sizeof(got)));
    tls = *o->tls = BG_NEW(bg_tls_config_t);
    tls->tickets = true;
    tls->ticket_rotation_ms = 3600000;
    pos_set(ctx, val, &tls->pos);
    rc = cfg_walk(ctx, val, tls_fields, BG_ARRAY_LEN(tls_fields), tls, NULL);
    if (rc != 0)
        return rc;
    if (tls->n_certs == 0)
        return cfg_fail(ctx, val, "a tls block needs certificates: [{cert: FILE, key: FILE}]");
    if (tls->default_cert >= tls->n_certs) {
        yaml_node_t *d = cfg_find(ctx, val, "default");

        cfg_path_push_key(ctx, "default");
        return cfg_fail(ctx, d, "default is certificate %u but there are %zu (counted from 0)",
                        tls->default_cert, tls->n_certs);
    }
    if (tls->policy == NULL)
        tls->policy = bg_strdup("recommended");
    return 0;
}

static int r_status(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    uint32_t v = 0;
    int rc = cfg_u32(ctx, val, 0, 999, &v);

    if (rc == 0 && v != 301 && v != 308)
        return cfg_fail(ctx, val, "expected 301 or 308, got %u", v);
    *(uint16_t *)obj = (uint16_t)v;
    return rc;
}

static int r_port(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    uint32_t v = 0;
    int rc = cfg_u32(ctx, val, 1, 65535, &v);

    *(uint16_t *)obj = (uint16_t)v;
    return rc;
}

static const cfg_field_t redirect_fields[] = {
    {"status", r_status, offsetof(bg_redirect_config_t, status)},
    {"port", r_port, offsetof(bg_redirect_config_t, port)},
};

static int l_redirect(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    listener_out_t *o = obj;
    bool on = false;

    o->redirect->status = 301;
    o->redirect->port = 443;
    if (val->type == YAML_SCALAR_NODE) {
        int rc = cfg_bool(ctx, val, &on);
        if (rc == 0 && !on)
            o->redirect->status = 0;
        return rc;
    }
    return cfg_walk(ctx, val, redirect_fields, BG_ARRAY_LEN(redirect_fields), o->redirect, NULL);
}

static int l_address(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    listener_out_t *o = obj;
    return cfg_listen_addr(ctx, val, o->addr);
}

static const cfg_field_t listener_fields[] = {
    {"address", l_address, 0},
    {"tls", l_tls, 0},
    {"redirect_https", l_redirect, 0},
};

static int listener(cfg_ctx_t *ctx, yaml_node_t *val, listener_out_t *o)
{
    int rc;

    if (val->type != YAML_MAPPING_NODE)
        return cfg_listen_addr(ctx, val, o->addr);
    rc = cfg_walk(ctx, val, listener_fields, BG_ARRAY_LEN(listener_fields), o, NULL);
    if (rc != 0)
        return rc;
    if (*o->addr == NULL)
        return cfg_fail(ctx, val, "a listener mapping needs address: HOST:PORT");
    if (*o->tls != NULL && o->redirect->status != 0)
        return cfg_fail(ctx, cfg_find(ctx, val, "redirect_https"),
                        "redirect_https is for a plain listener; this one has tls");
    return 0;
}

int cfg_listen_prod(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_config_t *cfg = obj;
    listener_out_t o = {&cfg->listen, &cfg->listen_tls, &cfg->listen_redirect};
    return listener(ctx, val, &o);
}

int cfg_listen_test(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_config_t *cfg = obj;
    listener_out_t o = {&cfg->test_listen, &cfg->test_listen_tls, &cfg->test_listen_redirect};
    return listener(ctx, val, &o);
}

void bg_tls_config_free(bg_tls_config_t *tls)
{
    if (tls == NULL)
        return;
    for (size_t i = 0; i < tls->n_certs; i++) {
        free(tls->certs[i].cert);
        free(tls->certs[i].key);
        pos_fini(&tls->certs[i].cert_pos);
        pos_fini(&tls->certs[i].key_pos);
    }
    free(tls->certs);
    free(tls->policy);
    pos_fini(&tls->pos);
    free(tls);
}

static const char *const policies[] = {BG_TLS_POLICIES};

bool bg_tls_policy_known(const char *name)
{
    for (size_t i = 0; i < BG_ARRAY_LEN(policies); i++)
        if (strcmp(policies[i], name) == 0)
            return true;
    return false;
}
