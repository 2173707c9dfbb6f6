/* Every raw response in tests/data/actuator/responses/ served byte for byte from a
 * real socket (the shared fake backend, one per case, all checked at once by one
 * checker); the checker must reach manifest.json's health_checker_verdict. Each target
 * starts in the opposite state with thresholds of 1, so the verdict shows as exactly one
 * transition. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/base.h"
#include "health/health.h"
#include "loopsrv.h"
#include "support/support.h"

#define DATA_DIR "tests/data/actuator/"
#define N_CASES 16

typedef struct replay_case {
    char *raw; /* the .http file */
    char status_field[32];
    bool want_healthy;
    bgt_backend_t *backend;
    bg_target_t *t;
    unsigned transitions;
    bool got_healthy;
    char reason[256];
} replay_case_t;

static replay_case_t cases[N_CASES];
static unsigned n_cases, n_done;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static char *serve_raw(void *arg, const bgt_backend_req_t *req)
{
    return bg_strdup(((replay_case_t *)arg)->raw);
}

static void on_transition(void *ctx, bg_target_t *t, bool healthy, const char *reason)
{
    for (unsigned i = 0; i < n_cases; i++) {
        if (cases[i].t != t)
            continue;
        if (cases[i].transitions++ == 0)
            n_done++;
        cases[i].got_healthy = healthy;
        snprintf(cases[i].reason, sizeof(cases[i].reason), "%s", reason);
        return;
    }
    cr_assert_fail("transition for an unknown target");
}

static void load_manifest(void)
{
    json_error_t jerr;
    json_t *m = json_load_file(DATA_DIR "manifest.json", 0, &jerr);
    cr_assert_not_null(m, "manifest: %s", jerr.text);
    json_t *arr = json_object_get(m, "cases"), *c;
    size_t i;
    cr_assert_eq(json_array_size(arr), N_CASES);
    json_array_foreach(arr, i, c)
    {
        replay_case_t *rc = &cases[n_cases++];
        char path[512];
        snprintf(path, sizeof(path), DATA_DIR "%s",
                 json_string_value(json_object_get(c, "response")));
        rc->raw = slurp(path);
        snprintf(rc->status_field, sizeof(rc->status_field), "%s",
                 json_string_value(json_object_get(c, "status_field")));
        const char *verdict = json_string_value(json_object_get(c, "health_checker_verdict"));
        rc->want_healthy = strcmp(verdict, "healthy") == 0;
        cr_assert(rc->want_healthy || strncmp(verdict, "unhealthy", 9) == 0, "%s", verdict);
    }
    json_decref(m);
}

static bool all_done(void *arg)
{
    return n_done == n_cases;
}

static bool is_true(void *arg)
{
    return *(bool *)arg;
}

static void set_true(void *arg)
{
    *(bool *)arg = true;
}

static void replay_all(const char *path)
{
    uv_loop_t loop;
    bool closed = false;
    cr_assert_eq(uv_loop_init(&loop), 0);
    load_manifest();
    bg_health_t *h = bg_health_new(&loop, on_transition, NULL);
    bg_health_config_t cfg = {
        .type = BG_HEALTH_HTTP,
        .format = BG_HEALTH_FORMAT_ACTUATOR,
        .path = (char *)path,
        .interval_ms = 50,
        .timeout_ms = 2000,
        .healthy_threshold = 1,
        .unhealthy_threshold = 1,
    };
    for (unsigned i = 0; i < n_cases; i++) {
        replay_case_t *rc = &cases[i];
        rc->backend = bgt_backend_start("actuator", 0);
        bgt_backend_set_handler(rc->backend, serve_raw, rc);
        char addr[64];
        bg_err_t err;
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", bgt_backend_port(rc->backend));
        rc->t = bg_target_new("svc", BG_SLOT_BLUE, addr, !rc->want_healthy, &err);
        cr_assert_not_null(rc->t);
        cr_assert_eq(bg_health_watch(h, rc->t, &cfg), 0);
    }
    cr_assert(run_until(&loop, all_done, NULL, 10000), "only %u of %u cases judged", n_done,
              n_cases);
    /* Let every target be checked a few more times: the verdict must hold steady. */
    run_for(&loop, 200);
    for (unsigned i = 0; i < n_cases; i++) {
        replay_case_t *rc = &cases[i];
        cr_expect_eq(rc->transitions, 1, "case %u: %u transitions", i + 1, rc->transitions);
        cr_expect_eq(rc->got_healthy, rc->want_healthy, "case %u: healthy=%d reason '%s'", i + 1,
                     rc->got_healthy, rc->reason);
        cr_expect_eq(bg_target_is_healthy(rc->t), rc->want_healthy, "case %u", i + 1);
        cr_expect(strncmp(rc->reason, rc->status_field, strlen(rc->status_field)) == 0,
                  "case %u: reason '%s' does not start with %s", i + 1, rc->reason,
                  rc->status_field);
        bg_health_info_t info;
        bg_health_info(h, rc->t, &info);
        cr_expect_gt(info.last_status, 0);
        cr_expect_gt(strlen(info.last_body), 0);
    }
    bg_health_close(h, set_true, &closed);
    cr_assert(run_until(&loop, is_true, &closed, 5000));
    for (unsigned i = 0; i < n_cases; i++) {
        bgt_backend_stop(cases[i].backend);
        bg_target_unref(cases[i].t);
        free(cases[i].raw);
    }
    cr_assert_eq(loop_finish(&loop), 0);
    cr_assert_eq(leak_check(), 0, "memory leaked");
}

Test(replay, manifest_responses_configured_path, .timeout = 60)
{
    replay_all("/actuator/health");
}

/* With no path the checker probes the readiness group first; these servers answer every
 * path alike (never 404), so the readiness verdicts must match too. */
Test(replay, manifest_responses_auto_path, .timeout = 60)
{
    replay_all(NULL);
}

/* A case-13-like response with a named failing component, end to end. */
Test(replay, failing_component_in_reason, .timeout = 60)
{
    load_manifest();
    cr_expect(strstr(cases[12].raw, "\"charlie\"") != NULL);
    uv_loop_t loop;
    bool closed = false;
    cr_assert_eq(uv_loop_init(&loop), 0);
    n_cases = 1;
    bg_health_t *h = bg_health_new(&loop, on_transition, NULL);
    bg_health_config_t cfg = {.type = BG_HEALTH_HTTP,
                              .format = BG_HEALTH_FORMAT_ACTUATOR,
                              .path = "/actuator/health",
                              .interval_ms = 50,
                              .timeout_ms = 2000,
                              .healthy_threshold = 1,
                              .unhealthy_threshold = 2};
    replay_case_t *rc = &cases[0];
    free(rc->raw);
    rc->raw = bg_strdup(cases[12].raw);
    rc->backend = bgt_backend_start("actuator", 0);
    bgt_backend_set_handler(rc->backend, serve_raw, rc);
    char addr[64];
    bg_err_t err;
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", bgt_backend_port(rc->backend));
    rc->t = bg_target_new("svc", BG_SLOT_BLUE, addr, true, &err);
    cr_assert_eq(bg_health_watch(h, rc->t, &cfg), 0);
    cr_assert(run_until(&loop, all_done, NULL, 10000));
    cr_expect_not(rc->got_healthy);
    cr_expect_str_eq(rc->reason, "DOWN (charlie: DOWN)");
    cr_expect_eq(bgt_backend_requests(rc->backend), 2, "unhealthy after exactly 2 failures");
    bg_health_close(h, set_true, &closed);
    cr_assert(run_until(&loop, is_true, &closed, 5000));
    bgt_backend_stop(rc->backend);
    bg_target_unref(rc->t);
    for (unsigned i = 0; i < N_CASES; i++)
        free(cases[i].raw);
    cr_assert_eq(loop_finish(&loop), 0);
    cr_assert_eq(leak_check(), 0, "memory leaked");
}
