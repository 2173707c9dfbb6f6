/* See server_fixture.h. */
#include "server_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "base/base.h"
#include "config/config.h"

static const char *const names[3] = {"blue", "green", "extra"};

static char *backend_handler(void *arg, const bgt_backend_req_t *req)
{
    sfx_backend_t *be = arg;

    if (strncmp(req->path, "/healthz", 8) == 0) {
        if (atomic_load(&be->fail_health))
            return bg_strdup("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown");
        return NULL;
    }
    atomic_fetch_add(&be->hits, 1);
    if (strncmp(req->path, "/status/500", 11) == 0)
        return bg_strdup("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nfail");
    return NULL;
}

const char *sfx_addr(sfx_t *f, int idx)
{
    static _Thread_local char buf[3][32];
    snprintf(buf[idx], sizeof(buf[idx]), "127.0.0.1:%d", bgt_backend_port(f->be[idx].b));
    return buf[idx];
}

static void *run_main(void *arg)
{
    sfx_t *f = arg;
    bg_err_t err;

    bg_err_clear(&err);
    f->run_rc = bg_server_run(f->srv, &err);
    if (f->run_rc != 0)
        fprintf(stderr, "bg_server_run: %s\n", err.msg);
    return NULL;
}

bg_config_t *sfx_config(sfx_t *f, const sfx_opts_t *o)
{
    char *yaml = bg_asprintf("listen: 127.0.0.1:0\n"
                             "state_dir: %s/state\n"
                             "proxy: {workers: 2}\n"
                             "services:\n"
                             "  orders:\n"
                             "    route: {host: orders.local, path_prefix: /}\n"
                             "    driver: static\n"
                             "    targets: {blue: [\"%s\"], green: [\"%s\"]}\n"
                             "    traffic: {blue: %d, green: %d}\n"
                             "    drain: 1s\n"
                             "    health: %s\n",
                             f->dir, o->blue_addr ? o->blue_addr : sfx_addr(f, SFX_BLUE),
                             o->green_addr ? o->green_addr : sfx_addr(f, SFX_GREEN),
                             100 - o->green_weight, o->green_weight,
                             o->health_yaml ? o->health_yaml
                                            : "{path: /healthz, interval: 100ms, timeout: 500ms, "
                                              "healthy_threshold: 2, unhealthy_threshold: 2}");
    bg_err_t err;
    bg_config_t *cfg;

    if (o->services_yaml != NULL) {
        free(yaml);
        yaml = bg_asprintf("listen: 127.0.0.1:0\nstate_dir: %s/state\nproxy: {workers: 2}\n"
                           "services:\n%s",
                           f->dir, o->services_yaml);
    }
    cfg = bg_config_parse(yaml, strlen(yaml), "test.yaml", &err);

    cr_assert_not_null(cfg, "config: %s\n%s", err.msg, yaml);
    free(yaml);
    if (o->test_listener) {
        free(cfg->test_listen);
        cfg->test_listen = bg_strdup("127.0.0.1:0");
    }
    if (o->tcp_admin) {
        /* Port 0 is not valid in a config file; the test wants a kernel-picked port. */
        free(cfg->admin);
        cfg->admin = bg_strdup("http://127.0.0.1:0");
        free(cfg->admin_token);
        cfg->admin_token = bg_strdup(SFX_TOKEN);
    }
    return cfg;
}

void sfx_start(sfx_t *f, const sfx_opts_t *opts)
{
    sfx_opts_t o = opts ? *opts : (sfx_opts_t){0};
    bg_err_t err;

    memset(f, 0, sizeof(*f));
    signal(SIGPIPE, SIG_IGN);
    f->dir = o.dir != NULL ? bg_strdup(o.dir) : bgt_tmpdir("server");
    for (int i = 0; i < 3; i++) {
        f->be[i].f = f;
        f->be[i].idx = i;
        f->be[i].b = bgt_backend_start(names[i], 0);
        bgt_backend_set_handler(f->be[i].b, backend_handler, &f->be[i]);
    }
    bg_err_clear(&err);
    f->srv = bg_server_new(sfx_config(f, &o), &err);
    cr_assert_not_null(f->srv, "bg_server_new: %s", err.msg);
    bg_server_set_stop_grace(f->srv, 2000);
    if (o.switch_timeout_ms != 0)
        bg_server_set_switch_timeout(f->srv, o.switch_timeout_ms);
    cr_assert_eq(bg_server_start(f->srv, &err), 0, "bg_server_start: %s", err.msg);
    f->proxy_port = bg_server_proxy_port(f->srv);
    f->admin_port = bg_server_admin_port(f->srv);
    f->test_port = bg_server_test_port(f->srv);
    f->sock = bg_server_admin_path(f->srv) ? bg_strdup(bg_server_admin_path(f->srv)) : NULL;
    cr_assert_gt(f->proxy_port, 0);
    cr_assert_eq(pthread_create(&f->thread, NULL, run_main, f), 0);
    f->running = true;
}

void sfx_stop(sfx_t *f)
{
    sfx_stop_with(f, true);
}

void sfx_stop_with(sfx_t *f, bool stop_targets)
{
    if (f->running) {
        bg_server_shutdown(f->srv, stop_targets);
        pthread_join(f->thread, NULL);
        f->running = false;
        cr_assert_eq(f->run_rc, 0, "server did not stop cleanly");
    }
    bg_server_free(f->srv);
    f->srv = NULL;
    for (int i = 0; i < 3; i++)
        bgt_backend_stop(f->be[i].b);
    free(f->sock);
    free(f->dir);
}

bool sfx_admin(sfx_t *f, const char *method, const char *path, const char *body, cresp_t *out)
{
    return cl_call(f->sock, f->admin_port, method, path, body,
                   f->sock ? NULL : "Authorization: Bearer " SFX_TOKEN "\r\n", out);
}

int sfx_get(sfx_t *f, const char *path, int *status)
{
    bgt_resp_t r;
    int who = -1;

    memset(&r, 0, sizeof(r));
    if (!bgt_http_get(f->proxy_port, "orders.local", path, &r, 5000)) {
        if (status)
            *status = 0;
        bgt_resp_fini(&r);
        return -1;
    }
    if (status)
        *status = r.status;
    for (int i = 0; i < 3 && r.body != NULL; i++) {
        char want[64];
        snprintf(want, sizeof(want), "\"backend\":\"%s\"", names[i]);
        if (strstr(r.body, want) != NULL)
            who = i;
    }
    bgt_resp_fini(&r);
    return who;
}

const char *sfx_version(sfx_t *f, char *out, size_t size)
{
    bgt_resp_t r;
    json_t *j;

    memset(&r, 0, sizeof(r));
    out[0] = '\0';
    if (bgt_http_get(f->proxy_port, "orders.local", "/", &r, 5000) && r.status == 200) {
        j = json_loads(r.body, 0, NULL);
        if (j != NULL && json_string_value(json_object_get(j, "version")) != NULL)
            snprintf(out, size, "%s", json_string_value(json_object_get(j, "version")));
        json_decref(j);
    }
    bgt_resp_fini(&r);
    return out;
}

void *sfx_service_json(sfx_t *f)
{
    cresp_t r;
    json_t *j;

    cr_assert(sfx_admin(f, "GET", "/v1/services/orders", NULL, &r));
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = json_loads(r.body, 0, NULL);
    cr_assert_not_null(j);
    cresp_fini(&r);
    return j;
}

json_t *sfx_find_target(json_t *svc, const char *addr)
{
    json_t *slots = json_object_get(svc, "slots");
    const char *key;
    json_t *slot;

    json_object_foreach(slots, key, slot)
    {
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(slot, "targets"), i, t)
        {
            if (strcmp(json_string_value(json_object_get(t, "address")), addr) == 0)
                return t;
        }
    }
    return NULL;
}

bool sfx_wait_healthy(sfx_t *f, const char *addr, bool healthy, int timeout_ms)
{
    uint64_t deadline = bg_now_ms() + (uint64_t)timeout_ms;

    do {
        json_t *svc = sfx_service_json(f);
        json_t *t = sfx_find_target(svc, addr);
        bool ok = t != NULL && json_is_true(json_object_get(t, "healthy")) == healthy;
        json_decref(svc);
        if (ok)
            return true;
        usleep(20 * 1000);
    } while (bg_now_ms() < deadline);
    return false;
}
