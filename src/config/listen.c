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

/* ---- tls.acme: {...} ---- */

static int a_directory(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_acme_config_t *a = obj;
    int rc = cfg_set_str(ctx, val, "the ACME directory URL", &a->directory);

    if (rc == 0 && strncmp(a->directory, "https://", 8) != 0 &&
        strncmp(a->directory, "http://", 7) != 0)
        return cfg_fail(ctx, val, "expected an http:// or https:// URL of an ACME directory, "
                                  "got \"%.64s\"", a->directory);
    return rc;
}

static int a_email(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_acme_config_t *a = obj;
    int rc = cfg_set_str(ctx, val, "an e-mail address", &a->email);

    if (rc == 0 && (strchr(a->email, '@') == NULL || strpbrk(a->email, " \t<>,") != NULL))
        return cfg_fail(ctx, val, "expected an e-mail address like ops@example.com, got "
                                  "\"%.64s\"", a->email);
    return rc;
}

/* A DNS name HTTP-01 can validate: letters, digits, '-' and dots, labels of 1..63, no
 * wildcard (RFC 8555 §8.3: a wildcard needs DNS-01). */
static bool host_ok(const char *h)
{
    size_t label = 0, len = strlen(h);

    if (len == 0 || len > 253 || h[0] == '.' || h[len - 1] == '.')
        return false;
    for (const char *p = h; *p; p++) {
        if (*p == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-') || ++label > 63)
            return false;
    }
    return true;
}

static int a_hosts(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_acme_config_t *a = obj;
    int rc;

    cfg_strv_free(a->hosts, a->n_hosts);
    a->hosts = NULL;
    a->n_hosts = 0;
    rc = cfg_str_list(ctx, val, true, &a->hosts, &a->n_hosts);
    if (rc != 0)
        return rc;
    if (a->n_hosts == 0 || a->n_hosts > 100)
        return cfg_fail(ctx, val, "expected 1 to 100 host names");
    for (size_t i = 0; i < a->n_hosts; i++) {
        if (host_ok(a->hosts[i]))
            continue;
        if (val->type == YAML_SEQUENCE_NODE) {
            val = cfg_node(ctx, val->data.sequence.items.start[i]);
            cfg_path_push_index(ctx, i);
        }
        return cfg_fail(ctx, val, "\"%.64s\" is not a DNS name HTTP-01 can validate (letters, "
                                  "digits, '-', dots; no wildcard)", a->hosts[i]);
    }
    return 0;
}

static int a_ca_file(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_acme_config_t *a = obj;
    int rc = cfg_set_str(ctx, val, "a PEM file path", &a->ca_file);

    if (rc == 0)
        pos_set(ctx, val, &a->ca_file_pos);
    return rc;
}

static int a_renew_at(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_acme_config_t *a = obj;
    char *s = NULL, *end = NULL;
    double v;
    int rc = cfg_str(ctx, val, "a fraction like 0.66", &s);

    if (rc != 0)
        return rc;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= 0.05 && v <= 0.95)) {
        rc = cfg_fail(ctx, val, "expected a fraction of the certificate's lifetime from 0.05 to "
                                "0.95, got \"%.32s\"", s);
        free(s);
        return rc;
    }
    free(s);
    a->renew_at = v;
    return 0;
}

static const cfg_field_t acme_fields[] = {
    {"directory", a_directory, 0},
    {"email", a_email, 0},
    {"hosts", a_hosts, 0},
    {"ca_file", a_ca_file, 0},
    {"renew_at", a_renew_at, 0},
};

static int t_acme(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_tls_config_t *tls = obj;
    bg_acme_config_t *a;
    char got[96];
    int rc;

    if (val->type != YAML_MAPPING_NODE)
        return cfg_fail(ctx, val, "expected a mapping {directory: URL, hosts: [NAME]}, got %s",
                        cfg_describe(val, got, sizeof(got)));
    bg_acme_config_free(tls->acme);
    a = tls->acme = BG_NEW(bg_acme_config_t);
    a->renew_at = 2.0 / 3.0;
    pos_set(ctx, val, &a->pos);
    rc = cfg_walk(ctx, val, acme_fields, BG_ARRAY_LEN(acme_fields), a, NULL);
    if (rc != 0)
        return rc;
    if (a->directory == NULL)
        return cfg_fail(ctx, val, "acme needs directory: URL (e.g. Let's Encrypt's "
                                  "https://acme-v02.api.letsencrypt.org/directory)");
    if (a->n_hosts == 0)
        return cfg_fail(ctx, val, "acme needs hosts: [NAME, ...]");
    return 0;
}

static const cfg_field_t tls_fields[] = {
    {"acme", t_acme, 0},
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
    if (tls->n_certs == 0 && tls->acme == NULL)
        return cfg_fail(ctx, val, "a tls block needs certificates: [{cert: FILE, key: FILE}] "
                                  "or acme: {directory: URL, hosts: [NAME]}");
    if (tls->default_cert >= tls->n_certs && tls->n_certs > 0) {
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
        free(tls->certs[i].cert_pem);
        free(tls->certs[i].key_pem);
    }
    free(tls->certs);
    free(tls->policy);
    pos_fini(&tls->pos);
    bg_acme_config_free(tls->acme);
    free(tls);
}

void bg_acme_config_free(bg_acme_config_t *acme)
{
    if (acme == NULL)
        return;
    free(acme->directory);
    free(acme->email);
    cfg_strv_free(acme->hosts, acme->n_hosts);
    free(acme->ca_file);
    pos_fini(&acme->ca_file_pos);
    pos_fini(&acme->pos);
    free(acme);
}

bg_acme_config_t *bg_acme_config_dup(const bg_acme_config_t *in)
{
    bg_acme_config_t *a;

    if (in == NULL)
        return NULL;
    a = BG_NEW(bg_acme_config_t);
    a->directory = bg_strdup(in->directory);
    a->email = in->email ? bg_strdup(in->email) : NULL;
    a->ca_file = in->ca_file ? bg_strdup(in->ca_file) : NULL;
    a->hosts = bg_xcalloc(in->n_hosts + 1, sizeof(char *));
    for (size_t i = 0; i < in->n_hosts; i++)
        a->hosts[i] = bg_strdup(in->hosts[i]);
    a->n_hosts = in->n_hosts;
    a->renew_at = in->renew_at;
    a->pos.line = in->pos.line;
    a->pos.column = in->pos.column;
    a->pos.key = in->pos.key ? bg_strdup(in->pos.key) : NULL;
    a->ca_file_pos.line = in->ca_file_pos.line;
    a->ca_file_pos.column = in->ca_file_pos.column;
    a->ca_file_pos.key = in->ca_file_pos.key ? bg_strdup(in->ca_file_pos.key) : NULL;
    return a;
}

static const char *const policies[] = {BG_TLS_POLICIES};

bool bg_tls_policy_known(const char *name)
{
    for (size_t i = 0; i < BG_ARRAY_LEN(policies); i++)
        if (strcmp(policies[i], name) == 0)
            return true;
    return false;
}
