/* Observability around the model (issue 12): the `metrics_listen` endpoint — a second
 * admin listener on its own TCP address that serves GET /metrics and nothing else, so
 * that a Prometheus server can scrape without the admin token and without any admin power
 * (every other path is 404) — and the access log the workers write through (reopened on
 * SIGUSR1 and POST /v1/logs/reopen, which `bluegreen reopen-logs` calls).
 * Thread: control.
 */
#include "server/internal.h"

#include <stdlib.h>

#include "base/base.h"
#include "base/compat.h"

int srv_metrics_new(bg_server_t *s, bg_err_t *err)
{
    bg_admin_options_t ao = {.ops = &srv_admin_ops, .ctx = s, .metrics_only = true};
    char *endpoint;

    s->metrics_stopped = true;
    if (s->cfg->metrics_listen == NULL)
        return 0;
    endpoint = bg_asprintf("http://%s", s->cfg->metrics_listen);
    ao.endpoint = endpoint;
    s->metrics = bg_admin_new(&s->loop, &ao, err);
    free(endpoint);
    return s->metrics != NULL ? 0 : (err != NULL && err->code != 0 ? err->code : BG_EINVAL);
}

int srv_metrics_start(bg_server_t *s, bg_err_t *err)
{
    int rc;

    if (s->metrics == NULL)
        return 0;
    s->metrics_stopped = false;
    if ((rc = bg_admin_start(s->metrics, err)) != 0) {
        s->metrics_stopped = true;
        return rc;
    }
    return 0;
}

static void on_metrics_stopped(void *arg)
{
    bg_server_t *s = arg;
    s->metrics_stopped = true;
}

void srv_metrics_stop(bg_server_t *s)
{
    if (s->metrics == NULL || s->metrics_stopped)
        return;
    s->metrics_stopped = true; /* idempotent from here; the callback confirms it */
    bg_admin_stop(s->metrics, on_metrics_stopped, s);
}

int srv_alog_new(bg_server_t *s, bg_err_t *err)
{
    bg_alog_format_t fmt = BG_ALOG_JSON;

    if (s->cfg->access_log == NULL)
        return 0;
    if (s->cfg->access_log_format != NULL &&
        !bg_alog_format_parse(s->cfg->access_log_format, &fmt))
        return bg_err_set(err, BG_EINVAL, "access_log_format: expected json or combined");
    s->alog = bg_alog_new(s->cfg->access_log, fmt, err);
    return s->alog != NULL ? 0 : (err != NULL && err->code != 0 ? err->code : BG_EINVAL);
}

void srv_reopen_logs(bg_server_t *s, bg_admin_req_t *req)
{
    if (s->alog != NULL)
        bg_alog_reopen(s->alog);
    bg_log(BG_LOG_INFO, "server", "msg=\"reopening logs\" access_log=%s origin=%s",
           s->cfg->access_log ? s->cfg->access_log : "none", req != NULL ? "api" : "SIGUSR1");
    if (req != NULL)
        bg_admin_respond_json(req, 200,
                              json_pack("{s:b,s:b}", "reopened", 1, "access_log", s->alog != NULL));
}

void srv_sig_usr1(uv_signal_t *h, int signum)
{
    (void)signum;
    srv_reopen_logs(h->data, NULL);
}
