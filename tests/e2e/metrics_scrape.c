/* e2e: the `metrics_listen` endpoint of a real `bluegreen serve` (issue 12 item 6).
 *
 * A Prometheus server scrapes GET /metrics without any token; every other path and method
 * there is refused (no admin power). The exposition passes `promtool check metrics`
 * (Debian's prometheus package) before and after deployments, and the series tell what
 * happened: deployments by result, rollbacks by reason, verified switches in the
 * switch-duration histogram, weights as ratios, slot series labelled by the version that
 * served them (a slot's new revision starts its own series), bluegreen_build_info.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "e2e/deploy_fixture.h"
#include "support/support.h"
#include "unit/metrics/promparse.h"

static dfx_t f;
static int metrics_port;

static void teardown(void)
{
    dfx_stop(&f);
}

TestSuite(metrics_scrape, .fini = teardown, .timeout = 180);

/* Appends the top-level metrics_listen key to the fixture's config before serve starts. */
static void add_metrics_listen(dfx_t *fx)
{
    FILE *fp = fopen(fx->cfg_path, "a");

    cr_assert(fp != NULL);
    metrics_port = bgt_free_port();
    fprintf(fp, "metrics_listen: 127.0.0.1:%d\n", metrics_port);
    fclose(fp);
}

/* GET <path> on the metrics listener, no Authorization header. */
static void scrape(const char *method, const char *path, bgt_resp_t *r)
{
    char *req = bg_asprintf("%s %s HTTP/1.1\r\nHost: prometheus\r\nConnection: close\r\n\r\n",
                            method, path);

    memset(r, 0, sizeof(*r));
    cr_assert(bgt_http_raw(metrics_port, req, strlen(req), r, 10000), "%s %s: no answer",
              method, path);
    free(req);
}

/* Runs `promtool check metrics` on <text>: its exit status, its output into <out>. */
static int promtool_run(const char *text, char *out, size_t size)
{
    char *path = bg_asprintf("%s/scrape.txt", f.dir);
    char *cmd = bg_asprintf("promtool check metrics < %s 2>&1", path);
    size_t n;
    FILE *fp = fopen(path, "w");
    int st;

    cr_assert(fp != NULL);
    fputs(text, fp);
    fclose(fp);
    fp = popen(cmd, "r");
    cr_assert(fp != NULL, "cannot run promtool");
    n = fread(out, 1, size - 1, fp);
    out[n] = '\0';
    st = pclose(fp);
    free(cmd);
    free(path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Asserts that promtool finds neither an error nor a lint problem in <text>. */
static void promtool_check(const char *text)
{
    char out[4096];
    int rc = promtool_run(text, out, sizeof(out));

    cr_assert_eq(rc, 0, "promtool check metrics failed (%d): %s", rc, out);
}

/* Scrapes, checks with promtool and with the strict parser; <p> gets the samples. */
static void scrape_checked(prom_t *p)
{
    bgt_resp_t r;
    char ct[128];

    scrape("GET", "/metrics", &r);
    cr_assert_eq(r.status, 200, "GET /metrics: %d %s", r.status, r.body);
    cr_assert(bgt_resp_header(&r, "Content-Type", ct, sizeof(ct)));
    cr_assert(strstr(ct, "text/plain; version=0.0.4") != NULL, "Content-Type: %s", ct);
    promtool_check(r.body);
    cr_assert(prom_parse(r.body, p), "%s", p->err);
    bgt_resp_fini(&r);
}

static double get(const prom_t *p, const char *name, const char *labels)
{
    bool found;
    double v = prom_get(p, name, labels, &found);

    cr_assert(found, "missing %s{%s}", name, labels);
    return v;
}

static bool load_answered(void *arg)
{
    dfx_t *fx = arg;
    return atomic_load(&fx->load.ok) >= 50;
}

/* Some production traffic, answered: waits for 50 2xx, not for a time. */
static void some_traffic(void)
{
    dfx_load_start(&f, 2);
    cr_assert(bgt_wait_until(load_answered, &f, DFX_WAIT_MS), "no traffic answered");
    cr_assert_eq(dfx_load_stop(&f), 0);
}

Test(metrics_scrape, no_admin_power_and_no_token)
{
    bgt_resp_t r;

    char out[4096];

    dfx_start_with(&f, "", add_metrics_listen);
    /* The checker can fail: a counter without _total and a broken line. */
    cr_assert_neq(promtool_run("# HELP x_requests Requests.\n# TYPE x_requests counter\n"
                               "x_requests 1\n",
                               out, sizeof(out)),
                  0, "promtool accepted a lint problem: %s", out);
    cr_assert_neq(promtool_run("x{a=\"1\" 1\n", out, sizeof(out)), 0);
    scrape("GET", "/v1/services", &r);
    cr_assert_eq(r.status, 404, "admin route on the metrics listener: %d", r.status);
    bgt_resp_fini(&r);
    scrape("GET", "/v1/health", &r);
    cr_assert_eq(r.status, 404);
    bgt_resp_fini(&r);
    scrape("POST", "/v1/shutdown", &r);
    cr_assert_eq(r.status, 404);
    bgt_resp_fini(&r);
    scrape("POST", "/metrics", &r);
    cr_assert_eq(r.status, 405);
    bgt_resp_fini(&r);
    /* The daemon is still up: the refused POST /v1/shutdown did nothing. */
    cr_assert_eq(dfx_weight(&f, "blue"), 100);
    dfx_finish(&f);
}

Test(metrics_scrape, series_after_deployments_pass_promtool)
{
    prom_t p;
    char want[160];

    dfx_start_with(&f, "    strategy: all-at-once\n", add_metrics_listen);
    some_traffic();
    scrape_checked(&p);
    cr_assert_eq(get(&p, "bluegreen_build_info", "version=" BG_VERSION), 1);
    cr_assert_gt(get(&p, "bluegreen_requests_total",
                     "service=orders,slot=blue,version=1.0.0,class=2xx"),
                 0);
    cr_assert_eq(get(&p, "bluegreen_slot_weight_ratio", "service=orders,slot=blue,version=1.0.0"),
                 1);
    cr_assert_eq(get(&p, "bluegreen_deployments_total", "service=orders,result=succeeded"), 0);
    prom_fini(&p);

    /* 2.0.0 succeeds (all at once into green), then 3.0.0 never gets healthy. */
    json_decref(dfx_wait_result(&f, dfx_deploy(&f, "2.0.0", NULL, ""), DFX_WAIT_MS));
    json_decref(dfx_wait_result(&f, dfx_deploy(&f, "3.0.0", "--fail-health", ""), DFX_WAIT_MS));
    some_traffic();

    scrape_checked(&p);
    cr_assert_eq(get(&p, "bluegreen_deployments_total", "service=orders,result=succeeded"), 1);
    cr_assert_eq(get(&p, "bluegreen_deployments_total", "service=orders,result=rolled_back"), 1);
    cr_assert_eq(get(&p, "bluegreen_rollbacks_total", "service=orders,reason=startup_timeout"), 1);
    cr_assert_eq(get(&p, "bluegreen_rollbacks_total", "service=orders,reason=manual"), 0);
    cr_assert_eq(get(&p, "bluegreen_gate_refusals_total", "service=orders,check=deploy"), 0);
    /* One verified switch: 2.0.0 to 100% (3.0.0 never got traffic). */
    cr_assert_geq(get(&p, "bluegreen_switch_duration_seconds_count", "service=orders"), 1);
    cr_assert_geq(get(&p, "bluegreen_switch_duration_seconds_bucket", "service=orders,le=+Inf"),
                  1);
    cr_assert_eq(
        get(&p, "bluegreen_slot_weight_ratio", "service=orders,slot=green,version=2.0.0"), 1);
    snprintf(want, sizeof(want), "service=orders,slot=green,version=2.0.0,class=2xx");
    cr_assert_gt(get(&p, "bluegreen_requests_total", want), 0);
    /* Blue's 1.0.0 was replaced by 3.0.0, which failed and was stopped: blue's series
     * started again (empty slot: version ""), 1.0.0's requests are not counted there. */
    cr_assert_eq(get(&p, "bluegreen_requests_total", "service=orders,slot=blue,version=,class=2xx"),
                 0);
    cr_assert_eq(prom_count(&p, "bluegreen_slot_weight_ratio"), 2);
    prom_fini(&p);
    dfx_finish(&f);
}
