/* The daemon's TLS listeners (docs/tls.md): one bg_tls_t per listener with a tls block,
 * made before the proxy (which borrows them) and freed after it; the in-place certificate
 * reload (`bluegreen reload-certs`, POST /v1/tls/reload); forced ACME renewals (POST
 * /v1/tls/renew, acme.c); the TLS state for GET /v1/tls
 * and the metrics. A full reload (SIGHUP, `bluegreen reload`) starts a new process that
 * loads the certificates again; srv_tls_check() refuses it first when a file is bad.
 * Thread: control.
 */
#include "server/internal.h"

#include <string.h>

#include "base/base.h"
#include "base/compat.h"

static const char *const names[BG_SRV_TLS] = {"listen", "test_listen"};

const bg_tls_config_t *srv_tls_block(const bg_config_t *cfg, int k)
{
    return k == 0 ? cfg->listen_tls : cfg->test_listen_tls;
}

static const bg_tls_config_t *block(const bg_config_t *cfg, int k)
{
    return srv_tls_block(cfg, k);
}

int srv_tls_new(bg_server_t *s, bg_err_t *err)
{
    for (int k = 0; k < BG_SRV_TLS; k++) {
        bg_tls_options_t o = {.name = names[k]};

        if (s->cfg->proxy.h2_alpn) { /* docs/http2.md: HTTP/2 preferred, HTTP/1.1 kept */
            o.alpn[0] = "h2";
            o.alpn[1] = "http/1.1";
        }

        if (block(s->cfg, k) == NULL || (k == 1 && s->cfg->test_listen == NULL))
            continue;
        if (block(s->cfg, k)->acme != NULL) {
            bg_tls_config_t *eff = NULL;
            int rc = srv_acme_prepare(s, k, names[k], block(s->cfg, k), &eff, err);
            if (rc != 0)
                return rc;
            s->tls[k] = bg_tls_new(eff, s->cfg->path, &o, err);
            bg_tls_config_free(eff);
            /* stored files that do not load (a key without its certificate after a crash
             * between the two renames): start self-signed and order at once */
            if (s->tls[k] == NULL && srv_acme_fallback(s, k, block(s->cfg, k), &eff, err) == 0) {
                s->tls[k] = bg_tls_new(eff, s->cfg->path, &o, err);
                bg_tls_config_free(eff);
            }
        } else {
            s->tls[k] = bg_tls_new(block(s->cfg, k), s->cfg->path, &o, err);
        }
        if (s->tls[k] == NULL)
            return err != NULL && err->code != 0 ? err->code : BG_EINVAL;
    }
    return 0;
}

void srv_tls_free(bg_server_t *s)
{
    for (int k = 0; k < BG_SRV_TLS; k++) {
        bg_tls_free(s->tls[k]);
        s->tls[k] = NULL;
    }
}

json_t *srv_tls_json(bg_server_t *s)
{
    json_t *list = json_array();

    for (int k = 0; k < BG_SRV_TLS; k++) {
        json_t *l, *acme;
        if (s->tls[k] == NULL)
            continue;
        l = bg_tls_to_json(s->tls[k]);
        if ((acme = srv_acme_json(s, k)) != NULL)
            json_object_set_new(l, "acme", acme);
        json_array_append_new(list, l);
    }
    return json_pack("{s:o}", "listeners", list);
}

void srv_tls_metrics(bg_server_t *s, bg_buf_t *out)
{
    bool any = false;

    for (int k = 0; k < BG_SRV_TLS; k++)
        any = any || s->tls[k] != NULL;
    if (!any)
        return;
    bg_buf_puts(out, "# HELP bluegreen_tls_handshakes_total TLS handshakes completed, by "
                     "version and kind (full or resumed).\n"
                     "# TYPE bluegreen_tls_handshakes_total counter\n"
                     "# HELP bluegreen_tls_handshake_failures_total TLS handshakes that failed, "
                     "by reason.\n"
                     "# TYPE bluegreen_tls_handshake_failures_total counter\n"
                     "# HELP bluegreen_tls_certificate_expiry_seconds Seconds until the "
                     "certificate expires (negative: expired).\n"
                     "# TYPE bluegreen_tls_certificate_expiry_seconds gauge\n"
                     "# HELP bluegreen_tls_certificate_reloads_total Successful certificate "
                     "reloads.\n"
                     "# TYPE bluegreen_tls_certificate_reloads_total counter\n");
    for (int k = 0; k < BG_SRV_TLS; k++)
        if (s->tls[k] != NULL)
            bg_tls_metrics(s->tls[k], out);
    srv_acme_metrics(s, out);
}

/* Reads every listener's certificate files again. All or nothing per listener: a bad file
 * keeps that listener's old certificates (bg_tls_reload) and is the answer's error. */
int srv_tls_reload(bg_server_t *s, const char *why, bg_err_t *err)
{
    int rc = 0, n = 0;
    bg_err_t e;

    bg_err_clear(err);
    for (int k = 0; k < BG_SRV_TLS; k++) {
        if (s->tls[k] == NULL)
            continue;
        n++;
        bg_err_clear(&e);
        if (bg_tls_reload(s->tls[k], NULL, NULL, why, &e) != 0 && rc == 0) {
            rc = e.code ? e.code : BG_EINVAL;
            if (err != NULL)
                *err = e;
        }
    }
    if (n == 0)
        return bg_err_set(err, BG_ENOTFOUND, "no listener has tls (see docs/tls.md)");
    return rc;
}

void srv_op_tls(bg_server_t *s, bg_admin_req_t *req, const bg_admin_http_t *http)
{
    char line[BG_ERR_MSG_MAX + 2 * BG_ERR_PATH_MAX + 32];
    bg_err_t e;

    if (strcmp(http->path, "/v1/tls") == 0 && strcmp(http->method, "GET") == 0) {
        bg_admin_respond_json(req, 200, srv_tls_json(s));
        return;
    }
    if (strcmp(http->path, "/v1/tls/reload") == 0 && strcmp(http->method, "POST") == 0) {
        if (srv_tls_reload(s, "reload-certs", &e) != 0) {
            bg_admin_respond_errorf(req, e.code, "certificates not reloaded, the old ones stay: "
                                                 "%s",
                                    bg_err_format(&e, line, sizeof(line)));
            return;
        }
        bg_admin_respond_json(req, 200, srv_tls_json(s));
        return;
    }
    if (strcmp(http->path, "/v1/tls/renew") == 0 && strcmp(http->method, "POST") == 0) {
        srv_acme_renew(s, req); /* answers when the new certificates are in use */
        return;
    }
    bg_admin_respond_errorf(req, BG_EINVAL, "%s is not allowed on %s", http->method, http->path);
}
