/* The deployment state machine (src/deploy) against a fake host on a real loop and a real
 * store: phase order, write-before-effect, gate refusal, startup timeout, rollback_on
 * breach, pause/promote, abort, manual rollback in the termination wait, and restart
 * recovery rules. No processes: the host fakes instances, health and traffic counters.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "deploy/internal.h"
#include "support/support.h"

/* Under AddressSanitizer: LeakSanitizer inside the test body (Criterion does not fail a test
 * for what LeakSanitizer reports when the worker exits). */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define NO_LEAKS() cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked")
#else
#define NO_LEAKS() ((void)0)
#endif

typedef struct fake {
    uv_loop_t loop;
    bg_config_t *cfg;
    bg_deployer_t *d;
    char *dir;
    uint32_t targets[2], healthy[2];
    bool health_ok; /* started targets become healthy */
    bg_traffic_stats_t stats[2];
    uint32_t w[2];
    unsigned starts, adopts, stops, switches;
    bool async_start;      /* start reports later through the callback */
    bool start_fails;      /* ... with a failure */
    bool with_driver;      /* the host lends fake_driver (validate + resolve) */
    bool stored_before_switch; /* every switch found its weights already stored */
    int port;
} fake_t;

static fake_t fk;

typedef struct later {
    uv_timer_t t;
    bg_deploy_done_cb cb;
    void *arg;
} later_t;

static void on_later_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_later(uv_timer_t *t)
{
    later_t *l = t->data;
    l->cb(l->arg, 0, 0.1);
    uv_close((uv_handle_t *)t, on_later_closed);
}

static void call_later(bg_deploy_done_cb cb, void *arg)
{
    later_t *l = BG_NEW(later_t);
    l->cb = cb;
    l->arg = arg;
    uv_timer_init(&fk.loop, &l->t);
    l->t.data = l;
    uv_timer_start(&l->t, on_later, 1, 0);
}

static void f_restore(void *ctx, const char *svc, const uint32_t w[2])
{
    fk.w[0] = w[0];
    fk.w[1] = w[1];
}

static void f_set_weights(void *ctx, const char *svc, const uint32_t w[2], bg_deploy_done_cb cb,
                          void *arg)
{
    bg_store_service_t row;
    bg_store_t *s = fk.d->store;

    if (bg_store_service_get(s, svc, &row, NULL) != 0 || row.weight[0] != w[0] ||
        row.weight[1] != w[1])
        fk.stored_before_switch = false;
    fk.w[0] = w[0];
    fk.w[1] = w[1];
    fk.switches++;
    call_later(cb, arg);
}

typedef struct later_start {
    uv_timer_t t;
    bg_deploy_started_cb cb;
    void *arg;
    bg_deploy_instance_t inst;
} later_start_t;

static void on_later_start(uv_timer_t *t)
{
    later_start_t *l = t->data;
    l->cb(l->arg, fk.start_fails ? BG_EIO : 0, &l->inst,
          fk.start_fails ? "engine: port is already allocated" : "");
    uv_close((uv_handle_t *)t, on_later_closed);
}

static int f_start(void *ctx, const bg_instance_spec_t *spec, bg_deploy_started_cb cb, void *arg,
                   bg_deploy_instance_t *out, bg_err_t *err)
{
    if (fk.async_start) {
        later_start_t *l = BG_NEW(later_start_t);
        fk.starts++;
        fk.targets[spec->slot]++;
        if (fk.health_ok && !fk.start_fails)
            fk.healthy[spec->slot]++;
        l->cb = cb;
        l->arg = arg;
        snprintf(l->inst.address, sizeof(l->inst.address), "127.0.0.1:%d", ++fk.port);
        snprintf(l->inst.handle, sizeof(l->inst.handle), "ctr%d", fk.port);
        uv_timer_init(&fk.loop, &l->t);
        l->t.data = l;
        uv_timer_start(&l->t, on_later_start, 5, 0);
        return 1;
    }
    fk.starts++;
    fk.targets[spec->slot]++;
    if (fk.health_ok)
        fk.healthy[spec->slot]++;
    snprintf(out->address, sizeof(out->address), "127.0.0.1:%d", ++fk.port);
    snprintf(out->handle, sizeof(out->handle), "pid:%d:1", 1000 + fk.port);
    return 0;
}

static int f_adopt(void *ctx, const bg_instance_spec_t *spec, const char *address,
                   const char *handle, bg_deploy_instance_t *out, bg_err_t *err)
{
    fk.adopts++;
    fk.targets[spec->slot]++;
    fk.healthy[spec->slot]++;
    snprintf(out->address, sizeof(out->address), "%s", address);
    snprintf(out->handle, sizeof(out->handle), "%s", handle);
    return 0;
}

static void f_stop_slot(void *ctx, const char *svc, int slot, bg_deploy_done_cb cb, void *arg)
{
    fk.stops++;
    fk.targets[slot] = fk.healthy[slot] = 0;
    call_later(cb, arg);
}

static void f_status(void *ctx, const char *svc, int slot, bg_deploy_slot_status_t *out)
{
    out->targets = fk.targets[slot];
    out->healthy = fk.healthy[slot];
    out->unhealthy = out->targets - out->healthy;
}

static const bg_traffic_stats_t *f_stats(void *ctx, const char *svc, int slot)
{
    return &fk.stats[slot];
}

static json_t *f_evidence(void *ctx, const char *svc, int slot, bool failing)
{
    return json_pack("[{s:s}]", "address", "127.0.0.1:1");
}

static void f_logs(void *ctx, const char *svc, int slot, size_t bytes, bg_buf_t *out)
{
    bg_buf_puts(out, "log\n");
}

/* A driver that pins images like the docker driver does, without an engine. */
typedef struct fake_resolve {
    uv_timer_t t;
    bg_driver_resolve_cb cb;
    void *arg;
    char *image;
} fake_resolve_t;

static fake_resolve_t *pending_resolves[8];

static void on_fake_resolve_closed(uv_handle_t *h)
{
    fake_resolve_t *r = h->data;
    for (size_t i = 0; i < BG_ARRAY_LEN(pending_resolves); i++)
        if (pending_resolves[i] == r)
            pending_resolves[i] = NULL;
    free(r->image);
    free(r);
}

static void on_fake_resolve(uv_timer_t *t)
{
    fake_resolve_t *r = t->data;
    char pinned[256];

    snprintf(pinned, sizeof(pinned), "%s@sha256:%064d", r->image, 7);
    if (r->cb == NULL) /* cancelled */
        ;
    else if (strstr(r->image, "missing") != NULL)
        r->cb(r->arg, BG_ENOTFOUND, NULL, "manifest for reg/app:missing not found");
    else
        r->cb(r->arg, 0, pinned, NULL);
    uv_close((uv_handle_t *)t, on_fake_resolve_closed);
}

static int fd_validate(const bg_driver_t *d, const char *service, const bg_revision_config_t *rev,
                       bg_err_t *err)
{
    if (rev->image == NULL || strstr(rev->image, "BAD") != NULL)
        return bg_err_set(err, BG_EINVAL, "service %s: image '%s' is not a valid reference",
                          service, rev->image ? rev->image : "");
    return 0;
}

static void fd_resolve(bg_driver_t *d, const char *service, const bg_revision_config_t *rev,
                       bg_driver_progress_cb progress, bg_driver_resolve_cb cb, void *arg)
{
    fake_resolve_t *r = BG_NEW(fake_resolve_t);
    bg_driver_progress_t p = {.layers_done = 1, .layers_total = 2, .bytes_done = 10,
                              .bytes_total = 20, .status = "Downloading"};

    r->cb = cb;
    r->arg = arg;
    r->image = bg_strdup(rev->image);
    uv_timer_init(&fk.loop, &r->t);
    r->t.data = r;
    uv_timer_start(&r->t, on_fake_resolve, 5, 0);
    for (size_t i = 0; i < BG_ARRAY_LEN(pending_resolves); i++) {
        if (pending_resolves[i] == NULL) {
            pending_resolves[i] = r;
            break;
        }
    }
    if (progress != NULL)
        progress(arg, &p);
}

static void fd_cancel_resolve(bg_driver_t *d, void *arg)
{
    for (size_t i = 0; i < BG_ARRAY_LEN(pending_resolves); i++)
        if (pending_resolves[i] != NULL && pending_resolves[i]->arg == arg)
            pending_resolves[i]->cb = NULL;
}

static const bg_driver_vtable_t fake_vt = {.name = "fake",
                                           .caps = BG_DRIVER_CAP_STARTS,
                                           .validate = fd_validate,
                                           .resolve = fd_resolve,
                                           .cancel_resolve = fd_cancel_resolve};
static bg_driver_t fake_driver = {.vt = &fake_vt};

static bg_driver_t *f_driver(void *ctx, const char *service)
{
    return fk.with_driver ? &fake_driver : NULL;
}

static const bg_deploy_host_t host = {
    .driver = f_driver,
    .restore_weights = f_restore,
    .set_weights = f_set_weights,
    .start = f_start,
    .adopt = f_adopt,
    .stop_slot = f_stop_slot,
    .slot_status = f_status,
    .slot_stats = f_stats,
    .evidence = f_evidence,
    .logs = f_logs,
};

static void boot(const char *extra, bool fresh)
{
    bg_err_t err;
    char *yaml;

    if (fresh) {
        bool with_driver = fk.with_driver;
        memset(&fk, 0, sizeof(fk));
        fk.with_driver = with_driver;
        fk.dir = bgt_tmpdir("deploy-unit");
        fk.health_ok = true;
    }
    fk.stored_before_switch = true;
    yaml = bg_asprintf("state_dir: %s\nservices:\n  orders:\n    version: 1.0.0\n    count: 2\n"
                       "%s    api: {provides: {orders: 1.0.0}}\n"
                       "    startup_timeout: 200ms\n%s",
                       fk.dir,
                       fk.with_driver ? "    driver: docker\n    image: reg/app:v1\n"
                                      : "    run: {command: [\"app\"]}\n",
                       extra);
    bg_err_clear(&err);
    fk.cfg = bg_config_parse(yaml, strlen(yaml), "test.yaml", &err);
    cr_assert(fk.cfg != NULL, "config: %s", err.msg);
    free(yaml);
    cr_assert_eq(uv_loop_init(&fk.loop), 0);
    fk.d = bg_deployer_new(&fk.loop, fk.cfg, &host, &err);
    cr_assert_eq(bg_deployer_boot(fk.d, &err), 0, "boot: %s", err.msg);
}

static void on_closed(void *arg)
{
    *(bool *)arg = true;
}

static void shutdown_all(void)
{
    bool closed = false;

    bg_deployer_close(fk.d, on_closed, &closed);
    while (!closed)
        uv_run(&fk.loop, UV_RUN_ONCE);
    uv_run(&fk.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&fk.loop), 0, "handles left on the loop");
    bg_deployer_free(fk.d);
    bg_config_free(fk.cfg);
    fk.d = NULL;
    NO_LEAKS();
}

static long long deploy(const char *body)
{
    json_t *j = json_loads(body, 0, NULL);
    dp_deployment_t *dep = NULL;
    json_t *dry = NULL;
    bg_err_t err;

    bg_err_clear(&err);
    cr_assert_eq(
        dp_deploy_start(fk.d, dp_service_find(fk.d, "orders"), j, "unit", "test", &dep, &dry, &err),
        0, "deploy: %s", err.msg);
    json_decref(j);
    return dep->id;
}

static const char *field(json_t *j, const char *k)
{
    return json_string_value(json_object_get(j, k));
}

/* Runs the loop until deployment <id> is in <phase> (NULL: has a result). */
static json_t *run_until(long long id, const char *phase, int timeout_ms)
{
    uint64_t end = bg_now_ms() + (uint64_t)timeout_ms;

    for (;;) {
        json_t *j = dp_deployment_json(fk.d, id);
        bool done = phase ? strcmp(field(j, "phase"), phase) == 0 : field(j, "result")[0] != 0;
        if (done)
            return j;
        json_decref(j);
        cr_assert(bg_now_ms() < end, "deployment %lld not %s in time", id, phase ? phase : "done");
        uv_run(&fk.loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

#define V2 "{\"version\":\"2.0.0\",\"cmd\":\"app --v2\""

Test(controller, all_at_once_phases_in_order)
{
    static const char *const want[] = {
        "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC", "PRODUCTION_TRAFFIC_SHIFT",
        "BAKE",         "CLEAN_UP"};
    boot("    strategy: all-at-once\n    termination_wait: 50ms\n", true);
    long long id = deploy(V2 "}");
    json_t *d = run_until(id, NULL, 5000);
    cr_assert_str_eq(field(d, "result"), "SUCCEEDED");
    json_t *ph = json_object_get(d, "phases");
    for (size_t i = 0; i < BG_ARRAY_LEN(want); i++)
        cr_assert_str_eq(field(json_array_get(ph, i), "phase"), want[i]);
    json_decref(d);
    cr_assert_eq(fk.w[1], 100);
    cr_assert(fk.stored_before_switch, "a weight change took effect before it was stored");
    cr_assert_eq(fk.starts, 4);      /* 2 at boot, 2 for the deployment */
    d = run_until(id, "DONE", 5000); /* termination wait over: old slot stopped */
    json_decref(d);
    cr_assert_eq(fk.targets[0], 0);
    shutdown_all();
}

Test(controller, canary_steps_and_switches)
{
    boot("    strategy: {canary: {percent: 25, wait: 50ms}}\n", true);
    long long id = deploy(V2 "}");
    json_t *d = run_until(id, NULL, 5000);
    cr_assert_str_eq(field(d, "result"), "SUCCEEDED");
    json_t *sw = json_object_get(d, "switches");
    cr_assert_eq(json_array_size(sw), 2);
    cr_assert_eq(json_integer_value(
                     json_object_get(json_object_get(json_array_get(sw, 0), "traffic"), "green")),
                 25);
    cr_assert(fk.stored_before_switch);
    json_decref(d);
    shutdown_all();
}

Test(controller, gate_refuses_before_anything_starts)
{
    boot("", true);
    long long id = deploy(V2 ",\"api\":{\"provides\":{\"orders\":\"2.0.0\"},"
                             "\"requires\":{\"payments\":\"^2.0\"}}}");
    json_t *d = run_until(id, NULL, 2000);
    cr_assert_str_eq(field(d, "result"), "REFUSED");
    cr_assert(strstr(field(d, "reason"), "payments") != NULL, "%s", field(d, "reason"));
    json_decref(d);
    cr_assert_eq(fk.starts, 2);
    cr_assert_eq(fk.switches, 0);
    shutdown_all();
}

Test(controller, startup_timeout_rolls_back_with_evidence)
{
    boot("", true);
    fk.health_ok = false;
    long long id = deploy(V2 "}");
    json_t *d = run_until(id, NULL, 3000);
    cr_assert_str_eq(field(d, "result"), "ROLLED_BACK");
    cr_assert(strstr(field(d, "reason"), "startup timeout: 0 of 2") != NULL, "%s",
              field(d, "reason"));
    cr_assert(json_is_object(json_object_get(d, "evidence")));
    json_decref(d);
    cr_assert_eq(fk.targets[1], 0, "new targets were not stopped");
    cr_assert_eq(fk.w[0], 100);
    shutdown_all();
}

Test(controller, error_rate_breach_rolls_back)
{
    boot("    strategy: {canary: {percent: 50, wait: 10s}}\n"
         "    rollback_on: {error_rate: 5%, min_requests: 10, window: 2s}\n",
         true);
    long long id = deploy(V2 "}");
    json_decref(run_until(id, "PRODUCTION_TRAFFIC_SHIFT", 3000));
    /* Live traffic on the new slot: half of it 5xx, as the judge samples it. */
    for (int i = 0; i < 400 && dp_service_find(fk.d, "orders")->running != NULL; i++) {
        atomic_fetch_add(&fk.stats[1].responses[2], 1);
        atomic_fetch_add(&fk.stats[1].responses[5], 1);
        uv_run(&fk.loop, UV_RUN_NOWAIT);
        usleep(5000);
    }
    json_t *d = run_until(id, NULL, 5000);
    cr_assert_str_eq(field(d, "result"), "ROLLED_BACK");
    cr_assert(strstr(field(d, "reason"), "rollback_on") != NULL, "%s", field(d, "reason"));
    json_decref(d);
    cr_assert_eq(fk.w[0], 100);
    cr_assert_eq(fk.w[1], 0);
    shutdown_all();
}

Test(controller, pause_then_promote)
{
    dp_service_t *svc;
    bg_err_t err;

    boot("    strategy: {steps: [10, {pause: true}, 50, 100]}\n", true);
    long long id = deploy(V2 "}");
    json_decref(run_until(id, "PRODUCTION_TRAFFIC_SHIFT", 3000));
    for (int i = 0; i < 300; i++) {
        uv_run(&fk.loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    cr_assert_eq(fk.w[1], 10, "a pause step must hold the weight");
    svc = dp_service_find(fk.d, "orders");
    cr_assert(svc->running->paused);
    bg_err_clear(&err);
    cr_assert_eq(dp_manual(fk.d, svc, "promote", "unit", "test", &err), 0);
    json_t *d = run_until(id, NULL, 3000);
    cr_assert_str_eq(field(d, "result"), "SUCCEEDED");
    json_decref(d);
    cr_assert_eq(fk.w[1], 100);
    shutdown_all();
}

Test(controller, abort_and_busy)
{
    dp_service_t *svc;
    dp_deployment_t *dep = NULL;
    json_t *dry = NULL, *body = json_loads(V2 "}", 0, NULL);
    bg_err_t err;

    boot("    strategy: {canary: {percent: 20, wait: 10s}}\n", true);
    long long id = deploy(V2 "}");
    json_decref(run_until(id, "PRODUCTION_TRAFFIC_SHIFT", 3000));
    svc = dp_service_find(fk.d, "orders");
    bg_err_clear(&err);
    cr_assert_eq(dp_deploy_start(fk.d, svc, body, "unit", "t", &dep, &dry, &err), BG_ECONFLICT);
    json_decref(body);
    cr_assert_eq(dp_manual(fk.d, svc, "abort", "unit", "test", &err), 0);
    json_t *d = run_until(id, NULL, 3000);
    cr_assert_str_eq(field(d, "result"), "ABORTED");
    json_decref(d);
    cr_assert_eq(fk.w[0], 100);
    shutdown_all();
}

Test(controller, restart_in_shift_rolls_back_and_readopts)
{
    boot("    strategy: {canary: {percent: 50, wait: 10s}}\n", true);
    long long id = deploy(V2 "}");
    for (int i = 0; i < 3000 && fk.w[1] != 50; i++) {
        uv_run(&fk.loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    cr_assert_eq(fk.w[1], 50);
    shutdown_all(); /* as after kill -9: the store says PRODUCTION_TRAFFIC_SHIFT */
    fk.starts = fk.adopts = 0;
    fk.targets[0] = fk.targets[1] = fk.healthy[0] = fk.healthy[1] = 0;
    boot("    strategy: {canary: {percent: 50, wait: 10s}}\n", false);
    cr_assert_eq(fk.adopts, 4, "every stored target is re-adopted");
    cr_assert_eq(fk.starts, 0, "nothing is restarted");
    cr_assert_eq(fk.w[0], 100, "routed back to the old slot before serving");
    json_t *d = dp_deployment_json(fk.d, id);
    cr_assert_str_eq(field(d, "result"), "ROLLED_BACK");
    json_decref(d);
    for (int i = 0; i < 100 && fk.targets[1] != 0; i++) {
        uv_run(&fk.loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    cr_assert_eq(fk.targets[1], 0, "the new slot is stopped");
    shutdown_all();
}

Test(controller, pause_by_hand_holds_before_the_next_step)
{
    dp_service_t *svc;
    bg_err_t err;

    boot("    strategy: {canary: {percent: 20, wait: 50ms}}\n", true);
    fk.health_ok = false; /* held in POST_SCALE_UP until the test says healthy */
    long long id = deploy(V2 "}");
    svc = dp_service_find(fk.d, "orders");
    bg_err_clear(&err);
    cr_assert_eq(dp_manual(fk.d, svc, "pause", "unit", "test", &err), 0, "%s", err.msg);
    fk.healthy[1] = fk.targets[1];
    json_decref(run_until(id, "PRODUCTION_TRAFFIC_SHIFT", 3000));
    for (int i = 0; i < 300; i++) {
        uv_run(&fk.loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    cr_assert_eq(fk.w[1], 0, "paused: no step may be taken");
    cr_assert_eq(dp_manual(fk.d, svc, "resume", "unit", "test", &err), 0, "%s", err.msg);
    json_t *d = run_until(id, NULL, 3000);
    cr_assert_str_eq(field(d, "result"), "SUCCEEDED");
    json_decref(d);
    cr_assert_eq(fk.switches, 2);
    shutdown_all();
}

Test(controller, store_failure_before_a_step_publishes_nothing)
{
    boot("    strategy: {canary: {percent: 20, wait: 50ms}}\n", true);
    fk.health_ok = false;
    long long id = deploy(V2 "}");
    /* the commit in front of the first weight change fails: the change must not happen */
    bg_fault_arm("store.commit", 1, false);
    fk.healthy[1] = fk.targets[1];
    json_t *d = run_until(id, NULL, 3000);
    bg_fault_reset();
    cr_assert_str_eq(field(d, "result"), "FAILED");
    cr_assert(strstr(field(d, "reason"), "state store") != NULL, "%s", field(d, "reason"));
    json_decref(d);
    cr_assert_eq(fk.switches, 0, "a weight change was published although it was not stored");
    cr_assert_eq(fk.w[0], 100);
    shutdown_all();
}

/* An asynchronous driver: the artifact is pinned at PRE_SCALE_UP (stored in the revision and
 * shown in the record beside the tag), instances report later, and the deployment goes on
 * only once every one runs. */
Test(controller, async_driver_pins_artifact_and_waits_for_starts)
{
    fk.with_driver = true;
    boot("", true);
    fk.async_start = true;
    long long id = deploy("{\"version\":\"2.0.0\",\"image\":\"reg/app:v2\"}");
    json_t *d = run_until(id, NULL, 5000);
    cr_assert_str_eq(field(d, "result"), "SUCCEEDED", "%s", field(d, "reason"));
    json_t *a = json_object_get(d, "artifact");
    cr_assert_str_eq(field(a, "image"), "reg/app:v2");
    cr_assert(strstr(field(a, "resolved"), "reg/app:v2@sha256:") == field(a, "resolved"));
    cr_assert(strncmp(field(a, "digest"), "sha256:", 7) == 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(d, "pull"), "layers_total")),
                 2);
    json_decref(d);
    bg_store_revision_t rev;
    cr_assert_eq(bg_store_revision_get(fk.d->store, "orders", 2, &rev, NULL), 0);
    cr_assert(strstr(rev.spec_json, "reg/app:v2@sha256:") != NULL, "%s", rev.spec_json);
    free(rev.spec_json);
    shutdown_all();
}

Test(controller, resolve_failure_fails_before_anything_starts)
{
    fk.with_driver = true;
    boot("", true);
    long long id = deploy("{\"version\":\"2.0.0\",\"image\":\"reg/app:missing\"}");
    json_t *d = run_until(id, NULL, 5000);
    cr_assert_str_eq(field(d, "result"), "FAILED");
    cr_assert(strstr(field(d, "reason"), "not found") != NULL, "%s", field(d, "reason"));
    json_decref(d);
    cr_assert_eq(fk.starts, 2, "only the boot's instances");
    cr_assert_eq(fk.w[0], 100);
    shutdown_all();
}

Test(controller, async_start_failure_rolls_back_with_the_engine_message)
{
    fk.with_driver = true;
    boot("", true);
    fk.async_start = fk.start_fails = true;
    long long id = deploy("{\"version\":\"2.0.0\",\"image\":\"reg/app:v2\"}");
    json_t *d = run_until(id, NULL, 5000);
    cr_assert_str_eq(field(d, "result"), "FAILED");
    cr_assert(strstr(field(d, "reason"), "port is already allocated") != NULL, "%s",
              field(d, "reason"));
    cr_assert(json_is_object(json_object_get(d, "evidence")));
    json_decref(d);
    cr_assert_eq(fk.w[0], 100);
    cr_assert_eq(fk.targets[1], 0, "the failed slot was not stopped");
    shutdown_all();
}

Test(controller, driver_validates_the_request_before_anything_is_stored)
{
    fk.with_driver = true;
    boot("", true);
    json_t *j = json_loads("{\"version\":\"2.0.0\",\"image\":\"reg/app:BAD\"}", 0, NULL);
    dp_deployment_t *dep = NULL;
    json_t *dry = NULL;
    bg_err_t err;
    bg_err_clear(&err);
    cr_assert_eq(dp_deploy_start(fk.d, dp_service_find(fk.d, "orders"), j, "unit", "t", &dep, &dry,
                                 &err),
                 BG_EINVAL);
    cr_assert(strstr(err.msg, "'reg/app:BAD' is not a valid") != NULL, "%s", err.msg);
    json_decref(j);
    bg_store_revision_t rev;
    cr_assert_eq(bg_store_revision_get(fk.d->store, "orders", 2, &rev, NULL), BG_ENOTFOUND);
    shutdown_all();
}
