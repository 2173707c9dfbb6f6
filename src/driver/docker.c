/* The docker driver (docs/design.md §8 `docker`): revisions run as containers of the
 * Docker Engine on its Unix socket (/var/run/docker.sock, or DOCKER_HOST=unix://...), all
 * through the engine's HTTP API on the control loop (docker_api.c), never blocking it.
 *
 * PRE_SCALE_UP pulls the image and pins its tag to a digest (docker_pull.c); each instance
 * is a container created from `name@sha256:...` with labels bluegreen.service / slot /
 * revision, env PORT + BLUEGREEN_SERVICE/SLOT/VERSION + the revision's env, the revision's
 * resources as limits, and host networking (the container listens on 127.0.0.1:PORT, a
 * port picked like the process driver's) or, where the engine has a bridge network, a
 * 127.0.0.1 port binding. Its output is followed into a buffer (`bluegreen logs`, the
 * evidence of a rollback); the end of that stream is how a crash is noticed, and a crashed
 * container is replaced with backoff (1s doubling to 30s), keeping its address. Stop is the
 * engine's stop (SIGTERM, stop_timeout, SIGKILL) then remove. A restarted bluegreen
 * re-adopts containers by their stored id after checking their labels: nothing restarts.
 * Every container also carries the markers of the process driver (scan.c), as labels:
 * bluegreen.state_dir and bluegreen.store, so that a restart finds the containers the store
 * does not claim (scan) and stops them.
 */
#include "driver/driver.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "base/base.h"
#include "driver/docker_internal.h"
#include "driver/internal.h"
#include "base/compat.h"

#define DEFAULT_SOCKET "/var/run/docker.sock"
#define CALL_TIMEOUT_MS 30000L
/* Creating and starting a container is where a busy engine is slowest (storage driver
 * copies, containerd shims): a start that merely waits its turn must not fail the
 * deployment, while an engine that is down still fails at once (no connection). */
#define START_TIMEOUT_MS 90000L
#define LOG_KEEP_BYTES (64 * 1024)
#define BACKOFF_FIRST_MS 1000u
#define BACKOFF_MAX_MS 30000u
#define STABLE_UPTIME_MS 60000u
#define DEFAULT_BRIDGE_PORT 8080

struct dk_driver {
    bg_driver_t base;
    dk_client_t *api;
    char engine[600]; /* "unix:///var/run/docker.sock" */
    char *state_dir;  /* absolute: the bluegreen.state_dir label of every container */
    bool bridge;      /* the engine has a bridge network: publish on 127.0.0.1 */
    bg_list_t insts;
    bg_list_t pulls;
    void (*close_cb)(void *arg);
    void *close_arg;
    bool closing;
};

typedef struct dk_inst {
    bg_instance_t pub;
    bg_list_t link;
    dk_driver_t *drv;
    char *create_body; /* JSON to (re)create the container */
    uint16_t port;
    uint32_t stop_timeout_ms;
    dk_req_t *req;      /* the control request in flight */
    dk_req_t *logs_req; /* followed output */
    bg_buf_t log;       /* the last LOG_KEEP_BYTES or so of output */
    uint8_t hdr[8];     /* stream demultiplexing: 8-byte frame header */
    size_t hdr_have, frame_left;
    uv_timer_t timer; /* crash backoff */
    bg_instance_cb start_cb;
    void *start_arg;
    bg_instance_cb stop_cb;
    void *stop_arg;
    bool stop_wanted; /* stop() came while STARTING */
    bool replacing;   /* the start in flight replaces a crashed container */
    bool freeing;
    unsigned recent_crashes, generation;
    uint64_t started_ms;
} dk_inst_t;

dk_client_t *dk_driver_client(dk_driver_t *drv)
{
    return drv->api;
}

const char *dk_driver_engine(const dk_driver_t *drv)
{
    return drv->engine;
}

uv_loop_t *dk_driver_loop(dk_driver_t *drv)
{
    return drv->base.loop;
}

/* ---- output: the engine's multiplexed stream (8-byte header per frame) ---- */

static void log_keep(dk_inst_t *i, const char *p, size_t n)
{
    bg_buf_append(&i->log, p, n);
    if (i->log.len > 2 * LOG_KEEP_BYTES)
        bg_buf_consume(&i->log, i->log.len - LOG_KEEP_BYTES);
}

static void on_log_data(dk_req_t *r, const char *data, size_t n, void *arg)
{
    dk_inst_t *i = arg;

    (void)r;
    while (n > 0) {
        if (i->frame_left == 0) {
            size_t take = sizeof(i->hdr) - i->hdr_have < n ? sizeof(i->hdr) - i->hdr_have : n;
            memcpy(i->hdr + i->hdr_have, data, take);
            i->hdr_have += take;
            data += take;
            n -= take;
            if (i->hdr_have < sizeof(i->hdr))
                return;
            i->hdr_have = 0;
            i->frame_left = (size_t)i->hdr[4] << 24 | (size_t)i->hdr[5] << 16 |
                            (size_t)i->hdr[6] << 8 | i->hdr[7];
            continue;
        }
        size_t take = i->frame_left < n ? i->frame_left : n;
        log_keep(i, data, take);
        i->frame_left -= take;
        data += take;
        n -= take;
    }
}

static void inspect(dk_inst_t *i);
static void on_inspect_due(uv_timer_t *t);

static void on_logs_end(dk_req_t *r, const dk_result_t *res, void *arg)
{
    dk_inst_t *i = arg;

    (void)r;
    (void)res;
    i->logs_req = NULL;
    /* The stream ends when the container stops: ours, or a crash to find out about. */
    if (i->pub.state == BG_INSTANCE_RUNNING && !i->drv->closing)
        inspect(i);
}

static void follow_logs(dk_inst_t *i, const char *since)
{
    char *path = bg_asprintf("/containers/%s/logs?follow=1&stdout=1&stderr=1&%s", i->pub.handle,
                             since);

    dk_cancel(i->logs_req);
    i->hdr_have = i->frame_left = 0;
    i->logs_req = dk_request(i->drv->api, "GET", path, NULL, NULL, 0, on_log_data, on_logs_end, i);
    free(path);
}

/* ---- the container's configuration ---- */

static void add_env(json_t *env, const char *k, const char *v)
{
    char *kv = bg_asprintf("%s=%s", k, v);
    json_array_append_new(env, json_string(kv));
    free(kv);
}

/* The image to create from: "registry/name@sha256:..." once pinned (the tag dropped, so the
 * engine cannot pick anything else), else as written. */
static void run_image(const char *image, char *out, size_t size)
{
    bg_image_ref_t ref;

    if (bg_image_ref_parse(image, &ref, NULL) && ref.digest[0])
        bg_image_ref_format(&ref, false, out, size);
    else
        snprintf(out, size, "%s", image);
}

static char *create_body(dk_driver_t *drv, const bg_instance_spec_t *spec, uint16_t port)
{
    const bg_revision_config_t *rev = spec->rev;
    json_t *env = json_array(), *labels, *host, *body;
    uint16_t cport = drv->bridge ? (rev->port ? rev->port : DEFAULT_BRIDGE_PORT) : port;
    char image[600], num[32], *text;

    for (size_t k = 0; k < rev->n_env; k++)
        if (strcmp(rev->env[k].key, "PORT") != 0)
            add_env(env, rev->env[k].key, rev->env[k].value);
    snprintf(num, sizeof(num), "%u", (unsigned)cport);
    add_env(env, "PORT", num);
    add_env(env, "BLUEGREEN_SERVICE", spec->service);
    add_env(env, "BLUEGREEN_SLOT", bg_slot_str((bg_slot_t)spec->slot));
    add_env(env, "BLUEGREEN_VERSION", rev->version ? rev->version : "0.0.0");
    snprintf(num, sizeof(num), "%lld", (long long)spec->revision);
    labels = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "bluegreen.service", spec->service,
                       "bluegreen.slot", bg_slot_str((bg_slot_t)spec->slot), "bluegreen.revision",
                       num, "bluegreen.version", rev->version ? rev->version : "0.0.0",
                       "bluegreen.image", rev->image, "bluegreen.state_dir", drv->state_dir);
    /* The markers scan() finds containers by, whatever the store says of them. */
    snprintf(num, sizeof(num), "127.0.0.1:%u", (unsigned)port);
    json_object_set_new(labels, "bluegreen.address", json_string(num));
    if (spec->store_id != NULL)
        json_object_set_new(labels, "bluegreen.store", json_string(spec->store_id));
    host = json_pack("{s:s,s:{s:s}}", "NetworkMode", drv->bridge ? "bridge" : "host",
                     "RestartPolicy", "Name", "no");
    if (rev->memory_bytes > 0)
        json_object_set_new(host, "Memory", json_integer((json_int_t)rev->memory_bytes));
    if (rev->cpu_millis > 0)
        json_object_set_new(host, "NanoCpus", json_integer((json_int_t)rev->cpu_millis * 1000000));
    run_image(rev->image, image, sizeof(image));
    body = json_pack("{s:s,s:o,s:o,s:o,s:i}", "Image", image, "Env", env, "Labels", labels,
                     "HostConfig", host, "StopTimeout",
                     (int)((spec->stop_timeout_ms ? spec->stop_timeout_ms : 10000) + 999) / 1000);
    if (drv->bridge) {
        char key[32], hp[16];
        snprintf(key, sizeof(key), "%u/tcp", (unsigned)cport);
        snprintf(hp, sizeof(hp), "%u", (unsigned)port);
        json_object_set_new(body, "ExposedPorts", json_pack("{s:{}}", key));
        json_object_set_new(host, "PortBindings",
                            json_pack("{s:[{s:s,s:s}]}", key, "HostIp", "127.0.0.1", "HostPort", hp));
    }
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}


/* ---- life cycle of one container ---- */

static void do_stop(dk_inst_t *i);
static void do_create(dk_inst_t *i);
static void crashed(dk_inst_t *i, int exit_code, const char *why);

static void remove_detached(dk_driver_t *drv, const char *id)
{
    char *path = bg_asprintf("/containers/%s?force=1", id);
    dk_request(drv->api, "DELETE", path, NULL, NULL, CALL_TIMEOUT_MS, NULL, NULL, NULL);
    free(path);
}

static void start_reported(dk_inst_t *i, int status)
{
    bg_instance_cb cb = i->start_cb;

    i->start_cb = NULL;
    if (cb != NULL)
        cb(i->start_arg, &i->pub, status);
}

static void running(dk_inst_t *i)
{
    i->pub.state = BG_INSTANCE_RUNNING;
    i->started_ms = bg_now_ms();
    follow_logs(i, "tail=all");
    bg_log(BG_LOG_INFO, "driver",
           "docker container started service=%s slot=%s rev=%lld id=%.12s addr=%s",
           i->pub.service, bg_slot_str((bg_slot_t)i->pub.slot), (long long)i->pub.revision,
           i->pub.handle, i->pub.address);
    if (i->replacing) {
        i->replacing = false;
        i->pub.restarts++;
        if (i->drv->base.events.replaced != NULL)
            i->drv->base.events.replaced(i->drv->base.events.ctx, &i->pub);
        return;
    }
    start_reported(i, 0);
}

/* The start failed: the engine's message is the instance's error. */
static void start_failed(dk_inst_t *i, const char *msg)
{
    snprintf(i->pub.error, sizeof(i->pub.error), "%s", msg);
    bg_log(BG_LOG_WARN, "driver", "docker start failed service=%s slot=%s msg=\"%s\"",
           i->pub.service, bg_slot_str((bg_slot_t)i->pub.slot), msg);
    if (i->pub.handle[0]) {
        remove_detached(i->drv, i->pub.handle);
        i->pub.handle[0] = '\0';
    }
    if (i->replacing) {
        /* a replacement that failed: try again later, as the process driver does */
        crashed(i, -1, msg);
        return;
    }
    i->pub.state = BG_INSTANCE_STOPPED;
    start_reported(i, BG_EIO);
}

/* stop() came while a create or start was in flight: the start ends first. */
static bool stop_instead(dk_inst_t *i)
{
    if (!i->stop_wanted)
        return false;
    i->stop_wanted = false;
    snprintf(i->pub.error, sizeof(i->pub.error), "stopped while starting");
    start_reported(i, BG_EUNAVAIL);
    do_stop(i);
    return true;
}

static void on_start_done(dk_req_t *r, const dk_result_t *res, void *arg)
{
    dk_inst_t *i = arg;
    char msg[512];

    (void)r;
    i->req = NULL;
    if (res->http_status != 204 && res->http_status != 304) {
        char text[600];
        snprintf(text, sizeof(text), "starting container %.12s: %s", i->pub.handle,
                 dk_message(res, msg, sizeof(msg)));
        if (!stop_instead(i))
            start_failed(i, text);
        return;
    }
    if (!stop_instead(i))
        running(i);
}

static void on_create_done(dk_req_t *r, const dk_result_t *res, void *arg)
{
    dk_inst_t *i = arg;
    json_t *j = NULL;
    const char *id;
    char msg[512], *path;

    (void)r;
    i->req = NULL;
    if (res->http_status == 201)
        j = json_loadb(res->body, res->body_len, 0, NULL);
    id = json_string_value(json_object_get(j, "Id"));
    if (id == NULL) {
        char text[700];
        snprintf(text, sizeof(text), "creating the container: %s",
                 dk_message(res, msg, sizeof(msg)));
        json_decref(j);
        if (!stop_instead(i))
            start_failed(i, text);
        return;
    }
    snprintf(i->pub.handle, sizeof(i->pub.handle), "%s", id);
    json_decref(j);
    if (stop_instead(i))
        return;
    path = bg_asprintf("/containers/%s/start", i->pub.handle);
    i->req = dk_request(i->drv->api, "POST", path, NULL, NULL, START_TIMEOUT_MS, NULL,
                        on_start_done, i);
    free(path);
}

static void do_create(dk_inst_t *i)
{
    char *path = bg_asprintf("/containers/create?name=bg-%s-%s-r%lld-%u-%x%u", i->pub.service,
                             bg_slot_str((bg_slot_t)i->pub.slot), (long long)i->pub.revision,
                             i->pub.index, (unsigned)(bg_wall_ms() & 0xfffff), i->generation++);

    i->pub.handle[0] = '\0';
    i->req = dk_request(i->drv->api, "POST", path, i->create_body, NULL, START_TIMEOUT_MS, NULL,
                        on_create_done, i);
    free(path);
}

/* ---- crashes: noticed when the output stream ends; replaced with backoff ---- */

static uint32_t backoff_ms(unsigned crashes)
{
    uint32_t ms = BACKOFF_FIRST_MS;

    for (unsigned k = 1; k < crashes && ms < BACKOFF_MAX_MS; k++)
        ms *= 2;
    return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

static void on_replace_due(uv_timer_t *t)
{
    dk_inst_t *i = t->data;

    if (i->pub.state != BG_INSTANCE_RESTARTING || i->drv->closing)
        return;
    i->replacing = true;
    do_create(i);
}

/* True if <needle> (lower case) occurs in p[0..n) ignoring case. */
static bool has_word(const char *p, size_t n, const char *needle)
{
    size_t k = strlen(needle);

    for (size_t i = 0; i + k <= n; i++) {
        size_t j = 0;
        while (j < k && tolower((unsigned char)p[i + j]) == needle[j])
            j++;
        if (j == k)
            return true;
    }
    return false;
}

/* The container's own word on why it ended: the last line of its output that reads like
 * an error ("listen failed ... address already in use", "Port 8080 was already in use"),
 * else its last line, into <out> ("" when it printed nothing). */
static void last_words(const bg_buf_t *log, char *out, size_t size)
{
    static const char *const marks[] = {"error", "fatal", "panic", "exception", "failed",
                                        "in use", "denied", "cannot", "unable"};
    const char *data = log->data != NULL ? log->data : "";
    size_t end = log->len, best_at = 0, best_len = 0;
    bool best_marked = false;

    out[0] = '\0';
    while (end > 0) {
        size_t start = end;
        while (start > 0 && data[start - 1] != '\n')
            start--;
        size_t len = end - start;
        while (len > 0 && (data[start + len - 1] == '\r' || data[start + len - 1] == '\n' ||
                           data[start + len - 1] == ' '))
            len--;
        if (len > 0 && strncmp(data + start, "--- bluegreen:", 14) != 0) {
            bool marked = false;
            for (size_t m = 0; m < sizeof(marks) / sizeof(*marks) && !marked; m++)
                marked = has_word(data + start, len, marks[m]);
            if (best_len == 0 || (marked && !best_marked)) {
                best_at = start;
                best_len = len;
                best_marked = marked;
            }
            if (best_marked)
                break;
        }
        end = start > 0 ? start - 1 : 0;
    }
    if (best_len > 0)
        snprintf(out, size, "%.*s", (int)(best_len < 400 ? best_len : 400), data + best_at);
}

static void crashed(dk_inst_t *i, int exit_code, const char *why)
{
    if (i->pub.handle[0])
        remove_detached(i->drv, i->pub.handle);
    i->pub.last_exit_status = exit_code;
    if (why != NULL && why[0]) {
        snprintf(i->pub.error, sizeof(i->pub.error), "%s", why);
    } else {
        char words[420];
        last_words(&i->log, words, sizeof(words));
        if (words[0])
            snprintf(i->pub.error, sizeof(i->pub.error), "container %.12s: %s", i->pub.handle,
                     words);
    }
    log_keep(i, "", 0);
    bg_buf_printf(&i->log, "--- bluegreen: container %.12s exited (status %d); replaced after "
                           "backoff ---\n",
                  i->pub.handle, exit_code);
    if (bg_now_ms() - i->started_ms >= STABLE_UPTIME_MS)
        i->recent_crashes = 0;
    i->recent_crashes++;
    bool was_replacing = i->replacing;
    i->replacing = false;
    i->pub.state = BG_INSTANCE_RESTARTING;
    bg_log(BG_LOG_WARN, "driver", "docker container exited service=%s slot=%s id=%.12s status=%d",
           i->pub.service, bg_slot_str((bg_slot_t)i->pub.slot), i->pub.handle, exit_code);
    uv_timer_start(&i->timer, on_replace_due, backoff_ms(i->recent_crashes), 0);
    if (!was_replacing && i->drv->base.events.exited != NULL)
        i->drv->base.events.exited(i->drv->base.events.ctx, &i->pub);
}

static void on_inspect_done(dk_req_t *r, const dk_result_t *res, void *arg)
{
    dk_inst_t *i = arg;
    json_t *j = res->http_status == 200 ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
    json_t *state = json_object_get(j, "State");

    (void)r;
    i->req = NULL;
    if (i->pub.state != BG_INSTANCE_RUNNING) {
        json_decref(j);
        return;
    }
    if (json_is_true(json_object_get(state, "Running"))) {
        follow_logs(i, "tail=0"); /* the stream broke, the container runs on */
    } else if (res->transport_error != NULL) {
        /* The engine went away: nothing to conclude yet; look again shortly. */
        uv_timer_start(&i->timer, on_inspect_due, 1000, 0);
    } else {
        crashed(i, j != NULL ? (int)json_integer_value(json_object_get(state, "ExitCode")) : -1,
                json_string_value(json_object_get(state, "Error")));
    }
    json_decref(j);
}

static void on_inspect_due(uv_timer_t *t)
{
    dk_inst_t *i = t->data;

    if (i->pub.state == BG_INSTANCE_RUNNING && i->req == NULL)
        inspect(i);
}

static void inspect(dk_inst_t *i)
{
    char *path = bg_asprintf("/containers/%s/json", i->pub.handle);

    i->req = dk_request(i->drv->api, "GET", path, NULL, NULL, CALL_TIMEOUT_MS, NULL,
                        on_inspect_done, i);
    free(path);
}

/* ---- stop: the engine's stop (SIGTERM, StopTimeout, SIGKILL), then remove ---- */

static void stopped(dk_inst_t *i)
{
    bg_instance_cb cb = i->stop_cb;

    dk_cancel(i->logs_req);
    i->logs_req = NULL;
    i->pub.state = BG_INSTANCE_STOPPED;
    i->stop_cb = NULL;
    bg_log(BG_LOG_INFO, "driver", "docker container removed service=%s slot=%s id=%.12s",
           i->pub.service, bg_slot_str((bg_slot_t)i->pub.slot), i->pub.handle);
    if (cb != NULL)
        cb(i->stop_arg, &i->pub, 0);
}

static void on_removed(dk_req_t *r, const dk_result_t *res, void *arg)
{
    dk_inst_t *i = arg;
    char msg[512];

    (void)r;
    i->req = NULL;
    if (res->http_status != 204 && res->http_status != 404)
        bg_log(BG_LOG_WARN, "driver", "docker remove id=%.12s msg=\"%s\"", i->pub.handle,
               dk_message(res, msg, sizeof(msg)));
    stopped(i);
}

static void remove_container(dk_inst_t *i)
{
    char *path = bg_asprintf("/containers/%s?force=1", i->pub.handle);

    i->req = dk_request(i->drv->api, "DELETE", path, NULL, NULL, CALL_TIMEOUT_MS, NULL, on_removed,
                        i);
    free(path);
}

static void on_stop_done(dk_req_t *r, const dk_result_t *res, void *arg)
{
    dk_inst_t *i = arg;

    (void)r;
    (void)res; /* 204 stopped, 304 already, 404 gone: remove (force) covers them all */
    i->req = NULL;
    remove_container(i);
}

static void do_stop(dk_inst_t *i)
{
    unsigned secs = (i->stop_timeout_ms + 999) / 1000;
    char *path;

    i->pub.state = BG_INSTANCE_STOPPING;
    if (i->pub.handle[0] == '\0') {
        stopped(i);
        return;
    }
    path = bg_asprintf("/containers/%s/stop?t=%u", i->pub.handle, secs);
    i->req = dk_request(i->drv->api, "POST", path, NULL, NULL, (long)secs * 1000 + CALL_TIMEOUT_MS,
                        NULL, on_stop_done, i);
    free(path);
}

static void dk_stop(bg_driver_t *d, bg_instance_t *inst, bg_instance_cb cb, void *arg)
{
    dk_inst_t *i = (dk_inst_t *)inst;

    (void)d;
    i->stop_cb = cb;
    i->stop_arg = arg;
    switch (i->pub.state) {
    case BG_INSTANCE_STOPPED:
        stopped(i);
        break;
    case BG_INSTANCE_STARTING:
        i->stop_wanted = true; /* the create/start in flight ends first */
        break;
    case BG_INSTANCE_RESTARTING:
        uv_timer_stop(&i->timer);
        if (i->req != NULL) { /* a replacement is being created: let it finish */
            i->stop_wanted = true;
            i->replacing = false;
            i->pub.state = BG_INSTANCE_STARTING;
            break;
        }
        i->pub.handle[0] = '\0'; /* the crashed one is removed already */
        stopped(i);
        break;
    case BG_INSTANCE_RUNNING:
        dk_cancel(i->req); /* an inspect after the stream ended */
        i->req = NULL;
        uv_timer_stop(&i->timer);
        do_stop(i);
        break;
    case BG_INSTANCE_STOPPING:
        break;
    }
}

/* ---- the vtable ---- */

static dk_inst_t *inst_new(dk_driver_t *drv, const bg_instance_spec_t *spec, uint16_t port)
{
    dk_inst_t *i = BG_NEW(dk_inst_t);

    i->drv = drv;
    i->port = port;
    i->pub.driver = &drv->base;
    i->pub.service = bg_strdup(spec->service);
    i->pub.slot = spec->slot;
    i->pub.revision = spec->revision;
    i->pub.index = spec->index;
    i->pub.last_exit_status = -1;
    i->stop_timeout_ms = spec->stop_timeout_ms ? spec->stop_timeout_ms : 10000;
    snprintf(i->pub.version, sizeof(i->pub.version), "%s",
             spec->rev->version ? spec->rev->version : "0.0.0");
    snprintf(i->pub.address, sizeof(i->pub.address), "127.0.0.1:%u", (unsigned)port);
    i->create_body = create_body(drv, spec, port);
    bg_buf_init(&i->log);
    uv_timer_init(drv->base.loop, &i->timer);
    i->timer.data = i;
    bg_list_insert_tail(&drv->insts, &i->link);
    return i;
}

static int dk_validate(const bg_driver_t *d, const char *service, const bg_revision_config_t *rev,
                       bg_err_t *err)
{
    bg_image_ref_t ref;
    const char *why = NULL;

    (void)d;
    if (rev->image == NULL)
        return bg_err_set(err, BG_EINVAL, "service %s runs containers: give image", service);
    if (!bg_image_ref_parse(rev->image, &ref, &why))
        return bg_err_set(err, BG_EINVAL, "image \"%s\" is not an image reference: %s",
                          rev->image, why);
    return 0;
}

static int dk_start(bg_driver_t *d, const bg_instance_spec_t *spec, bg_instance_cb cb, void *arg,
                    bg_instance_t **out, bg_err_t *err)
{
    dk_driver_t *drv = (dk_driver_t *)d;
    uint16_t port = 0;
    dk_inst_t *i;
    int rc;

    if ((rc = dk_validate(d, spec->service, spec->rev, err)) != 0 ||
        (rc = bg_driver_pick_port(&port, err)) != 0)
        return rc;
    i = inst_new(drv, spec, port);
    i->start_cb = cb;
    i->start_arg = arg;
    i->pub.state = BG_INSTANCE_STARTING;
    do_create(i);
    *out = &i->pub;
    return 0;
}

/* Boot only: the engine is asked synchronously, before the loop serves. */
static int dk_adopt(bg_driver_t *d, const bg_instance_spec_t *spec, const char *address,
                    const char *handle, bg_instance_t **out, bg_err_t *err)
{
    dk_driver_t *drv = (dk_driver_t *)d;
    char *path = bg_asprintf("/containers/%s/json", handle);
    const char *colon = strrchr(address, ':');
    json_t *j = NULL, *labels;
    const char *owner;
    bg_buf_t b;
    int status = 0, rc;
    dk_inst_t *i;

    bg_buf_init(&b);
    rc = dk_request_sync(dk_client_socket(drv->api), "GET", path, 5000, &status, &b, err);
    free(path);
    if (rc == 0)
        j = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
    bg_buf_fini(&b);
    labels = json_object_get(json_object_get(j, "Config"), "Labels");
    owner = json_string_value(json_object_get(labels, "bluegreen.service"));
    if (rc == 0 && (status != 200 ||
                    !json_is_true(json_object_get(json_object_get(j, "State"), "Running")) ||
                    owner == NULL || strcmp(owner, spec->service) != 0))
        rc = bg_err_set(err, BG_ENOTFOUND, "container %.12s of %s is no longer running", handle,
                        spec->service);
    json_decref(j);
    if (rc != 0)
        return rc;
    i = inst_new(drv, spec, colon ? (uint16_t)strtoul(colon + 1, NULL, 10) : 0);
    snprintf(i->pub.address, sizeof(i->pub.address), "%s", address);
    snprintf(i->pub.handle, sizeof(i->pub.handle), "%s", handle);
    i->pub.state = BG_INSTANCE_RUNNING;
    i->started_ms = bg_now_ms();
    follow_logs(i, "tail=200");
    bg_log(BG_LOG_INFO, "driver", "docker container adopted service=%s slot=%s id=%.12s addr=%s",
           i->pub.service, bg_slot_str((bg_slot_t)i->pub.slot), handle, address);
    *out = &i->pub;
    return 0;
}

static int dk_logs(bg_driver_t *d, bg_instance_t *inst, size_t max_bytes, bg_buf_t *out)
{
    dk_inst_t *i = (dk_inst_t *)inst;
    size_t from = i->log.len > max_bytes ? i->log.len - max_bytes : 0;

    (void)d;
    if (i->log.len > from)
        bg_buf_append(out, i->log.data + from, i->log.len - from);
    return 0;
}

static void on_inst_timer_closed(uv_handle_t *h)
{
    dk_inst_t *i = h->data;

    bg_buf_fini(&i->log);
    free(i->create_body);
    free(i->pub.service);
    free(i);
}

static void dk_free_instance(bg_driver_t *d, bg_instance_t *inst)
{
    dk_inst_t *i = (dk_inst_t *)inst;

    (void)d;
    if (i->freeing)
        return;
    i->freeing = true;
    if (i->pub.state == BG_INSTANCE_STARTING) {
        snprintf(i->pub.error, sizeof(i->pub.error), "bluegreen is stopping");
        start_reported(i, BG_EUNAVAIL);
    }
    dk_cancel(i->req);
    dk_cancel(i->logs_req);
    i->req = i->logs_req = NULL;
    bg_list_remove(&i->link);
    uv_timer_stop(&i->timer);
    uv_close((uv_handle_t *)&i->timer, on_inst_timer_closed);
}

static void dk_resolve(bg_driver_t *d, const char *service, const bg_revision_config_t *rev,
                       bg_driver_progress_cb progress, bg_driver_resolve_cb cb, void *arg)
{
    dk_driver_t *drv = (dk_driver_t *)d;
    dk_pull_start(drv, &drv->pulls, service, rev, progress, cb, arg);
}

static void dk_cancel_resolve(bg_driver_t *d, void *arg)
{
    dk_pull_cancel(&((dk_driver_t *)d)->pulls, arg);
}

/* ---- scan: the containers of this state_dir, whatever the store says (boot only) ---- */

static const char *label_of(json_t *labels, const char *key)
{
    const char *v = json_string_value(json_object_get(labels, key));
    return v != NULL ? v : "";
}

/* A container of ours that does not run (created by a daemon killed before it could start
 * it, or stopped while no daemon watched) can be neither adopted nor served: it is removed,
 * so no restart leaves one behind. */
static void remove_dead(dk_driver_t *drv, const char *id, const char *state)
{
    char *path = bg_asprintf("/containers/%s?force=1", id);
    int status = 0;
    bg_buf_t b;

    bg_buf_init(&b);
    dk_request_sync(dk_client_socket(drv->api), "DELETE", path, CALL_TIMEOUT_MS, &status, &b,
                    NULL);
    bg_log(BG_LOG_INFO, "driver",
           "docker removed container id=%.12s state=%s left by an earlier bluegreen status=%d", id,
           state, status);
    bg_buf_fini(&b);
    free(path);
}

static int dk_scan(bg_driver_t *d, bg_driver_found_cb cb, void *arg)
{
    dk_driver_t *drv = (dk_driver_t *)d;
    char *filter = bg_asprintf("{\"label\":[\"bluegreen.state_dir=%s\"]}", drv->state_dir);
    char *enc = dk_urlencode(filter), *path = bg_asprintf("/containers/json?all=1&filters=%s", enc);
    json_t *list = NULL, *c;
    int status = 0, rc;
    size_t k;
    bg_buf_t b;
    bg_err_t err;

    bg_buf_init(&b);
    bg_err_clear(&err);
    rc = dk_request_sync(dk_client_socket(drv->api), "GET", path, CALL_TIMEOUT_MS, &status, &b,
                         &err);
    if (rc == 0 && status == 200)
        list = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
    if (rc != 0 || !json_is_array(list)) {
        /* No engine: nothing of ours can run there either; the boot goes on, and the
         * deployments say what is wrong when they need the engine. */
        bg_log(BG_LOG_WARN, "driver", "docker scan failed engine=%s status=%d err=\"%s\"",
               drv->engine, status, rc != 0 ? err.msg : "unexpected answer");
        rc = 0;
        goto out;
    }
    json_array_foreach(list, k, c)
    {
        json_t *labels = json_object_get(c, "Labels");
        const char *id = json_string_value(json_object_get(c, "Id"));
        const char *state = json_string_value(json_object_get(c, "State"));
        bg_driver_found_t f;

        if (id == NULL)
            continue;
        if (state == NULL || strcmp(state, "running") != 0) {
            remove_dead(drv, id, state != NULL ? state : "?");
            continue;
        }
        memset(&f, 0, sizeof(f));
        f.driver = d;
        snprintf(f.handle, sizeof(f.handle), "%s", id);
        snprintf(f.address, sizeof(f.address), "%s", label_of(labels, "bluegreen.address"));
        snprintf(f.service, sizeof(f.service), "%s", label_of(labels, "bluegreen.service"));
        f.slot = strcmp(label_of(labels, "bluegreen.slot"), "green") == 0 ? 1 : 0;
        snprintf(f.store_id, sizeof(f.store_id), "%s", label_of(labels, "bluegreen.store"));
        if ((rc = cb(arg, &f)) != 0)
            break;
    }
out:
    json_decref(list);
    bg_buf_fini(&b);
    free(path);
    free(enc);
    free(filter);
    return rc;
}

static void on_client_closed(void *arg)
{
    dk_driver_t *drv = arg;
    void (*cb)(void *) = drv->close_cb;
    void *cb_arg = drv->close_arg;

    free(drv->state_dir);
    free(drv);
    if (cb != NULL)
        cb(cb_arg);
}

static void dk_close(bg_driver_t *d, void (*cb)(void *arg), void *arg)
{
    dk_driver_t *drv = (dk_driver_t *)d;
    bg_list_t *pos, *tmp;

    drv->closing = true;
    drv->close_cb = cb;
    drv->close_arg = arg;
    dk_pull_abandon_all(&drv->pulls);
    bg_list_foreach_safe(pos, tmp, &drv->insts)
    {
        dk_inst_t *i = BG_CONTAINER_OF(pos, dk_inst_t, link);
        dk_free_instance(d, &i->pub);
    }
    dk_client_close(drv->api, on_client_closed, drv);
}

static const bg_driver_vtable_t docker_vtable = {
    .name = "docker",
    .caps = BG_DRIVER_CAP_STARTS,
    .validate = dk_validate,
    .resolve = dk_resolve,
    .cancel_resolve = dk_cancel_resolve,
    .start = dk_start,
    .stop = dk_stop,
    .adopt = dk_adopt,
    .scan = dk_scan,
    .logs = dk_logs,
    .free_instance = dk_free_instance,
    .close = dk_close,
};

/* Whether the engine has a bridge network to publish ports from (an engine started with
 * --bridge=none has not: host networking then). */
static bool has_bridge(const char *socket_path)
{
    bg_buf_t b;
    int status = 0;
    bool yes;

    bg_buf_init(&b);
    yes = dk_request_sync(socket_path, "GET", "/networks/bridge", 3000, &status, &b, NULL) == 0 &&
          status == 200;
    bg_buf_fini(&b);
    return yes;
}

bg_driver_t *bg_docker_driver_new(uv_loop_t *loop, const char *state_dir,
                                  const bg_driver_events_t *events, bg_err_t *err)
{
    const char *host = getenv("DOCKER_HOST");
    const char *sock = DEFAULT_SOCKET;
    dk_driver_t *drv;

    if (host != NULL && host[0] != '\0') {
        if (strncmp(host, "unix://", 7) != 0 || host[7] == '\0') {
            bg_err_set(err, BG_EINVAL,
                       "DOCKER_HOST=%s: the docker driver talks to the engine over a Unix "
                       "socket only (unix:///path/to/docker.sock)",
                       host);
            return NULL;
        }
        sock = host + 7;
    }
    drv = BG_NEW(dk_driver_t);
    drv->base.vt = &docker_vtable;
    drv->base.loop = loop;
    if (events != NULL)
        drv->base.events = *events;
    snprintf(drv->engine, sizeof(drv->engine), "unix://%s", sock);
    /* Absolute, like the process driver's marker: the label scan() filters on. */
    drv->state_dir = realpath(state_dir, NULL);
    if (drv->state_dir == NULL)
        drv->state_dir = bg_strdup(state_dir);
    drv->api = dk_client_new(loop, sock);
    drv->bridge = has_bridge(sock);
    bg_list_init(&drv->insts);
    bg_list_init(&drv->pulls);
    bg_log(BG_LOG_INFO, "driver", "docker engine=%s network=%s", drv->engine,
           drv->bridge ? "bridge (127.0.0.1 port bindings)" : "host");
    return &drv->base;
}
