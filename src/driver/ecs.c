/* The ecs driver (docs/design.md §8, docs/ecs.md): the same deployment on AWS, with the ALB
 * as the data plane instead of our proxy (BG_DRIVER_CAP_ROUTES).
 *
 * - A revision is an ECS task definition, registered at resolve (PRE_SCALE_UP); its ARN is
 *   the revision's pinned artifact (stored in place of the image, so a rollback or a
 *   restart runs exactly it). An image already given as a task definition ARN is used as is.
 * - A slot is an ECS service `<name>-<slot>` attached to the slot's target group. The
 *   controller's instances of a slot (index 0..count-1) are that service's task count:
 *   starting a slot's instances creates or updates the service to the task definition at
 *   `count` tasks; stopping them scales it to 0 once its targets have drained (ECS waits the
 *   target group's deregistration delay), and only then reports them stopped.
 * - Traffic: set_weights() writes the weighted forward of the production listener rule,
 *   reads it back until it shows the weights (bg_aws_alb_set_weights), then GETs probe_url
 *   until the version of the slot that gained weight answers; the switch time runs from the
 *   write to that answer. When a slot is brought up, the test listener rule (if any) is
 *   pointed at it (the preview) before its instances are reported started.
 * - Health: DescribeTargetHealth of the slot's target group and DescribeServices (with the
 *   stoppedReason of its latest stopped task), polled every second while the slot holds
 *   instances. A task of the slot's current task definition that fails to start
 *   (CannotPullContainerError, an essential container exiting) before the slot was ever
 *   healthy is reported as the instance exiting, with the stopped reason as its error.
 * - Figures for rollback_on: GetMetricData over consecutive closed ranges, added to
 *   cumulative counters (bg_traffic_stats_t) the judge samples as it does the proxy's.
 *
 * Everything runs on the control loop; AWS calls go through src/aws (never blocking).
 */
#include "driver/driver.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/aws.h"
#include "base/base.h"
#include "health/health.h"
#include "base/list.h"
#include "route/route.h"
#include "base/compat.h"

#define TICK_MS 250
#define HEALTH_EVERY_MS 1000
#define METRICS_EVERY_MS 2000
#define METRICS_IDLE_MS 10000
#define METRICS_LAG_S 2
#define VERIFY_TIMEOUT_MS 60000
#define PROBE_TIMEOUT_MS 60000
#define PROBE_EVERY_MS 100
#define PROBE_CALL_MS 5000
#define SCALE_DOWN_LIMIT_MS 600000
#define SCAN_CALL_MS 10000
#define TD_PREFIX "arn:aws:ecs:"
/* A write that failed on throttling, a 5xx or a timeout (after the client's own retries)
 * is tried again every RETRY_EVERY_MS for up to RETRY_FOR_MS: a switch or a bring-up does
 * not fail because AWS throttled a burst. */
#define RETRY_EVERY_MS 1000
#define RETRY_FOR_MS 180000

enum { STEP_NONE = 0, STEP_REGISTER, STEP_APPLY, STEP_TEST_RULE };
/* Where the Actuator body is read (as src/health does for a target: readiness group first,
 * /actuator/health for good once the readiness group answered 404). */
enum { ACT_PATH_CONFIGURED = 0, ACT_PATH_TRY_READINESS, ACT_PATH_READINESS, ACT_PATH_ACTUATOR };
#define ACT_ACCEPT "application/vnd.spring-boot.actuator.v3+json, application/json"

typedef struct ecs_driver ecs_driver_t;
typedef struct ecs_svc ecs_svc_t;
typedef struct ecs_slot ecs_slot_t;

typedef struct ecs_inst {
    bg_instance_t pub;
    bg_list_t link; /* in ecs_slot.insts while the driver is open */
    bool linked;
    ecs_slot_t *sl;
    bg_instance_cb start_cb, stop_cb;
    void *start_arg, *stop_arg;
} ecs_inst_t;

struct ecs_slot {
    ecs_svc_t *svc;
    int slot;
    char name[128]; /* the ECS service */
    char *td;       /* task definition ARN it runs (NULL: unknown) */
    char version[64];
    unsigned count; /* desired count of the bring-up */
    bg_list_t insts;
    unsigned gen; /* bumped by each bring-up: older poll answers are dropped */
    bool bringing_up, scaling_down, scale_inflight, was_healthy, fail_reported;
    int scaled_to, scaling_to; /* desired count confirmed by UpdateService (-1: none) / sent */
    bg_revision_config_t rev; /* of the bring-up (a failed step is retried with it) */
    bool have_rev;
    int retry_step;
    uint64_t retry_at_ms, bringup_started_ms;
    uint64_t scale_deadline_ms;
    /* last poll */
    bool polling;
    unsigned poll_left;
    uint64_t polled_ms;
    bool have_health, have_status, missing;
    bg_aws_tg_health_t health;
    bg_aws_service_status_t status;
    /* figures for rollback_on */
    bg_traffic_stats_t stats;
    bool metrics_busy;
    int64_t metrics_from_s, metrics_to_s; /* the range in flight ends at metrics_to_s */
    uint64_t metrics_asked_ms, metrics_polled_ms;
    /* The Actuator judgement of the body read through the test listener while the test
     * rule points at this slot (health.format actuator, test_url, test_listener_rule_arn):
     * ANDed with the target group's health. Thresholds as for a proxied target. */
    bool act_on, act_ok, act_busy;
    unsigned act_gen; /* bumped when the test rule moves: older answers are dropped */
    uint32_t act_pass, act_fail;
    uint64_t act_at_ms;
    int act_path;
    char act_reason[256];
};

typedef struct sw_waiter {
    struct sw_waiter *next;
    bg_driver_switch_cb cb;
    void *arg;
} sw_waiter_t;

struct ecs_svc {
    bg_list_t link;
    ecs_driver_t *drv;
    const bg_service_config_t *cfg;
    bg_aws_t *aws;
    bool aws_open;
    ecs_slot_t slot[BG_SLOT_COUNT];
    /* weights: one switch in flight, the newest wanted one queued */
    bool have_applied, sw_busy, want_pending;
    uint32_t applied[2], want[2], sw_w[2];
    sw_waiter_t *waiting, *sw_waiters;
    uint64_t sw_t0, probe_deadline_ms;
    bool sw_retrying;
    int probe_slot;
    int test_slot; /* the slot the test listener rule was last pointed at (-1: unknown) */
    int boot_w[2]; /* the production rule's weights as the boot's scan read them (-1: not read) */
    char probe_seen[64];
    uv_timer_t probe_timer;
};

typedef struct ecs_resolve {
    bg_list_t link;
    ecs_svc_t *svc;
    bg_revision_config_t rev; /* registered again after a passing failure */
    uint64_t started_ms;
    bool detached; /* answered by close() or cancelled: the AWS answer is dropped */
    bg_driver_resolve_cb cb;
    void *arg;
    char *arn;        /* an image given as a task definition ARN: answered as it is */
    int fail_rc;      /* the register call could not be queued: answered with this */
    uv_timer_t timer; /* ... from the loop, through this */
} ecs_resolve_t;

struct ecs_driver {
    bg_driver_t base;
    const bg_config_t *cfg;
    bg_list_t svcs;
    bg_list_t resolves;
    uv_timer_t tick;
    unsigned open_handles;
    bool closing;
    void (*close_cb)(void *arg);
    void *close_arg;
};

static ecs_driver_t *drv_of(const bg_driver_t *d)
{
    return (ecs_driver_t *)d;
}

static ecs_svc_t *svc_find(ecs_driver_t *drv, const char *name)
{
    bg_list_t *pos;
    bg_list_foreach(pos, &drv->svcs)
    {
        ecs_svc_t *svc = BG_CONTAINER_OF(pos, ecs_svc_t, link);
        if (strcmp(svc->cfg->name, name) == 0)
            return svc;
    }
    return NULL;
}

static bool is_td_arn(const char *s)
{
    return s != NULL && strncmp(s, TD_PREFIX, strlen(TD_PREFIX)) == 0 &&
           strstr(s, ":task-definition/") != NULL;
}

static bool retryable(int status)
{
    return status == BG_EUNAVAIL || status == BG_ETIMEDOUT;
}

static const char *errmsg(const bg_err_t *err, int status)
{
    return err != NULL && err->msg[0] ? err->msg : bg_strerror(status);
}

/* ---- validate, resolve (the task definition) ---- */

static int ecs_validate(const bg_driver_t *d, const char *service, const bg_revision_config_t *rev,
                        bg_err_t *err)
{
    if (svc_find(drv_of(d), service) == NULL)
        return bg_err_set(err, BG_EINVAL, "service %s has no ecs: configuration", service);
    if (rev->image == NULL || rev->image[0] == '\0')
        return bg_err_set(err, BG_EINVAL,
                          "the ecs driver runs an image (or a task definition ARN): the "
                          "revision has none");
    return 0;
}

typedef struct td_strings {
    char cpu[16], memory[16];
    bg_aws_kv_t *env;
    size_t n_env;
} td_strings_t;

/* The revision as a task definition of family <name>. */
static void taskdef_of(const ecs_svc_t *svc, const bg_revision_config_t *rev, td_strings_t *ts,
                       bg_aws_taskdef_t *td)
{
    const bg_ecs_config_t *e = &svc->cfg->ecs;
    unsigned cpu = rev->cpu_millis ? (unsigned)((uint64_t)rev->cpu_millis * 1024 / 1000) : 256;
    uint64_t mem = rev->memory_bytes ? rev->memory_bytes / (1024 * 1024) : 512;

    snprintf(ts->cpu, sizeof(ts->cpu), "%u", cpu < 128 ? 128 : cpu);
    snprintf(ts->memory, sizeof(ts->memory), "%" PRIu64, mem < 128 ? (uint64_t)128 : mem);
    ts->n_env = rev->n_env + 2;
    ts->env = bg_xcalloc(ts->n_env, sizeof(*ts->env));
    ts->env[0] = (bg_aws_kv_t){"BLUEGREEN_SERVICE", svc->cfg->name};
    ts->env[1] = (bg_aws_kv_t){"BLUEGREEN_VERSION", rev->version ? rev->version : "0.0.0"};
    for (size_t i = 0; i < rev->n_env; i++)
        ts->env[i + 2] = (bg_aws_kv_t){rev->env[i].key, rev->env[i].value};
    *td = (bg_aws_taskdef_t){.family = svc->cfg->name,
                             .container = svc->cfg->name,
                             .image = rev->image,
                             .cpu = ts->cpu,
                             .memory = ts->memory,
                             .port = rev->port ? rev->port : 8080,
                             .env = ts->env,
                             .n_env = ts->n_env,
                             .execution_role_arn = e->execution_role_arn,
                             .task_role_arn = e->task_role_arn,
                             .log_group = e->log_group};
}

static int register_td(ecs_svc_t *svc, const bg_revision_config_t *rev, bg_aws_arn_cb cb, void *arg)
{
    td_strings_t ts;
    bg_aws_taskdef_t td;
    int rc;

    taskdef_of(svc, rev, &ts, &td);
    rc = bg_aws_ecs_register(svc->aws, &td, cb, arg);
    free(ts.env);
    return rc;
}

static void on_resolve_retry(uv_timer_t *t);

static void resolve_free(ecs_resolve_t *r)
{
    bg_revision_config_fini(&r->rev);
    free(r->arn);
    free(r);
}

static void on_resolve_timer_closed(uv_handle_t *h)
{
    resolve_free(h->data);
}

static void on_resolved(void *arg, int status, const char *arn, const bg_err_t *err)
{
    ecs_resolve_t *r = arg;

    if (!r->detached && retryable(status) && !r->svc->drv->closing &&
        bg_now_ms() - r->started_ms < RETRY_FOR_MS) {
        bg_log(BG_LOG_WARN, "ecs", "msg=\"task definition not registered; retrying\" service=%s err=\"%s\"",
               r->svc->cfg->name, errmsg(err, status));
        uv_timer_start(&r->timer, on_resolve_retry, RETRY_EVERY_MS, 0);
        return;
    }
    if (!r->detached) {
        bg_list_remove(&r->link);
        if (status == 0)
            r->cb(r->arg, 0, arn, NULL);
        else
            r->cb(r->arg, status, NULL, errmsg(err, status));
    }
    uv_close((uv_handle_t *)&r->timer, on_resolve_timer_closed);
}

static void on_resolve_retry(uv_timer_t *t)
{
    ecs_resolve_t *r = t->data;
    int rc;

    if (r->detached || r->svc->drv->closing) {
        uv_close((uv_handle_t *)&r->timer, on_resolve_timer_closed);
        return;
    }
    rc = register_td(r->svc, &r->rev, on_resolved, r);
    if (rc != 0) {
        bg_list_remove(&r->link);
        r->detached = true;
        r->cb(r->arg, rc, NULL, "registering the task definition: the call could not be queued");
        uv_close((uv_handle_t *)&r->timer, on_resolve_timer_closed);
    }
}


static void on_pinned(uv_timer_t *t)
{
    ecs_resolve_t *r = t->data;

    if (!r->detached) {
        bg_list_remove(&r->link);
        r->detached = true;
        if (r->fail_rc != 0)
            r->cb(r->arg, r->fail_rc, NULL, "registering the task definition: the call could not be queued");
        else
            r->cb(r->arg, 0, r->arn, NULL);
    }
    uv_close((uv_handle_t *)&r->timer, on_resolve_timer_closed);
}

static void ecs_resolve(bg_driver_t *d, const char *service, const bg_revision_config_t *rev,
                        bg_driver_progress_cb progress, bg_driver_resolve_cb cb, void *arg)
{
    ecs_driver_t *drv = drv_of(d);
    ecs_svc_t *svc = svc_find(drv, service);
    ecs_resolve_t *r = BG_NEW(ecs_resolve_t);
    int rc;

    (void)progress;
    BG_ASSERT(svc != NULL); /* validate() said so */
    r->cb = cb;
    r->arg = arg;
    r->svc = svc;
    r->started_ms = bg_now_ms();
    bg_revision_config_copy(&r->rev, rev);
    uv_timer_init(drv->base.loop, &r->timer);
    r->timer.data = r;
    bg_list_insert_tail(&drv->resolves, &r->link);
    if (is_td_arn(rev->image)) {
        /* Already pinned (a rollback's or a re-deployed revision): runs as it is (the
         * slot's UpdateService says so if it no longer exists). */
        r->arn = bg_strdup(rev->image);
        uv_timer_start(&r->timer, on_pinned, 0, 0);
        return;
    }
    rc = register_td(svc, rev, on_resolved, r);
    if (rc != 0) {
        /* nothing queued: answered from the loop */
        r->fail_rc = rc;
        uv_timer_start(&r->timer, on_pinned, 0, 0);
    }
}

static void ecs_cancel_resolve(bg_driver_t *d, void *arg)
{
    bg_list_t *pos, *tmp;
    bg_list_foreach_safe(pos, tmp, &drv_of(d)->resolves)
    {
        ecs_resolve_t *r = BG_CONTAINER_OF(pos, ecs_resolve_t, link);
        if (r->arg == arg) {
            bg_list_remove(&r->link);
            r->detached = true;
        }
    }
}

/* ---- the test listener rule: the preview ---- */

static void starting_done(ecs_slot_t *sl, int status, const char *msg);
static void scale_down_maybe(ecs_slot_t *sl);
static void act_begin(ecs_slot_t *sl, bool serving);

/* True when step <step> failed on something passing (throttling, 5xx, a timeout) and is
 * scheduled again (on_tick runs it). */
static bool bringup_retry(ecs_slot_t *sl, int step, int status, const bg_err_t *err)
{
    if (!retryable(status) || bg_now_ms() - sl->bringup_started_ms >= RETRY_FOR_MS)
        return false;
    bg_log(BG_LOG_WARN, "ecs", "msg=\"bring-up step failed; retrying\" service=%s step=%d err=\"%s\"",
           sl->name, step, errmsg(err, status));
    sl->retry_step = step;
    sl->retry_at_ms = bg_now_ms() + RETRY_EVERY_MS;
    return true;
}

static void on_test_rule(void *arg, int status, uint64_t verify_ms, const bg_err_t *err)
{
    ecs_slot_t *sl = arg;
    char msg[512];

    (void)verify_ms;
    if (status == UV_ECANCELED || sl->svc->drv->closing)
        return;
    if (status == 0) {
        bg_log(BG_LOG_INFO, "ecs", "msg=\"test listener rule points at the preview\" service=%s slot=%s",
               sl->svc->cfg->name, bg_slot_str((bg_slot_t)sl->slot));
        act_begin(sl, false);
        starting_done(sl, 0, "");
    } else if (bringup_retry(sl, STEP_TEST_RULE, status, err)) {
        return;
    } else {
        snprintf(msg, sizeof(msg), "test listener rule: %.400s", errmsg(err, status));
        starting_done(sl, status, msg);
    }
    scale_down_maybe(sl);
}

/* ---- Actuator health through the test listener ---- */

static bool act_enabled(const ecs_svc_t *svc)
{
    const bg_ecs_config_t *e = &svc->cfg->ecs;
    return svc->cfg->health.format == BG_HEALTH_FORMAT_ACTUATOR && e->test_url != NULL &&
           e->test_listener_rule_arn != NULL;
}

/* The test rule now points at <sl>: its Actuator body is what the test listener answers,
 * judged from scratch: unhealthy until healthy_threshold passes, or, for a slot found
 * <serving> at boot, healthy until unhealthy_threshold failures (as an adopted target). */
static void act_begin(ecs_slot_t *sl, bool serving)
{
    ecs_svc_t *svc = sl->svc;

    svc->test_slot = sl->slot;
    for (int s = 0; s < BG_SLOT_COUNT; s++) {
        svc->slot[s].act_on = false;
        svc->slot[s].act_gen++;
    }
    if (!act_enabled(svc))
        return;
    sl->act_on = true;
    sl->act_ok = serving;
    sl->act_pass = sl->act_fail = 0;
    sl->act_at_ms = 0;
    sl->act_path = svc->cfg->health.path != NULL ? ACT_PATH_CONFIGURED : ACT_PATH_TRY_READINESS;
    snprintf(sl->act_reason, sizeof(sl->act_reason), serving ? "UP (before the restart)" : "no answer yet");
}

/* The test listener's origin (scheme://host:port of test_url) and the health path. */
static char *act_url(const ecs_slot_t *sl)
{
    const bg_service_config_t *c = sl->svc->cfg;
    const char *u = c->ecs.test_url, *sep = strstr(u, "://");
    size_t origin = sep != NULL ? (size_t)(sep + 3 - u) + strcspn(sep + 3, "/?#") : strlen(u);
    const char *path = c->health.path != NULL              ? c->health.path
                       : sl->act_path == ACT_PATH_ACTUATOR ? "/actuator/health"
                                                           : "/actuator/health/readiness";

    return bg_asprintf("%.*s%s", (int)origin, u, path);
}

static void act_verdict(ecs_slot_t *sl, bool pass, const char *reason)
{
    const bg_health_config_t *h = &sl->svc->cfg->health;
    uint32_t up = h->healthy_threshold ? h->healthy_threshold : 1;
    uint32_t down = h->unhealthy_threshold ? h->unhealthy_threshold : 1;
    bool was = sl->act_ok;

    snprintf(sl->act_reason, sizeof(sl->act_reason), "%s", reason);
    if (pass) {
        sl->act_pass++;
        sl->act_fail = 0;
        if (!sl->act_ok && sl->act_pass >= up)
            sl->act_ok = true;
    } else {
        sl->act_fail++;
        sl->act_pass = 0;
        if (sl->act_ok && sl->act_fail >= down)
            sl->act_ok = false;
    }
    if (was != sl->act_ok || (!pass && sl->act_fail == 1))
        bg_log(pass ? BG_LOG_INFO : BG_LOG_WARN, "ecs",
               "msg=\"actuator through the test listener\" service=%s healthy=%s reason=\"%s\"",
               sl->name, sl->act_ok ? "true" : "false", reason);
}

typedef struct act_ctx {
    ecs_slot_t *sl;
    unsigned gen;
} act_ctx_t;

static void on_act(void *arg, const bg_aws_fetched_t *f)
{
    act_ctx_t c = *(act_ctx_t *)arg;
    ecs_slot_t *sl = c.sl;
    char reason[256];
    bool pass;

    free(arg);
    if (sl->svc->drv->closing)
        return;
    sl->act_busy = false;
    if (c.gen != sl->act_gen || !sl->act_on)
        return;
    if (f->status == 404 && sl->act_path == ACT_PATH_TRY_READINESS) {
        /* No readiness group: the whole-system health, for good, checked again at once. */
        bg_log(BG_LOG_INFO, "ecs", "msg=\"readiness group 404 through the test listener; "
                                   "using /actuator/health\" service=%s", sl->name);
        sl->act_path = ACT_PATH_ACTUATOR;
        sl->act_at_ms = 0;
        return;
    }
    if (f->status != 0 && sl->act_path == ACT_PATH_TRY_READINESS)
        sl->act_path = ACT_PATH_READINESS;
    if (f->status == 0) {
        pass = false;
        snprintf(reason, sizeof(reason), "no answer: %.200s", f->error);
    } else {
        /* src/health's judge: "DOWN (db: DOWN)" names the failing components. */
        pass = bg_actuator_judge((int)f->status, f->body, f->len, reason, sizeof(reason)) ==
               BG_ACTUATOR_HEALTHY;
        if (pass && !bg_actuator_content_type_ok(f->content_type)) {
            pass = false;
            snprintf(reason, sizeof(reason), "HTTP %ld, Content-Type \"%.100s\" is not Actuator JSON",
                     f->status, f->content_type);
        }
    }
    act_verdict(sl, pass, reason);
}

static void act_fetch(ecs_slot_t *sl, uint64_t now)
{
    const bg_health_config_t *h = &sl->svc->cfg->health;
    act_ctx_t *c = BG_NEW(act_ctx_t);
    char *url = act_url(sl);
    int rc;

    c->sl = sl;
    c->gen = sl->act_gen;
    sl->act_busy = true;
    sl->act_at_ms = now + (h->interval_ms ? h->interval_ms : 5000);
    rc = bg_aws_fetch(sl->svc->aws, url, ACT_ACCEPT, h->timeout_ms ? h->timeout_ms : 2000, on_act,
                      c);
    free(url);
    if (rc != 0) {
        sl->act_busy = false;
        free(c);
    }
}

/* The slot runs: the test listener rule (if any) points at it before its instances are
 * reported started, so TEST_TRAFFIC reaches exactly this slot. */
static void point_test_rule(ecs_slot_t *sl)
{
    const bg_ecs_config_t *e = &sl->svc->cfg->ecs;
    int rc;

    if (e->test_listener_rule_arn == NULL) {
        starting_done(sl, 0, "");
        scale_down_maybe(sl);
        return;
    }
    rc = bg_aws_alb_set_weights(sl->svc->aws, e->test_listener_rule_arn, e->target_groups[0],
                                sl->slot == 0 ? 100 : 0, e->target_groups[1],
                                sl->slot == 1 ? 100 : 0, VERIFY_TIMEOUT_MS, on_test_rule, sl);
    if (rc != 0) {
        starting_done(sl, rc, "test listener rule: the call could not be queued");
        scale_down_maybe(sl);
    }
}

/* ---- bring-up: task definition, then the slot's service at count ---- */

static void starting_done(ecs_slot_t *sl, int status, const char *msg)
{
    bg_list_t *pos, *tmp;

    sl->bringing_up = false;
    bg_list_foreach_safe(pos, tmp, &sl->insts)
    {
        ecs_inst_t *in = BG_CONTAINER_OF(pos, ecs_inst_t, link);
        if (in->pub.state != BG_INSTANCE_STARTING)
            continue;
        if (status == 0) {
            in->pub.state = BG_INSTANCE_RUNNING;
        } else {
            in->pub.state = BG_INSTANCE_STOPPED;
            snprintf(in->pub.error, sizeof(in->pub.error), "%s", msg);
        }
        if (in->start_cb != NULL) {
            bg_instance_cb cb = in->start_cb;
            in->start_cb = NULL;
            cb(in->start_arg, &in->pub, status);
        }
    }
}

static void on_applied(void *arg, int status, const char *arn, const bg_err_t *err)
{
    ecs_slot_t *sl = arg;
    char msg[512];

    if (status == UV_ECANCELED || sl->svc->drv->closing)
        return;
    if (status != 0) {
        if (bringup_retry(sl, STEP_APPLY, status, err))
            return;
        snprintf(msg, sizeof(msg), "ecs service %s: %.300s", sl->name, errmsg(err, status));
        starting_done(sl, status, msg);
        scale_down_maybe(sl);
        return;
    }
    bg_log(BG_LOG_INFO, "ecs", "msg=\"slot service applied\" service=%s arn=%s tasks=%u td=%s",
           sl->name, arn, sl->count, sl->td);
    /* Test builds: the daemon dies with the service created (its tasks starting) but no
     * instance row committed; the next boot's scan must find it and scale it to 0. */
    if (bg_fault("ecs.crash_after_apply"))
        raise(SIGKILL);
    point_test_rule(sl);
}

static void apply_service(ecs_slot_t *sl)
{
    const bg_ecs_config_t *e = &sl->svc->cfg->ecs;
    bg_aws_service_spec_t spec = {.cluster = e->cluster,
                                  .name = sl->name,
                                  .task_definition = sl->td,
                                  .desired = sl->count,
                                  .target_group_arn = e->target_groups[sl->slot],
                                  .container = sl->svc->cfg->name,
                                  .port = sl->svc->cfg->rev.port ? sl->svc->cfg->rev.port : 8080,
                                  .launch_type = e->launch_type,
                                  .subnets = (const char *const *)e->subnets,
                                  .n_subnets = e->n_subnets,
                                  .security_groups = (const char *const *)e->security_groups,
                                  .n_security_groups = e->n_security_groups,
                                  .assign_public_ip = e->assign_public_ip};
    int rc = bg_aws_ecs_apply(sl->svc->aws, &spec, on_applied, sl);

    if (rc != 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "ecs service %s: %s", sl->name, bg_strerror(rc));
        starting_done(sl, rc, msg);
    }
}

static void on_bringup_td(void *arg, int status, const char *arn, const bg_err_t *err)
{
    ecs_slot_t *sl = arg;
    char msg[512];

    if (status == UV_ECANCELED || sl->svc->drv->closing)
        return;
    if (status != 0) {
        if (bringup_retry(sl, STEP_REGISTER, status, err))
            return;
        snprintf(msg, sizeof(msg), "registering the task definition: %.400s", errmsg(err, status));
        starting_done(sl, status, msg);
        return;
    }
    free(sl->td);
    sl->td = bg_strdup(arn);
    apply_service(sl);
}

static void bring_up(ecs_slot_t *sl, const bg_revision_config_t *rev)
{
    int rc;

    sl->bringing_up = true;
    sl->bringup_started_ms = bg_now_ms();
    sl->retry_step = STEP_NONE;
    if (sl->have_rev)
        bg_revision_config_fini(&sl->rev);
    bg_revision_config_copy(&sl->rev, rev);
    sl->have_rev = true;
    sl->gen++;
    sl->have_health = sl->have_status = sl->missing = false;
    sl->was_healthy = sl->fail_reported = false;
    sl->count = rev->count;
    snprintf(sl->version, sizeof(sl->version), "%s", rev->version ? rev->version : "");
    if (is_td_arn(rev->image)) {
        free(sl->td);
        sl->td = bg_strdup(rev->image);
        apply_service(sl);
        return;
    }
    rc = register_td(sl->svc, rev, on_bringup_td, sl);
    if (rc != 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "registering the task definition: %s", bg_strerror(rc));
        starting_done(sl, rc, msg);
    }
}

static ecs_inst_t *inst_new(ecs_slot_t *sl, const bg_instance_spec_t *spec)
{
    ecs_inst_t *in = BG_NEW(ecs_inst_t);

    in->pub.driver = &sl->svc->drv->base;
    in->pub.service = bg_strdup(spec->service);
    in->pub.slot = spec->slot;
    in->pub.revision = spec->revision;
    in->pub.index = spec->index;
    in->pub.last_exit_status = -1;
    snprintf(in->pub.version, sizeof(in->pub.version), "%s",
             spec->rev != NULL && spec->rev->version ? spec->rev->version : "");
    snprintf(in->pub.address, sizeof(in->pub.address), "ecs:%.60s#%u", sl->name, spec->index);
    snprintf(in->pub.handle, sizeof(in->pub.handle), "ecs:%.60s/%.50s#%u",
             sl->svc->cfg->ecs.cluster, sl->name, spec->index);
    in->sl = sl;
    in->linked = true;
    bg_list_insert_tail(&sl->insts, &in->link);
    return in;
}

static int ecs_start(bg_driver_t *d, const bg_instance_spec_t *spec, bg_instance_cb cb, void *arg,
                     bg_instance_t **out, bg_err_t *err)
{
    ecs_svc_t *svc = svc_find(drv_of(d), spec->service);
    ecs_slot_t *sl;
    ecs_inst_t *in;

    if (svc == NULL)
        return bg_err_set(err, BG_EINVAL, "service %s has no ecs: configuration", spec->service);
    if (spec->rev == NULL || spec->rev->image == NULL)
        return bg_err_set(err, BG_EINVAL, "service %s: no image to run", spec->service);
    sl = &svc->slot[spec->slot];
    in = inst_new(sl, spec);
    in->pub.state = BG_INSTANCE_STARTING;
    in->start_cb = cb;
    in->start_arg = arg;
    *out = &in->pub;
    /* The first instance of a slot brings the whole slot up; the others join it. */
    if (!sl->bringing_up)
        bring_up(sl, spec->rev);
    return 0;
}

static int ecs_adopt(bg_driver_t *d, const bg_instance_spec_t *spec, const char *address,
                     const char *handle, bg_instance_t **out, bg_err_t *err)
{
    ecs_svc_t *svc = svc_find(drv_of(d), spec->service);
    ecs_slot_t *sl;
    ecs_inst_t *in;

    (void)address;
    if (svc == NULL)
        return bg_err_set(err, BG_ENOTFOUND, "service %s has no ecs: configuration",
                          spec->service);
    sl = &svc->slot[spec->slot];
    if (handle != NULL && strstr(handle, sl->name) == NULL)
        return bg_err_set(err, BG_ENOTFOUND, "handle %s is not of ecs service %s", handle,
                          sl->name);
    in = inst_new(sl, spec);
    in->pub.state = BG_INSTANCE_RUNNING;
    /* It was serving: the poll says otherwise if the service is gone. */
    sl->was_healthy = true;
    if (spec->rev != NULL) {
        if (spec->rev->count > sl->count)
            sl->count = spec->rev->count;
        snprintf(sl->version, sizeof(sl->version), "%s", spec->rev->version ? spec->rev->version : "");
        if (is_td_arn(spec->rev->image)) {
            free(sl->td);
            sl->td = bg_strdup(spec->rev->image);
        }
    }
    *out = &in->pub;
    return 0;
}

/* ---- scale-down ---- */

static unsigned wanted_tasks(ecs_slot_t *sl, bool *any_stopping)
{
    unsigned want = 0;
    bg_list_t *pos;

    *any_stopping = false;
    bg_list_foreach(pos, &sl->insts)
    {
        ecs_inst_t *in = BG_CONTAINER_OF(pos, ecs_inst_t, link);
        if (in->pub.state == BG_INSTANCE_STOPPING)
            *any_stopping = true;
        else if (in->pub.state == BG_INSTANCE_RUNNING || in->pub.state == BG_INSTANCE_STARTING)
            want++;
    }
    return want;
}

static void stopped_done(ecs_slot_t *sl)
{
    bg_list_t *pos, *tmp;

    sl->scaling_down = false;
    sl->scaled_to = -1;
    bg_list_foreach_safe(pos, tmp, &sl->insts)
    {
        ecs_inst_t *in = BG_CONTAINER_OF(pos, ecs_inst_t, link);
        if (in->pub.state != BG_INSTANCE_STOPPING)
            continue;
        in->pub.state = BG_INSTANCE_STOPPED;
        if (in->stop_cb != NULL) {
            bg_instance_cb cb = in->stop_cb;
            in->stop_cb = NULL;
            cb(in->stop_arg, &in->pub, 0);
        }
    }
}

static void scale_down_maybe(ecs_slot_t *sl);

static void on_scaled(void *arg, const bg_aws_result_t *res)
{
    ecs_slot_t *sl = arg;

    if (res->status == UV_ECANCELED || sl->svc->drv->closing)
        return;
    sl->scale_inflight = false;
    if (res->status == BG_ENOTFOUND || (res->aws_code && strstr(res->aws_code, "NotActive"))) {
        stopped_done(sl); /* nothing left to stop */
        return;
    }
    if (res->status != 0) {
        /* the next tick sends it again */
        bg_log(BG_LOG_WARN, "ecs", "msg=\"scale-down failed; retrying\" service=%s err=\"%s\"",
               sl->name, res->err.msg);
        return;
    }
    sl->scaled_to = sl->scaling_to;
    sl->have_status = sl->have_health = false; /* wait for a fresh poll */
    sl->gen++;
    scale_down_maybe(sl); /* more instances may have been stopped meanwhile */
}

static void send_scale(ecs_slot_t *sl, unsigned want)
{
    const bg_ecs_config_t *e = &sl->svc->cfg->ecs;

    sl->scale_inflight = true;
    sl->scaling_to = (int)want;
    sl->count = want;
    if (bg_aws_call(sl->svc->aws, &bg_aws_ecs, "UpdateService",
                    json_pack("{s:s, s:s, s:i}", "cluster", e->cluster, "service", sl->name,
                              "desiredCount", (int)want),
                    on_scaled, sl) != 0)
        sl->scale_inflight = false;
}

/* Instances are being stopped: the service goes down to the count still wanted (each stop
 * may lower it again; one UpdateService at a time). */
static void scale_down_maybe(ecs_slot_t *sl)
{
    bool any;
    unsigned want = wanted_tasks(sl, &any);

    if (!any || sl->bringing_up)
        return;
    if (!sl->scaling_down) {
        sl->scaling_down = true;
        sl->scale_deadline_ms = bg_now_ms() + SCALE_DOWN_LIMIT_MS;
    }
    /* Never while a switch is being written or waits: the rule may still send this slot
     * traffic that the switch is about to take away (a rollback, a restart's reconcile). */
    if (sl->svc->sw_busy || sl->svc->want_pending)
        return;
    if (!sl->scale_inflight && sl->scaled_to != (int)want)
        send_scale(sl, want);
}

/* After a poll: the tasks are gone and the targets drained (deregistration delay). */
static void scale_down_check(ecs_slot_t *sl)
{
    bool any;
    unsigned want = wanted_tasks(sl, &any);

    if (!sl->scaling_down || sl->scale_inflight || sl->scaled_to != (int)want)
        return;
    if (sl->missing || (sl->have_status && sl->have_health &&
                        sl->status.running + sl->status.pending <= want &&
                        (want > 0 || sl->health.draining + sl->health.healthy +
                                             sl->health.initial + sl->health.unhealthy ==
                                         0))) {
        bg_log(BG_LOG_INFO, "ecs", "msg=\"slot scaled down\" service=%s tasks=%u", sl->name, want);
        stopped_done(sl);
    } else if (bg_now_ms() >= sl->scale_deadline_ms) {
        bg_log(BG_LOG_WARN, "ecs",
               "msg=\"scale-down not confirmed in time; taken as done\" service=%s running=%u",
               sl->name, sl->status.running);
        stopped_done(sl);
    }
}

static void ecs_stop(bg_driver_t *d, bg_instance_t *inst, bg_instance_cb cb, void *arg)
{
    ecs_inst_t *in = (ecs_inst_t *)inst;

    (void)d;
    if (inst->state == BG_INSTANCE_STOPPED || !in->linked) {
        inst->state = BG_INSTANCE_STOPPED;
        cb(arg, inst, 0);
        return;
    }
    if (inst->state == BG_INSTANCE_STARTING && in->start_cb != NULL) {
        bg_instance_cb scb = in->start_cb;
        in->start_cb = NULL;
        inst->state = BG_INSTANCE_STOPPING;
        scb(in->start_arg, inst, BG_EUNAVAIL);
    }
    inst->state = BG_INSTANCE_STOPPING;
    in->stop_cb = cb;
    in->stop_arg = arg;
    scale_down_maybe(in->sl);
}

/* ---- polling: health, service status, figures ---- */

static bool is_start_failure(const bg_aws_service_status_t *st)
{
    return strcmp(st->stop_code, "TaskFailedToStart") == 0 ||
           strcmp(st->stop_code, "EssentialContainerExited") == 0 ||
           strstr(st->stopped_reason, "CannotPull") != NULL ||
           strstr(st->stopped_reason, "Essential container") != NULL ||
           strstr(st->stopped_reason, "ResourceInitializationError") != NULL;
}

static void report_exit(ecs_slot_t *sl, const char *why)
{
    ecs_driver_t *drv = sl->svc->drv;
    bg_list_t *pos, *tmp;

    bg_list_foreach_safe(pos, tmp, &sl->insts)
    {
        ecs_inst_t *in = BG_CONTAINER_OF(pos, ecs_inst_t, link);
        if (in->pub.state != BG_INSTANCE_RUNNING)
            continue;
        in->pub.state = BG_INSTANCE_STOPPED;
        snprintf(in->pub.error, sizeof(in->pub.error), "%s", why);
        if (drv->base.events.exited != NULL)
            drv->base.events.exited(drv->base.events.ctx, &in->pub);
        return; /* one is enough: the controller acts on the slot */
    }
}

static void poll_done(ecs_slot_t *sl)
{
    char why[600];
    bool any;

    sl->polling = false;
    if (sl->have_health && sl->health.healthy >= sl->count && sl->count > 0)
        sl->was_healthy = true;
    scale_down_check(sl);
    if (sl->bringing_up || sl->scaling_down || wanted_tasks(sl, &any) == 0)
        return;
    if (sl->missing) {
        snprintf(why, sizeof(why), "ECS service %s is gone (not found or INACTIVE)", sl->name);
        report_exit(sl, why);
        return;
    }
    if (!sl->was_healthy && !sl->fail_reported && sl->have_status && sl->td != NULL &&
        strcmp(sl->status.stopped_task_definition, sl->td) == 0 && is_start_failure(&sl->status)) {
        sl->fail_reported = true;
        snprintf(why, sizeof(why), "task stopped: %s%s%s", sl->status.stopped_reason,
                 sl->status.stop_code[0] ? " (" : "", sl->status.stop_code[0] ? sl->status.stop_code : "");
        if (sl->status.stop_code[0])
            strncat(why, ")", sizeof(why) - strlen(why) - 1);
        report_exit(sl, why);
    }
}

typedef struct poll_ctx {
    ecs_slot_t *sl;
    unsigned gen;
} poll_ctx_t;

static void poll_step(poll_ctx_t *pc)
{
    ecs_slot_t *sl = pc->sl;
    free(pc);
    if (sl->svc->drv->closing)
        return;
    if (--sl->poll_left == 0)
        poll_done(sl);
}

static void on_poll_health(void *arg, int status, const bg_aws_tg_health_t *h, const bg_err_t *err)
{
    poll_ctx_t *pc = arg;
    ecs_slot_t *sl = pc->sl;

    if (status == 0 && pc->gen == sl->gen) {
        sl->health = *h;
        sl->have_health = true;
    } else if (status != 0 && status != UV_ECANCELED) {
        bg_log(BG_LOG_DEBUG, "ecs", "msg=\"target health not read\" service=%s err=\"%s\"", sl->name,
               errmsg(err, status));
    }
    poll_step(pc);
}

static void on_poll_status(void *arg, int status, const bg_aws_service_status_t *st,
                           const bg_err_t *err)
{
    poll_ctx_t *pc = arg;
    ecs_slot_t *sl = pc->sl;

    if (pc->gen == sl->gen) {
        if (status == 0) {
            sl->status = *st;
            sl->have_status = true;
            sl->missing = !st->active;
        } else if (status == BG_ENOTFOUND) {
            memset(&sl->status, 0, sizeof(sl->status));
            sl->have_status = true;
            sl->missing = true;
        } else if (status != UV_ECANCELED) {
            bg_log(BG_LOG_DEBUG, "ecs", "msg=\"service status not read\" service=%s err=\"%s\"",
                   sl->name, errmsg(err, status));
        }
    }
    poll_step(pc);
}

static void poll_slot(ecs_slot_t *sl)
{
    const bg_ecs_config_t *e = &sl->svc->cfg->ecs;
    poll_ctx_t *a = BG_NEW(poll_ctx_t), *b = BG_NEW(poll_ctx_t);

    a->sl = b->sl = sl;
    a->gen = b->gen = sl->gen;
    sl->polling = true;
    sl->polled_ms = bg_now_ms();
    sl->poll_left = 2;
    if (bg_aws_alb_target_health(sl->svc->aws, e->target_groups[sl->slot], on_poll_health, a) != 0) {
        free(a);
        sl->poll_left--;
    }
    if (bg_aws_ecs_status(sl->svc->aws, e->cluster, sl->name, on_poll_status, b) != 0) {
        free(b);
        sl->poll_left--;
    }
    if (sl->poll_left == 0)
        sl->polling = false;
}

static void on_metrics(void *arg, int status, const bg_aws_tg_metrics_t *m, const bg_err_t *err)
{
    ecs_slot_t *sl = arg;

    sl->metrics_busy = false;
    if (status == UV_ECANCELED || sl->svc->drv->closing)
        return;
    if (status != 0) {
        /* the same range (and more) is asked again next time */
        bg_log(BG_LOG_DEBUG, "ecs", "msg=\"metrics not read\" service=%s err=\"%s\"", sl->name,
               errmsg(err, status));
        return;
    }
    if (sl->metrics_from_s == 0)
        return; /* counting was stopped meanwhile */
    sl->metrics_from_s = sl->metrics_to_s;
    uint64_t req = (uint64_t)(m->requests + 0.5), err5 = (uint64_t)(m->target_5xx + 0.5);
    if (err5 > req)
        err5 = req;
    atomic_fetch_add_explicit(&sl->stats.responses[5], err5, memory_order_relaxed);
    atomic_fetch_add_explicit(&sl->stats.responses[2], req - err5, memory_order_relaxed);
    if (req > 0) {
        uint64_t us = m->have_p99 ? (uint64_t)(m->p99_s * 1e6) : 0;
        int b = 0;
        while (b < BG_LATENCY_BUCKETS - 1 && us > bg_latency_bounds_us[b])
            b++;
        atomic_fetch_add_explicit(&sl->stats.latency_bucket[b], req, memory_order_relaxed);
    }
}

static void poll_metrics(ecs_slot_t *sl, uint64_t now)
{
    const bg_ecs_config_t *e = &sl->svc->cfg->ecs;
    int64_t to = (int64_t)time(NULL) - METRICS_LAG_S;

    if (sl->metrics_busy || now - sl->metrics_polled_ms < METRICS_EVERY_MS)
        return;
    sl->metrics_polled_ms = now;
    if (sl->metrics_from_s == 0) {
        sl->metrics_from_s = to; /* counting starts now */
        return;
    }
    if (to <= sl->metrics_from_s)
        return;
    if (bg_aws_alb_metrics_range(sl->svc->aws, e->target_groups[sl->slot], e->load_balancer_arn,
                                 sl->metrics_from_s, to, on_metrics, sl) == 0) {
        sl->metrics_busy = true;
        sl->metrics_to_s = to;
    }
}

static void run_step(ecs_slot_t *sl, int step)
{
    int rc;

    switch (step) {
    case STEP_REGISTER:
        rc = register_td(sl->svc, &sl->rev, on_bringup_td, sl);
        if (rc != 0)
            starting_done(sl, rc, "registering the task definition: the call could not be queued");
        break;
    case STEP_APPLY:
        apply_service(sl);
        break;
    case STEP_TEST_RULE:
        point_test_rule(sl);
        break;
    default:
        break;
    }
}

static void on_tick(uv_timer_t *t)
{
    ecs_driver_t *drv = t->data;
    uint64_t now = bg_now_ms();
    bg_list_t *pos;

    bg_list_foreach(pos, &drv->svcs)
    {
        ecs_svc_t *svc = BG_CONTAINER_OF(pos, ecs_svc_t, link);
        for (int s = 0; s < BG_SLOT_COUNT; s++) {
            ecs_slot_t *sl = &svc->slot[s];
            if (!bg_list_is_empty(&sl->insts) && !sl->polling &&
                now - sl->polled_ms >= HEALTH_EVERY_MS)
                poll_slot(sl);
            if (sl->retry_step != STEP_NONE && now >= sl->retry_at_ms && !drv->closing) {
                int step = sl->retry_step;
                sl->retry_step = STEP_NONE;
                run_step(sl, step);
            }
            if (sl->scaling_down && !sl->scale_inflight)
                scale_down_maybe(sl);
            if (sl->act_on && !sl->act_busy && !sl->bringing_up && !sl->scaling_down &&
                !bg_list_is_empty(&sl->insts) && now >= sl->act_at_ms && !drv->closing)
                act_fetch(sl, now);
            if (sl->metrics_asked_ms != 0 && now - sl->metrics_asked_ms < METRICS_IDLE_MS)
                poll_metrics(sl, now);
            else
                sl->metrics_from_s = 0;
        }
    }
}

/* ---- weights ---- */

static void sw_start(ecs_svc_t *svc);

static void sw_done(ecs_svc_t *svc, int status, const char *msg)
{
    sw_waiter_t *w = svc->sw_waiters;
    double ms = (double)(bg_now_us() - svc->sw_t0) / 1000.0;

    svc->sw_waiters = NULL;
    svc->sw_busy = false;
    if (status == 0)
        bg_log(BG_LOG_INFO, "ecs", "msg=\"switch verified\" service=%s blue=%u green=%u ms=%.1f",
               svc->cfg->name, svc->sw_w[0], svc->sw_w[1], ms);
    else
        bg_log(BG_LOG_WARN, "ecs", "msg=\"switch not verified\" service=%s err=\"%s\"",
               svc->cfg->name, msg);
    while (w != NULL) {
        sw_waiter_t *next = w->next;
        w->cb(w->arg, status, ms, msg);
        free(w);
        w = next;
    }
    if (svc->want_pending && !svc->drv->closing) {
        sw_start(svc);
        return;
    }
    for (int s = 0; s < BG_SLOT_COUNT && !svc->drv->closing; s++)
        scale_down_maybe(&svc->slot[s]);
}

static void probe_next(ecs_svc_t *svc);
static void on_probe_timer(uv_timer_t *t);

static void on_probe(void *arg, long http_status, const char *body, size_t len)
{
    ecs_svc_t *svc = arg;
    const ecs_slot_t *sl = &svc->slot[svc->probe_slot];
    char want[80], msg[256];

    if (svc->drv->closing)
        return;
    snprintf(want, sizeof(want), "\"%s\"", sl->version);
    if (http_status > 0 && memmem(body, len, want, strlen(want)) != NULL) {
        sw_done(svc, 0, "");
        return;
    }
    if (http_status > 0) {
        const char *v = memmem(body, len, "\"version\":\"", 11);
        if (v != NULL) {
            v += 11;
            size_t n = 0;
            while (v + n < body + len && v[n] != '"' && n < sizeof(svc->probe_seen) - 1)
                n++;
            snprintf(svc->probe_seen, sizeof(svc->probe_seen), "%.*s", (int)n, v);
        }
    }
    if (bg_now_ms() >= svc->probe_deadline_ms) {
        snprintf(msg, sizeof(msg), "probe %s: version %s did not answer within %us (last: %s)",
                 svc->cfg->ecs.probe_url, sl->version, PROBE_TIMEOUT_MS / 1000,
                 svc->probe_seen[0] ? svc->probe_seen : "no answer naming a version");
        sw_done(svc, BG_ETIMEDOUT, msg);
        return;
    }
    uv_timer_start(&svc->probe_timer, on_probe_timer, PROBE_EVERY_MS, 0);
}

/* A newer split is wanted while this one is being probed: the rule is rewritten at once
 * and this switch's callers wait for the newer one's outcome. */
static bool superseded(ecs_svc_t *svc)
{
    sw_waiter_t **tail;

    if (!svc->want_pending)
        return false;
    for (tail = &svc->sw_waiters; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = svc->waiting;
    svc->waiting = svc->sw_waiters;
    svc->sw_waiters = NULL;
    bg_log(BG_LOG_INFO, "ecs", "msg=\"switch superseded while probing\" service=%s blue=%u green=%u",
           svc->cfg->name, svc->sw_w[0], svc->sw_w[1]);
    sw_start(svc);
    return true;
}

static void probe_next(ecs_svc_t *svc)
{
    if (svc->drv->closing || superseded(svc))
        return;
    if (bg_aws_probe(svc->aws, svc->cfg->ecs.probe_url, PROBE_CALL_MS, on_probe, svc) != 0)
        sw_done(svc, BG_EUNAVAIL, "probe could not be sent");
}

static void sw_write(ecs_svc_t *svc);

static void on_probe_timer(uv_timer_t *t)
{
    ecs_svc_t *svc = t->data;

    if (svc->sw_retrying) {
        svc->sw_retrying = false;
        if (!superseded(svc))
            sw_write(svc);
        return;
    }
    probe_next(svc);
}

static void on_rule_written(void *arg, int status, uint64_t verify_ms, const bg_err_t *err)
{
    ecs_svc_t *svc = arg;
    uint32_t was[2] = {svc->applied[0], svc->applied[1]};
    bool had = svc->have_applied;

    if (status == UV_ECANCELED || svc->drv->closing) {
        svc->sw_busy = false;
        return;
    }
    if (status != 0) {
        if (retryable(status) && (bg_now_us() - svc->sw_t0) / 1000 < RETRY_FOR_MS) {
            bg_log(BG_LOG_WARN, "ecs", "msg=\"listener rule write failed; retrying\" service=%s err=\"%s\"",
                   svc->cfg->name, errmsg(err, status));
            svc->sw_retrying = true;
            uv_timer_start(&svc->probe_timer, on_probe_timer, RETRY_EVERY_MS, 0);
            return;
        }
        sw_done(svc, status, errmsg(err, status));
        return;
    }
    bg_log(BG_LOG_DEBUG, "ecs", "msg=\"rule reads back\" service=%s verify_ms=%" PRIu64,
           svc->cfg->name, verify_ms);
    svc->applied[0] = svc->sw_w[0];
    svc->applied[1] = svc->sw_w[1];
    svc->have_applied = true;
    /* Probe for the slot that gained weight (the one that must now answer). */
    svc->probe_slot = -1;
    svc->test_slot = -1;
    svc->boot_w[0] = svc->boot_w[1] = -1;
    for (int s = 0; s < BG_SLOT_COUNT; s++)
        if (svc->sw_w[s] > 0 && (!had || svc->sw_w[s] > was[s]) && svc->slot[s].version[0])
            svc->probe_slot = s;
    if (svc->cfg->ecs.probe_url == NULL || svc->probe_slot < 0) {
        sw_done(svc, 0, "");
        return;
    }
    svc->probe_seen[0] = '\0';
    svc->probe_deadline_ms = bg_now_ms() + PROBE_TIMEOUT_MS;
    probe_next(svc);
}

static void sw_start(ecs_svc_t *svc)
{
    svc->sw_busy = true;
    svc->want_pending = false;
    svc->sw_waiters = svc->waiting;
    svc->waiting = NULL;
    svc->sw_w[0] = svc->want[0];
    svc->sw_w[1] = svc->want[1];
    svc->sw_t0 = bg_now_us();
    sw_write(svc);
}

static void sw_write(ecs_svc_t *svc)
{
    const bg_ecs_config_t *e = &svc->cfg->ecs;
    int rc = bg_aws_alb_set_weights(svc->aws, e->listener_rule_arn, e->target_groups[0], svc->sw_w[0],
                                e->target_groups[1], svc->sw_w[1], VERIFY_TIMEOUT_MS,
                                on_rule_written, svc);
    if (rc != 0)
        sw_done(svc, rc, "the listener rule could not be written");
}

static void ecs_set_weights(bg_driver_t *d, const char *service, const uint32_t weight[2],
                            bg_driver_switch_cb cb, void *arg)
{
    ecs_svc_t *svc = svc_find(drv_of(d), service);
    sw_waiter_t *w = BG_NEW(sw_waiter_t), **tail;

    BG_ASSERT(svc != NULL);
    w->cb = cb;
    w->arg = arg;
    for (tail = &svc->waiting; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = w;
    if (svc->boot_w[0] != -1 || svc->boot_w[1] != -1) {
        /* The first split after a boot (the stored one): what AWS routed meanwhile. */
        bool same = svc->boot_w[0] == (int)weight[0] && svc->boot_w[1] == (int)weight[1];
        bg_log(same ? BG_LOG_INFO : BG_LOG_WARN, "ecs",
               "msg=\"listener rule at boot %s the stored split; writing it\" service=%s "
               "rule_blue=%d rule_green=%d blue=%u green=%u",
               same ? "matches" : "differs from", service, svc->boot_w[0], svc->boot_w[1],
               weight[0], weight[1]);
        svc->boot_w[0] = svc->boot_w[1] = -1;
    }
    svc->want[0] = weight[0];
    svc->want[1] = weight[1];
    svc->want_pending = true;
    if (!svc->sw_busy)
        sw_start(svc);
}

static void ecs_slot_health(bg_driver_t *d, const char *service, int slot,
                            bg_driver_slot_health_t *out)
{
    ecs_svc_t *svc = svc_find(drv_of(d), service);
    const ecs_slot_t *sl;

    memset(out, 0, sizeof(*out));
    if (svc == NULL)
        return;
    sl = &svc->slot[slot];
    if (sl->have_health) {
        out->healthy = sl->health.healthy;
        out->targets = sl->health.healthy + sl->health.unhealthy + sl->health.initial +
                       sl->health.other;
        snprintf(out->detail, sizeof(out->detail), "%s", sl->health.detail);
        for (size_t i = 0; i < sl->health.n_targets && i < BG_DRIVER_SLOT_TARGETS_MAX; i++) {
            const bg_aws_target_t *t = &sl->health.targets[i];
            bg_driver_slot_target_t *o = &out->target[out->n_target++];
            snprintf(o->address, sizeof(o->address), "%.60s:%u", t->id, t->port);
            snprintf(o->state, sizeof(o->state), "%s", t->state);
            snprintf(o->reason, sizeof(o->reason), "%s%s%s", t->reason,
                     t->reason[0] && t->description[0] ? ": " : "", t->description);
        }
    }
    if (sl->act_on && !sl->act_ok) {
        /* The target group may pass (a liveness path) while the app says it cannot serve. */
        out->healthy = 0;
        snprintf(out->detail, sizeof(out->detail), "actuator through the test listener: %.200s",
                 sl->act_reason);
    }
    if (sl->have_status)
        snprintf(out->stopped_reason, sizeof(out->stopped_reason), "%s", sl->status.stopped_reason);
}

static const bg_traffic_stats_t *ecs_slot_stats(bg_driver_t *d, const char *service, int slot)
{
    ecs_svc_t *svc = svc_find(drv_of(d), service);

    BG_ASSERT(svc != NULL);
    svc->slot[slot].metrics_asked_ms = bg_now_ms();
    return &svc->slot[slot].stats;
}

static const char *ecs_test_url(bg_driver_t *d, const char *service)
{
    ecs_svc_t *svc = svc_find(drv_of(d), service);
    return svc != NULL ? svc->cfg->ecs.test_url : NULL;
}

static int ecs_logs(bg_driver_t *d, bg_instance_t *inst, size_t max_bytes, bg_buf_t *out)
{
    ecs_inst_t *in = (ecs_inst_t *)inst;
    const ecs_slot_t *sl = in->linked ? in->sl : NULL;

    (void)d;
    (void)max_bytes;
    if (sl == NULL)
        return 0;
    /* Task output goes to CloudWatch Logs (log_group); what the driver knows is this. */
    bg_buf_printf(out, "ecs service %s: %u running, %u pending of %u; last stopped task: %s\n",
                  sl->name, sl->status.running, sl->status.pending, sl->status.desired,
                  sl->status.stopped_reason[0] ? sl->status.stopped_reason : "none");
    if (sl->health.detail[0])
        bg_buf_printf(out, "target health: %s\n", sl->health.detail);
    if (sl->act_on)
        bg_buf_printf(out, "actuator through the test listener: %s (%s)\n", sl->act_reason,
                      sl->act_ok ? "healthy" : "not healthy");
    return 0;
}

static void ecs_free_instance(bg_driver_t *d, bg_instance_t *inst)
{
    ecs_inst_t *in = (ecs_inst_t *)inst;

    (void)d;
    if (in->linked)
        bg_list_remove(&in->link);
    free(in->pub.service);
    free(in);
}

/* ---- scan: what runs on AWS whatever the store says (boot only) ---- */

typedef struct scan_svc scan_svc_t;
typedef struct scan_arg {
    scan_svc_t *ss;
    int what; /* 0, 1: the slot services; 2: the production rule; 3: the test rule */
} scan_arg_t;

struct scan_svc {
    ecs_svc_t *svc;
    bg_aws_t *aws;
    unsigned *pending;
    scan_arg_t args[4];
    int st_status[BG_SLOT_COUNT];
    bg_aws_service_status_t st[BG_SLOT_COUNT];
    int rule_w[2][2]; /* [production, test][blue, green]; -1: not read */
};

static void on_scan_status(void *arg, int status, const bg_aws_service_status_t *st,
                           const bg_err_t *err)
{
    scan_arg_t *a = arg;
    scan_svc_t *ss = a->ss;

    ss->st_status[a->what] = status;
    if (status == 0)
        ss->st[a->what] = *st;
    else if (status != BG_ENOTFOUND)
        bg_log(BG_LOG_WARN, "ecs", "msg=\"scan: service not described\" service=%s err=\"%s\"",
               ss->svc->slot[a->what].name, errmsg(err, status));
    (*ss->pending)--;
}

static void on_scan_rule(void *arg, int status, int w_blue, int w_green, const bg_err_t *err)
{
    scan_arg_t *a = arg;
    scan_svc_t *ss = a->ss;

    if (status == 0) {
        ss->rule_w[a->what - 2][0] = w_blue;
        ss->rule_w[a->what - 2][1] = w_green;
    } else {
        bg_log(BG_LOG_WARN, "ecs", "msg=\"scan: listener rule not read\" service=%s err=\"%s\"",
               ss->svc->cfg->name, errmsg(err, status));
    }
    (*ss->pending)--;
}

static void on_scan_closed(void *arg)
{
    (*(unsigned *)arg)--;
}

/* Queues the describes of one service on the scan's own client. */
static void scan_start(scan_svc_t *ss, uv_loop_t *loop)
{
    static const char *const ids[] = {"ecs", "elasticloadbalancing"};
    const bg_ecs_config_t *e = &ss->svc->cfg->ecs;
    /* 10 s per attempt (3 attempts): an unreachable AWS delays the boot by ~35 s at most. */
    bg_aws_options_t opts = {.region = e->region, .timeout_ms = SCAN_CALL_MS};
    const char *rules[2] = {e->listener_rule_arn, e->test_listener_rule_arn};
    bg_err_t err;

    bg_err_clear(&err);
    for (int i = 0; i < 4; i++)
        ss->args[i] = (scan_arg_t){.ss = ss, .what = i};
    for (int s = 0; s < BG_SLOT_COUNT; s++)
        ss->st_status[s] = BG_EUNAVAIL;
    memset(ss->rule_w, 0xff, sizeof(ss->rule_w)); /* -1 */
    ss->aws = bg_aws_new(loop, &opts, &err);
    if (ss->aws == NULL) {
        bg_log(BG_LOG_WARN, "ecs", "msg=\"scan: no AWS client\" service=%s err=\"%s\"",
               ss->svc->cfg->name, err.msg);
        return;
    }
    for (size_t i = 0; i < BG_ARRAY_LEN(ids); i++)
        bg_aws_set_endpoint(ss->aws, ids[i], e->endpoint_url, NULL, &err);
    for (int s = 0; s < BG_SLOT_COUNT; s++)
        if (bg_aws_ecs_status(ss->aws, e->cluster, ss->svc->slot[s].name, on_scan_status,
                              &ss->args[s]) == 0)
            (*ss->pending)++;
    for (int r = 0; r < 2; r++)
        if (rules[r] != NULL &&
            bg_aws_alb_rule_weights(ss->aws, rules[r], e->target_groups[0], e->target_groups[1],
                                    on_scan_rule, &ss->args[2 + r]) == 0)
            (*ss->pending)++;
}

/* What the describes found: every task a slot service is asked to run is reported (handle
 * "ecs:CLUSTER/NAME#i" for i < desiredCount, as start() and adopt() name them), so the
 * recovery reaps those no stored instance claims (a service created just before a crash,
 * before its rows were committed): adopted only to be stopped, it is scaled to 0. The
 * rules tell where the test rule points (the Actuator check resumes there) and what the
 * production rule routes before the stored split is written again. */
static int scan_report(scan_svc_t *ss, bg_driver_found_cb cb, void *arg)
{
    ecs_svc_t *svc = ss->svc;
    const int *tw = ss->rule_w[1];
    int rc = 0;

    svc->boot_w[0] = ss->rule_w[0][0];
    svc->boot_w[1] = ss->rule_w[0][1];
    if (tw[0] >= 0 && tw[1] >= 0 && (tw[0] == 0) != (tw[1] == 0)) {
        act_begin(&svc->slot[tw[0] > 0 ? 0 : 1], true);
    }
    for (int s = 0; s < BG_SLOT_COUNT && rc == 0; s++) {
        const bg_aws_service_status_t *st = &ss->st[s];
        const ecs_slot_t *sl = &svc->slot[s];
        if (ss->st_status[s] != 0 || !st->active)
            continue;
        bg_log(BG_LOG_INFO, "ecs", "msg=\"scan\" service=%s desired=%u running=%u pending=%u",
               sl->name, st->desired, st->running, st->pending);
        for (unsigned i = 0; i < st->desired && i < 64 && rc == 0; i++) {
            bg_driver_found_t f;
            memset(&f, 0, sizeof(f));
            f.driver = &svc->drv->base;
            f.slot = s;
            snprintf(f.service, sizeof(f.service), "%s", svc->cfg->name);
            snprintf(f.handle, sizeof(f.handle), "ecs:%.60s/%.50s#%u", svc->cfg->ecs.cluster,
                     sl->name, i);
            snprintf(f.address, sizeof(f.address), "ecs:%.60s#%u", sl->name, i);
            rc = cb(arg, &f);
        }
    }
    return rc;
}

static int ecs_scan(bg_driver_t *d, bg_driver_found_cb cb, void *arg)
{
    ecs_driver_t *drv = drv_of(d);
    size_t n = 0, k = 0;
    unsigned pending = 0, open = 0;
    scan_svc_t *v;
    uv_loop_t loop;
    bg_list_t *pos;
    int rc = 0;

    bg_list_foreach(pos, &drv->svcs)
        n++;
    if (n == 0 || uv_loop_init(&loop) != 0)
        return 0;
    /* A private loop and clients: boot only, before the control loop serves anything, and
     * nothing of the driver's own client is disturbed. Each call is bounded by the client's
     * timeouts and retries. */
    v = bg_xcalloc(n, sizeof(*v));
    bg_list_foreach(pos, &drv->svcs)
    {
        v[k].svc = BG_CONTAINER_OF(pos, ecs_svc_t, link);
        v[k].pending = &pending;
        scan_start(&v[k], &loop);
        k++;
    }
    while (pending > 0 && uv_run(&loop, UV_RUN_ONCE) != 0)
        ;
    if (pending > 0)
        bg_log(BG_LOG_WARN, "ecs", "msg=\"scan: %u describe(s) unanswered\"", pending);
    for (size_t i = 0; i < n; i++)
        if (v[i].aws != NULL) {
            open++;
            bg_aws_close(v[i].aws, on_scan_closed, &open);
        }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        bg_log(BG_LOG_WARN, "ecs", "msg=\"scan: loop not closed\" open=%u", open);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (v[i].aws != NULL)
            rc = scan_report(&v[i], cb, arg);
    free(v);
    return rc;
}

/* ---- close ---- */

static void drv_free_maybe(ecs_driver_t *drv)
{
    if (drv->open_handles > 0)
        return;
    while (!bg_list_is_empty(&drv->svcs)) {
        ecs_svc_t *svc = BG_CONTAINER_OF(drv->svcs.next, ecs_svc_t, link);
        bg_list_remove(&svc->link);
        for (int s = 0; s < BG_SLOT_COUNT; s++) {
            free(svc->slot[s].td);
            if (svc->slot[s].have_rev)
                bg_revision_config_fini(&svc->slot[s].rev);
        }
        free(svc);
    }
    void (*cb)(void *) = drv->close_cb;
    void *arg = drv->close_arg;
    free(drv);
    if (cb != NULL)
        cb(arg);
}

static void on_tick_closed(uv_handle_t *h)
{
    ecs_driver_t *drv = h->data;
    drv->open_handles--;
    drv_free_maybe(drv);
}

static void on_probe_timer_closed(uv_handle_t *h)
{
    ecs_driver_t *drv = ((ecs_svc_t *)h->data)->drv;
    drv->open_handles--;
    drv_free_maybe(drv);
}

static void on_aws_closed(void *arg)
{
    ecs_svc_t *svc = arg;
    svc->drv->open_handles--;
    drv_free_maybe(svc->drv);
}

static void ecs_close(bg_driver_t *d, void (*cb)(void *arg), void *arg)
{
    ecs_driver_t *drv = drv_of(d);
    bg_list_t *pos;

    drv->closing = true;
    drv->close_cb = cb;
    drv->close_arg = arg;
    while (!bg_list_is_empty(&drv->resolves)) {
        ecs_resolve_t *r = BG_CONTAINER_OF(drv->resolves.next, ecs_resolve_t, link);
        bg_list_remove(&r->link);
        r->detached = true;
        r->cb(r->arg, BG_EUNAVAIL, NULL, "the ecs driver closed");
    }
    drv->open_handles++; /* held while starting the closes */
    uv_close((uv_handle_t *)&drv->tick, on_tick_closed);
    drv->open_handles++;
    bg_list_foreach(pos, &drv->svcs)
    {
        ecs_svc_t *svc = BG_CONTAINER_OF(pos, ecs_svc_t, link);
        sw_waiter_t *lists[2] = {svc->waiting, svc->sw_waiters};
        /* Instances stay as they run; the next bluegreen re-adopts them. */
        for (int s = 0; s < BG_SLOT_COUNT; s++)
            while (!bg_list_is_empty(&svc->slot[s].insts)) {
                ecs_inst_t *in = BG_CONTAINER_OF(svc->slot[s].insts.next, ecs_inst_t, link);
                bg_list_remove(&in->link);
                in->linked = false;
            }
        for (int i = 0; i < 2; i++)
            while (lists[i] != NULL) {
                sw_waiter_t *next = lists[i]->next;
                free(lists[i]);
                lists[i] = next;
            }
        svc->waiting = svc->sw_waiters = NULL;
        drv->open_handles++;
        uv_close((uv_handle_t *)&svc->probe_timer, on_probe_timer_closed);
        if (svc->aws_open) {
            drv->open_handles++;
            bg_aws_close(svc->aws, on_aws_closed, svc);
        }
    }
    drv->open_handles--;
    drv_free_maybe(drv);
}

static const bg_driver_vtable_t ecs_vt = {
    .name = "ecs",
    .caps = BG_DRIVER_CAP_STARTS | BG_DRIVER_CAP_ROUTES,
    .validate = ecs_validate,
    .resolve = ecs_resolve,
    .cancel_resolve = ecs_cancel_resolve,
    .start = ecs_start,
    .stop = ecs_stop,
    .adopt = ecs_adopt,
    .scan = ecs_scan,
    .logs = ecs_logs,
    .set_weights = ecs_set_weights,
    .slot_health = ecs_slot_health,
    .slot_stats = ecs_slot_stats,
    .test_url = ecs_test_url,
    .free_instance = ecs_free_instance,
    .close = ecs_close,
};

static int svc_open(ecs_driver_t *drv, const bg_service_config_t *cfg, bg_err_t *err)
{
    static const char *const ids[] = {"ecs", "elasticloadbalancing", "monitoring", "sts"};
    ecs_svc_t *svc = BG_NEW(ecs_svc_t);
    bg_aws_options_t opts = {.region = cfg->ecs.region};

    svc->drv = drv;
    svc->cfg = cfg;
    svc->probe_slot = -1;
    svc->test_slot = -1;
    svc->boot_w[0] = svc->boot_w[1] = -1;
    for (int s = 0; s < BG_SLOT_COUNT; s++) {
        svc->slot[s].svc = svc;
        svc->slot[s].slot = s;
        svc->slot[s].scaled_to = -1;
        snprintf(svc->slot[s].name, sizeof(svc->slot[s].name), "%s-%s", cfg->name,
                 bg_slot_str((bg_slot_t)s));
        bg_list_init(&svc->slot[s].insts);
    }
    uv_timer_init(drv->base.loop, &svc->probe_timer);
    svc->probe_timer.data = svc;
    bg_list_insert_tail(&drv->svcs, &svc->link);
    svc->aws = bg_aws_new(drv->base.loop, &opts, err);
    if (svc->aws == NULL) {
        char why[sizeof(err->msg)];
        snprintf(why, sizeof(why), "%s", err->msg);
        bg_err_clear(err);
        return bg_err_set(err, BG_EINVAL, "service %s (ecs): %s", cfg->name, why);
    }
    svc->aws_open = true;
    for (size_t i = 0; i < BG_ARRAY_LEN(ids); i++)
        if (bg_aws_set_endpoint(svc->aws, ids[i], cfg->ecs.endpoint_url, NULL, err) != 0)
            return err->code;
    return 0;
}

static void on_open_failed_closed(void *arg)
{
    (void)arg;
}

bg_driver_t *bg_ecs_driver_new(uv_loop_t *loop, const bg_config_t *cfg,
                               const bg_driver_events_t *events, bg_err_t *err)
{
    ecs_driver_t *drv;

    if (cfg == NULL) {
        bg_err_set(err, BG_EINVAL, "the ecs driver needs the config (services' ecs: blocks)");
        return NULL;
    }
    drv = BG_NEW(ecs_driver_t);
    drv->base.vt = &ecs_vt;
    drv->base.loop = loop;
    if (events != NULL)
        drv->base.events = *events;
    drv->cfg = cfg;
    bg_list_init(&drv->svcs);
    bg_list_init(&drv->resolves);
    uv_timer_init(loop, &drv->tick);
    drv->tick.data = drv;
    for (size_t i = 0; i < cfg->n_services; i++) {
        if (cfg->services[i].driver != BG_DRIVER_ECS)
            continue;
        if (svc_open(drv, &cfg->services[i], err) != 0) {
            ecs_close(&drv->base, on_open_failed_closed, NULL);
            return NULL;
        }
    }
    uv_timer_start(&drv->tick, on_tick, TICK_MS, TICK_MS);
    return &drv->base;
}
