/* The `metrics_listen` endpoint (issue 12): a second admin listener on its own TCP address
 * that serves GET /metrics and nothing else, so that a Prometheus server can scrape
 * without the admin token and without any admin power (every other path is 404). It
 * shares the admin module's HTTP handling and the same metrics op as the admin endpoint.
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
