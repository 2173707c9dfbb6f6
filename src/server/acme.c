/* Automatic certificates for the TLS listeners (docs/tls.md "Automatic certificates
 * (ACME)"; docs/internals/acme.md): one srv_acme_t per listener with an acme block.
 *
 * At construction (srv_acme_prepare, before the listener's bg_tls_t exists) the stored
 * certificate state_dir/acme/<listener>.crt (+ .key) is used when it loads, else a
 * temporary self-signed certificate made in memory. Once the server started
 * (srv_acme_start) a timer runs an order at once (no stored certificate for the hosts) or
 * at renew_at of the stored one's lifetime. An order runs bg_acme_obtain() on a thread of
 * its own (blocking libcurl); the proxy keeps serving and its plain listeners answer the
 * HTTP-01 challenges from s->challenges. The thread's end wakes the control loop
 * (uv_async), which joins it, loads the new files with bg_tls_reload(..., "acme", ...)
 * (new connections get them, none is dropped), records the event and the metrics, answers
 * the waiting `bluegreen tls renew` requests and schedules the next run: the renewal time
 * of the new certificate, or after a failure a backoff of 1 min doubling to 1 h.
 * Thread: control (the order thread only touches its params, result and error).
 */
#include "server/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "acme/acme.h"
#include "base/base.h"
#include "base/compat.h"

#define ACME_BACKOFF_MIN_MS 60000u
#define ACME_BACKOFF_MAX_MS 3600000u
#define ACME_TIMER_MAX_MS 3600000u /* re-checks the wall clock at least hourly */

typedef struct acme_waiter {
    bg_list_t link;
    bg_admin_req_t *req;
    unsigned pending;     /* listeners whose order it still waits for (bit k) */
    char error[BG_ERR_MSG_MAX];
} acme_waiter_t;

struct srv_acme {
    bg_server_t *s;
    int k;                 /* listener index */
    const char *name;      /* "listen" / "test_listen" */
    const bg_acme_config_t *cfg; /* borrowed from s->cfg */
    char *cert_path, *key_path, *account_path;
    uv_timer_t timer;
    uv_async_t done;
    bool handles;          /* timer and async initialised */
    /* the order thread */
    pthread_t thread;
    bool running;
    atomic_bool cancel;
    bg_acme_params_t params;
    bg_acme_result_t res;
    bg_err_t err;
    int rc;
    char why[24];          /* first, renewal, retry, forced */
    uint64_t started_ms;
    /* state for GET /v1/tls */
    const char *source;    /* "acme" (stored or issued) or "self-signed" */
    char serial[80];
    char account_url[512];
    uint64_t last_at_ms;   /* wall; 0 = never */
    bool last_ok;
    char last_error[BG_ERR_MSG_MAX];
    char last_why[24];
    uint64_t next_ms;      /* wall; 0 = none scheduled */
    uint32_t backoff_ms;   /* the next failure's wait */
    uint64_t ok_count, error_count;
    uint64_t bad_nonces;   /* badNonce answers retried, all orders */
};

static void on_done(uv_async_t *h);
static void schedule(srv_acme_t *a);
static void answer_waiters(bg_server_t *s, int k, const char *error);

/* ---- files and the first certificate ---- */

static int mkdir_one(const char *dir, bg_err_t *err)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return bg_err_set(err, -errno, "acme: mkdir %s: %s", dir, strerror(errno));
    return 0;
}

static srv_acme_t *acme_new(bg_server_t *s, int k, const char *name, const bg_acme_config_t *cfg)
{
    srv_acme_t *a = BG_NEW(srv_acme_t);

    a->s = s;
    a->k = k;
    a->name = name;
    a->cfg = cfg;
    a->cert_path = bg_asprintf("%s/acme/%s.crt", s->cfg->state_dir, name);
    a->key_path = bg_asprintf("%s/acme/%s.key", s->cfg->state_dir, name);
    a->account_path = bg_asprintf("%s/acme/account.key", s->cfg->state_dir);
    a->backoff_ms = ACME_BACKOFF_MIN_MS;
    atomic_init(&a->cancel, false);
    uv_timer_init(&s->loop, &a->timer);
    uv_async_init(&s->loop, &a->done, on_done);
    a->timer.data = a->done.data = a;
    a->handles = true;
    return a;
}

/* When to renew the certificate <info>: renew_at of its lifetime after notBefore. */
static uint64_t renew_time_ms(const srv_acme_t *a, const bg_acme_cert_info_t *info)
{
    double life = difftime(info->not_after, info->not_before);
    double at = (double)info->not_before + a->cfg->renew_at * (life > 0 ? life : 0);

    return at > 0 ? (uint64_t)(at * 1000.0) : 0;
}

/* *<eff>: <block> plus a temporary self-signed certificate for the hosts, in memory; an
 * order at once. */
static int self_signed(srv_acme_t *a, const bg_tls_config_t *block, bg_tls_config_t **eff,
                       bg_err_t *err)
{
    char *cpem = NULL, *kpem = NULL;

    if (bg_acme_self_signed((const char *const *)a->cfg->hosts, a->cfg->n_hosts, &cpem, &kpem) !=
        0)
        return bg_err_set(err, BG_EIO, "acme: cannot make the temporary self-signed certificate");
    *eff = bg_tls_config_with(block, "(temporary self-signed, in memory)",
                              "(temporary self-signed, in memory)", cpem, kpem);
    OPENSSL_cleanse(kpem, strlen(kpem));
    free(cpem);
    free(kpem);
    a->source = "self-signed";
    a->next_ms = 1; /* at once */
    bg_log(BG_LOG_INFO, "acme", "msg=\"no usable stored certificate; serving a temporary "
           "self-signed one until the first is issued\" listener=%s", a->name);
    return 0;
}

int srv_acme_prepare(bg_server_t *s, int k, const char *name, const bg_tls_config_t *block,
                     bg_tls_config_t **eff, bg_err_t *err)
{
    const bg_acme_config_t *cfg = block->acme;
    srv_acme_t *a;
    bg_acme_cert_info_t info;
    bg_err_t e;
    char *dir;
    int rc;

    dir = bg_asprintf("%s/acme", s->cfg->state_dir);
    rc = mkdir_one(s->cfg->state_dir, err);
    if (rc == 0)
        rc = mkdir_one(dir, err);
    free(dir);
    if (rc != 0)
        return rc;
    if (s->challenges == NULL)
        s->challenges = bg_tls_challenges_new();
    a = s->acme[k] = acme_new(s, k, name, cfg);
    bg_err_clear(&e);
    /* A stored certificate (of earlier runs) for these hosts is served until renewed. */
    if (bg_acme_cert_info(a->cert_path, NULL, (const char *const *)cfg->hosts, cfg->n_hosts,
                          &info, &e) == 0 &&
        access(a->key_path, R_OK) == 0) {
        *eff = bg_tls_config_with(block, a->cert_path, a->key_path, NULL, NULL);
        a->source = "acme";
        snprintf(a->serial, sizeof(a->serial), "%s", info.serial);
        a->next_ms = info.covers ? renew_time_ms(a, &info) : 1; /* other hosts: order now */
        bg_log(BG_LOG_INFO, "acme", "msg=\"using the stored certificate\" listener=%s cert=%s "
               "serial=%s covers_hosts=%s", name, a->cert_path, info.serial,
               info.covers ? "yes" : "no");
        return 0;
    }
    return self_signed(a, block, eff, err);
}

int srv_acme_fallback(bg_server_t *s, int k, const bg_tls_config_t *block, bg_tls_config_t **eff,
                      bg_err_t *err)
{
    srv_acme_t *a = s->acme[k];
    char line[BG_ERR_MSG_MAX + 2 * BG_ERR_PATH_MAX + 32];

    if (a == NULL || a->source == NULL || strcmp(a->source, "acme") != 0)
        return BG_EINVAL;
    bg_log(BG_LOG_WARN, "acme", "msg=\"the stored certificate does not load; ordering a new "
           "one\" listener=%s error=\"%s\"", a->name, bg_err_format(err, line, sizeof(line)));
    a->serial[0] = '\0';
    bg_err_clear(err);
    return self_signed(a, block, eff, err);
}

/* ---- the order thread ---- */

static void hook_set(void *arg, const char *token, const char *keyauth)
{
    bg_tls_challenges_set(arg, token, keyauth);
}

static void hook_remove(void *arg, const char *token)
{
    bg_tls_challenges_remove(arg, token);
}

static void *order_main(void *arg)
{
    srv_acme_t *a = arg;

    bg_err_clear(&a->err);
    a->rc = bg_acme_obtain(&a->params, &a->res, &a->err);
    uv_async_send(&a->done);
    return NULL;
}

static void event(srv_acme_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void event(srv_acme_t *a, const char *fmt, ...)
{
    char msg[480];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (a->s->deployer != NULL)
        bg_deployer_event(a->s->deployer, "acme", "%s: %s", a->name, msg);
    else
        bg_log(BG_LOG_INFO, "acme", "listener=%s msg=\"%s\"", a->name, msg);
}

static void start_order(srv_acme_t *a, const char *why)
{
    if (a->running || a->s->shutting_down)
        return;
    uv_timer_stop(&a->timer);
    a->params = (bg_acme_params_t){
        .directory = a->cfg->directory,
        .email = a->cfg->email,
        .hosts = (const char *const *)a->cfg->hosts,
        .n_hosts = a->cfg->n_hosts,
        .ca_file = a->cfg->ca_file,
        .account_key = a->account_path,
        .cert_out = a->cert_path,
        .key_out = a->key_path,
        .hooks = {hook_set, hook_remove, a->s->challenges},
        .cancel = &a->cancel,
    };
    snprintf(a->why, sizeof(a->why), "%s", why);
    a->started_ms = bg_wall_ms();
    if (pthread_create(&a->thread, NULL, order_main, a) != 0) {
        bg_log(BG_LOG_ERROR, "acme", "msg=\"cannot start the order thread\" listener=%s", a->name);
        a->next_ms = bg_wall_ms() + a->backoff_ms;
        schedule(a);
        answer_waiters(a->s, a->k, "cannot start the order thread");
        return;
    }
    a->running = true;
    a->next_ms = 0;
    event(a, "order started (%s) for %s%s at %s", why, a->cfg->hosts[0],
          a->cfg->n_hosts > 1 ? " and more" : "", a->cfg->directory);
}

static void on_timer(uv_timer_t *t)
{
    srv_acme_t *a = t->data;

    if (a->next_ms != 0 && bg_wall_ms() + 999 < a->next_ms) {
        schedule(a); /* a long wait is re-checked against the wall clock */
        return;
    }
    start_order(a, strcmp(a->source, "self-signed") == 0 ? "first certificate"
                   : a->last_at_ms != 0 && !a->last_ok  ? "retry"
                                                        : "renewal");
}

static void schedule(srv_acme_t *a)
{
    uint64_t now = bg_wall_ms(), wait;

    if (a->s->shutting_down || a->running || a->next_ms == 0)
        return;
    wait = a->next_ms > now ? a->next_ms - now : 0;
    uv_timer_start(&a->timer, on_timer, wait > ACME_TIMER_MAX_MS ? ACME_TIMER_MAX_MS : wait, 0);
}

/* Answers the `tls renew` requests that waited for listener <k>. */
static void answer_waiters(bg_server_t *s, int k, const char *error)
{
    bg_list_t *it, *next;

    for (it = s->acme_waiters.next; it != &s->acme_waiters; it = next) {
        acme_waiter_t *w = BG_CONTAINER_OF(it, acme_waiter_t, link);
        next = it->next;
        if (!(w->pending & (1u << k)))
            continue;
        w->pending &= ~(1u << k);
        if (error != NULL && w->error[0] == '\0')
            snprintf(w->error, sizeof(w->error), "%s: %s", k == 0 ? "listen" : "test_listen",
                     error);
        if (w->pending != 0)
            continue;
        bg_list_remove(&w->link);
        if (w->error[0] != '\0')
            bg_admin_respond_errorf(w->req, BG_EUNAVAIL, "certificate not renewed, the old one "
                                                         "stays: %s", w->error);
        else
            bg_admin_respond_json(w->req, 200, srv_tls_json(s));
        free(w);
    }
}

static void on_done(uv_async_t *h)
{
    srv_acme_t *a = h->data;
    char line[BG_ERR_MSG_MAX + 2 * BG_ERR_PATH_MAX + 32];
    bg_tls_config_t *eff;
    bg_err_t e;
    int rc;

    if (!a->running)
        return;
    pthread_join(a->thread, NULL);
    a->running = false;
    a->bad_nonces += a->res.bad_nonce_retries;
    if (a->res.account_url[0] != '\0')
        snprintf(a->account_url, sizeof(a->account_url), "%s", a->res.account_url);
    snprintf(a->last_why, sizeof(a->last_why), "%s", a->why);
    a->last_at_ms = bg_wall_ms();
    rc = a->rc;
    if (rc == 0) {
        bg_err_clear(&e);
        eff = bg_tls_config_with(srv_tls_block(a->s->cfg, a->k), a->cert_path, a->key_path, NULL, NULL);
        rc = bg_tls_reload(a->s->tls[a->k], eff, NULL, "acme", &e);
        bg_tls_config_free(eff);
        if (rc != 0)
            a->err = e;
    }
    if (a->s->shutting_down && rc == BG_ECONFLICT) /* cancelled: nothing to record */
        return;
    if (rc == 0) {
        a->last_ok = true;
        a->last_error[0] = '\0';
        a->ok_count++;
        a->source = "acme";
        snprintf(a->serial, sizeof(a->serial), "%s", a->res.cert.serial);
        a->backoff_ms = ACME_BACKOFF_MIN_MS;
        a->next_ms = renew_time_ms(a, &a->res.cert);
        event(a, "certificate issued serial=%s issuer=\"%s\" not_after=%lld in %llums "
                 "(badNonce retries %u); in use for new connections",
              a->res.cert.serial, a->res.cert.issuer, (long long)a->res.cert.not_after,
              (unsigned long long)(a->last_at_ms - a->started_ms), a->res.bad_nonce_retries);
        answer_waiters(a->s, a->k, NULL);
    } else {
        a->last_ok = false;
        snprintf(a->last_error, sizeof(a->last_error), "%s",
                 bg_err_format(&a->err, line, sizeof(line)));
        a->error_count++;
        a->next_ms = bg_wall_ms() + a->backoff_ms;
        event(a, "order failed, the current certificate stays; retry in %us: %s",
              a->backoff_ms / 1000, a->last_error);
        a->backoff_ms = a->backoff_ms * 2 > ACME_BACKOFF_MAX_MS ? ACME_BACKOFF_MAX_MS
                                                                : a->backoff_ms * 2;
        answer_waiters(a->s, a->k, a->last_error);
    }
    schedule(a);
}

/* ---- server hooks ---- */

void srv_acme_start(bg_server_t *s)
{
    for (int k = 0; k < BG_SRV_TLS; k++)
        if (s->acme[k] != NULL)
            schedule(s->acme[k]);
}

void srv_acme_renew(bg_server_t *s, bg_admin_req_t *req)
{
    acme_waiter_t *w = BG_NEW(acme_waiter_t);

    for (int k = 0; k < BG_SRV_TLS; k++)
        if (s->acme[k] != NULL)
            w->pending |= 1u << k;
    if (w->pending == 0) {
        free(w);
        bg_admin_respond_errorf(req, BG_ENOTFOUND, "no listener has tls.acme (see docs/tls.md)");
        return;
    }
    if (s->shutting_down) {
        free(w);
        bg_admin_respond_errorf(req, BG_EUNAVAIL, "the daemon is shutting down");
        return;
    }
    w->req = req;
    bg_list_insert_tail(&s->acme_waiters, &w->link);
    for (int k = 0; k < BG_SRV_TLS; k++)
        if (s->acme[k] != NULL)
            start_order(s->acme[k], "forced"); /* a running order answers it too */
}

static void acme_shutdown(srv_acme_t *a)
{
    if (a->running) {
        atomic_store(&a->cancel, true);
        pthread_join(a->thread, NULL);
        a->running = false;
    }
    if (a->handles) {
        uv_close((uv_handle_t *)&a->timer, NULL);
        uv_close((uv_handle_t *)&a->done, NULL);
        a->handles = false;
    }
}

void srv_acme_shutdown(bg_server_t *s)
{
    for (int k = 0; k < BG_SRV_TLS; k++)
        if (s->acme[k] != NULL)
            acme_shutdown(s->acme[k]);
    while (!bg_list_is_empty(&s->acme_waiters)) {
        acme_waiter_t *w = BG_CONTAINER_OF(s->acme_waiters.next, acme_waiter_t, link);
        bg_list_remove(&w->link);
        bg_admin_respond_errorf(w->req, BG_EUNAVAIL, "the daemon is shutting down");
        free(w);
    }
}

void srv_acme_free(bg_server_t *s)
{
    for (int k = 0; k < BG_SRV_TLS; k++) {
        srv_acme_t *a = s->acme[k];
        if (a == NULL)
            continue;
        free(a->cert_path);
        free(a->key_path);
        free(a->account_path);
        free(a);
        s->acme[k] = NULL;
    }
}

static json_t *time_json(uint64_t ms)
{
    char buf[32];
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (ms == 0 || gmtime_r(&t, &tm) == NULL)
        return json_null();
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

json_t *srv_acme_json(bg_server_t *s, int k)
{
    srv_acme_t *a = s->acme[k];
    json_t *hosts;

    if (a == NULL)
        return NULL;
    hosts = json_array();
    for (size_t i = 0; i < a->cfg->n_hosts; i++)
        json_array_append_new(hosts, json_string(a->cfg->hosts[i]));
    return json_pack("{s:s,s:o,s:o,s:s,s:s,s:s,s:s,s:b,s:o,s:o,s:{s:o,s:o,s:s,s:o},s:I,s:I,s:I}",
                     "directory", a->cfg->directory, "hosts", hosts, "account",
                     a->account_url[0] ? json_string(a->account_url) : json_null(),
                     "account_key", a->account_path, "cert", a->cert_path, "key", a->key_path,
                     "serving", a->source, "running", a->running, "serial",
                     a->serial[0] ? json_string(a->serial) : json_null(), "next_renewal_at",
                     time_json(a->next_ms), "last_renewal", "at", time_json(a->last_at_ms), "ok",
                     a->last_at_ms ? json_boolean(a->last_ok) : json_null(), "why", a->last_why,
                     "error", a->last_error[0] ? json_string(a->last_error) : json_null(),
                     "renewals_ok", (json_int_t)a->ok_count, "renewals_error",
                     (json_int_t)a->error_count, "bad_nonce_retries", (json_int_t)a->bad_nonces);
}

void srv_acme_metrics(bg_server_t *s, bg_buf_t *out)
{
    bool any = false;

    for (int k = 0; k < BG_SRV_TLS; k++)
        any = any || s->acme[k] != NULL;
    if (!any)
        return;
    /* each family's samples together (the text format groups a family's lines) */
    bg_buf_puts(out, "# HELP bluegreen_acme_renewals_total ACME orders finished, by result.\n"
                     "# TYPE bluegreen_acme_renewals_total counter\n");
    for (int k = 0; k < BG_SRV_TLS; k++) {
        srv_acme_t *a = s->acme[k];
        if (a != NULL)
            bg_buf_printf(out,
                          "bluegreen_acme_renewals_total{listener=\"%s\",result=\"ok\"} %llu\n"
                          "bluegreen_acme_renewals_total{listener=\"%s\",result=\"error\"} "
                          "%llu\n",
                          a->name, (unsigned long long)a->ok_count, a->name,
                          (unsigned long long)a->error_count);
    }
    bg_buf_puts(out, "# HELP bluegreen_acme_next_renewal_timestamp_seconds When the next ACME "
                     "order runs (Unix time; 0 while one runs).\n"
                     "# TYPE bluegreen_acme_next_renewal_timestamp_seconds gauge\n");
    for (int k = 0; k < BG_SRV_TLS; k++) {
        srv_acme_t *a = s->acme[k];
        if (a != NULL)
            bg_buf_printf(out, "bluegreen_acme_next_renewal_timestamp_seconds{listener=\"%s\"} "
                               "%llu\n",
                          a->name, (unsigned long long)(a->next_ms / 1000));
    }
}
