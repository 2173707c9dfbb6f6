/* e2e: the cross-service API-compatibility gate (docs/design.md §6, §3; docs/internals/compat.md)
 * against a real `bluegreen serve` running two process services of real sample-apps:
 * `orders` (the consumer: it requires the `payments` API) and `payments` (the provider),
 * each under its own keep-alive load where traffic matters.
 *
 * - the gate in both directions (a new consumer against the live provider, a new provider
 *   against the live consumers) refuses before anything starts, with the broken edge as
 *   the reason; the expand/contract provider passes and unblocks the consumer;
 * - split states: while payments is mid-canary (1.9.2 90% / 2.0.0 10%) the gate sees both
 *   live versions (dry run), and a deployment of orders is serialised (409);
 * - two deployments started at once: exactly one runs, the other gets a 409 naming it;
 * - an edge broken during a shift (payments forced back under a paused orders canary):
 *   the gate before orders' next step rolls orders back, the edge in its reason;
 * - the rollback gate (409, error.gate, CLI exit 3 with the --force hint);
 * - a release stops at its first failure; an impossible release is refused with the cycle
 *   and the expand/contract hint, nothing deployed;
 * - the matrix (API and CLI) agrees with what is live, ok and broken.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "e2e/cli_run.h"
#include "e2e/deploy_fixture.h"
#include "support/support.h"

static dfx_t f;

/* ---- a keep-alive load on payments (the fixture's load loop drives orders) ---- */

typedef struct pay_load {
    pthread_t thread;
    int port;
    atomic_bool stop;
    atomic_ulong ok, failed;
    char last_failure[256];
    bool running;
} pay_load_t;

static pay_load_t pl;

static const char PAY_REQ[] = "GET / HTTP/1.1\r\nHost: payments.local\r\n\r\n";

static void *pay_load_main(void *arg)
{
    pay_load_t *l = arg;
    int fds[2] = {-1, -1};

    for (unsigned k = 0; !atomic_load(&l->stop); k++) {
        int *fd = &fds[k % 2];
        bgt_resp_t r = {0};
        if (*fd < 0)
            *fd = bgt_connect(l->port);
        if (*fd < 0 || !bgt_write_all(*fd, PAY_REQ, sizeof(PAY_REQ) - 1) ||
            !bgt_read_response(*fd, &r, 5000)) {
            if (*fd >= 0)
                close(*fd);
            *fd = -1;
            atomic_fetch_add(&l->failed, 1);
            snprintf(l->last_failure, sizeof(l->last_failure), "no response");
        } else if (r.status >= 200 && r.status < 300) {
            atomic_fetch_add(&l->ok, 1);
        } else {
            atomic_fetch_add(&l->failed, 1);
            snprintf(l->last_failure, sizeof(l->last_failure), "status %d: %.200s", r.status,
                     r.body ? r.body : "");
        }
        if (*fd >= 0 && r.closed) {
            close(*fd);
            *fd = -1;
        }
        bgt_resp_fini(&r);
    }
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return NULL;
}

static void pay_load_start(void)
{
    memset(&pl, 0, sizeof(pl));
    pl.port = f.port;
    pl.running = true;
    cr_assert_eq(pthread_create(&pl.thread, NULL, pay_load_main, &pl), 0);
}

static unsigned long pay_load_stop(void)
{
    if (!pl.running)
        return 0;
    atomic_store(&pl.stop, true);
    pthread_join(pl.thread, NULL);
    pl.running = false;
    cr_log_info("payments load: %lu ok, %lu failed%s%s", atomic_load(&pl.ok),
                atomic_load(&pl.failed), pl.last_failure[0] ? "; last: " : "", pl.last_failure);
    return atomic_load(&pl.failed);
}

static void teardown(void)
{
    pay_load_stop();
    dfx_stop(&f);
}

TestSuite(compat_gate, .fini = teardown, .timeout = 120);

/* ---- the two services ---- */

/* The "version" that GET / answers for <host> ("" on failure). */
static void version_of(const char *host, char *out, size_t size)
{
    bgt_resp_t r = {0};
    const char *p, *e;

    out[0] = '\0';
    if (bgt_http_get(f.port, host, "/", &r, 2000) && r.status == 200 && r.body != NULL &&
        (p = strstr(r.body, "\"version\":\"")) != NULL && (e = strchr(p + 11, '"')) != NULL)
        snprintf(out, size, "%.*s", (int)(e - (p + 11)), p + 11);
    bgt_resp_fini(&r);
}

/* orders (the fixture's service, 1.0.0, count 2, provides orders 1.0.0, and requires
 * payments ^1.4 when <orders_requires>) gets <orders_extra> lines; payments 1.9.2 (count 1,
 * host payments.local, provides payments 1.9.2) gets <payments_extra>. Waits until payments
 * answers too. */
static void start(bool orders_requires, const char *orders_extra, const char *payments_extra)
{
    char *extra = bg_asprintf(
        "    api: {provides: {orders: 1.0.0}%s}\n"
        "%s"
        "  payments:\n"
        "    route: {host: payments.local}\n"
        "    version: 1.9.2\n"
        "    run: {command: [\"%s\", \"--service\", \"payments\", \"--version\", \"1.9.2\"]}\n"
        "    health: {path: /actuator/health, format: actuator, interval: 100ms, timeout: 1s,\n"
        "             healthy_threshold: 1, unhealthy_threshold: 1}\n"
        "    api: {provides: {payments: 1.9.2}}\n"
        "    drain: 1s\n"
        "    stop_timeout: 2s\n"
        "%s",
        orders_requires ? ", requires: {payments: \"^1.4\"}" : "", orders_extra,
        bgt_bin("sample-app"), payments_extra);
    char v[32];

    dfx_start(&f, extra);
    free(extra);
    for (int i = 0; i < 1000; i++) {
        version_of("payments.local", v, sizeof(v));
        if (strcmp(v, "1.9.2") == 0)
            return;
        usleep(20000);
    }
    cr_assert_fail("payments did not answer");
}

/* Asserts that every one of 20 requests to <host> is answered by <want>. */
static void assert_serves(const char *host, const char *want)
{
    char v[32];
    for (int i = 0; i < 20; i++) {
        version_of(host, v, sizeof(v));
        cr_assert_str_eq(v, want, "%s answered version '%s', expected %s", host, v, want);
    }
}

static json_t *service(const char *svc)
{
    char path[96];
    int st;
    snprintf(path, sizeof(path), "/v1/services/%s", svc);
    json_t *j = dfx_api(&f, "GET", path, NULL, &st);
    cr_assert_eq(st, 200);
    return j;
}

static int weight(const char *svc, const char *slot)
{
    json_t *j = service(svc);
    int w = (int)json_integer_value(json_object_get(json_object_get(j, "traffic"), slot));
    json_decref(j);
    return w;
}

static size_t n_targets(const char *svc, const char *slot)
{
    json_t *j = service(svc);
    size_t n = json_array_size(
        json_object_get(json_object_get(json_object_get(j, "slots"), slot), "targets"));
    json_decref(j);
    return n;
}

/* The service's last verified traffic change, as JSON text ("null" before the first). */
static char *last_switch(const char *svc)
{
    json_t *j = service(svc);
    char *s = json_dumps(json_object_get(j, "last_switch"), JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return s;
}

static size_t n_deployments(const char *svc)
{
    char path[96];
    int st;
    snprintf(path, sizeof(path), "/v1/services/%s/deployments", svc);
    json_t *j = dfx_api(&f, "GET", path, NULL, &st);
    size_t n = json_array_size(json_object_get(j, "deployments"));
    json_decref(j);
    return n;
}

/* POST a deployment of sample-app <svc> <version> with the given "api" JSON ("" = none),
 * extra sample-app args and extra JSON members. Returns the answer; *st its status. */
static json_t *deploy_req(const char *svc, const char *version, const char *api,
                          const char *extra_args, const char *extra_json, int *st)
{
    char path[96];
    char *body = bg_asprintf(
        "{\"version\":\"%s\",\"cmd\":\"%s --service %s --version %s%s%s\",\"actor\":\"e2e\"%s%s%s}",
        version, bgt_bin("sample-app"), svc, version, extra_args ? " " : "",
        extra_args ? extra_args : "", api[0] ? ",\"api\":" : "", api, extra_json ? extra_json : "");
    snprintf(path, sizeof(path), "/v1/services/%s/deployments", svc);
    json_t *j = dfx_api(&f, "POST", path, body, st);
    free(body);
    return j;
}

static long long deploy(const char *svc, const char *version, const char *api,
                        const char *extra_args, const char *extra_json)
{
    int st;
    json_t *j = deploy_req(svc, version, api, extra_args, extra_json, &st);
    long long id = (long long)json_integer_value(json_object_get(j, "id"));
    cr_assert_eq(st, 201, "deploy %s %s answered %d: %s", svc, version, st,
                 json_string_value(json_object_get(json_object_get(j, "error"), "message")));
    json_decref(j);
    return id;
}

static const char *jstr(const json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s != NULL ? s : "";
}

/* Deploys and waits for the result; asserts it. Returns the DEPLOYMENT (caller decrefs). */
static json_t *deploy_expect(const char *svc, const char *version, const char *api,
                             const char *extra_json, const char *result)
{
    json_t *d = dfx_wait_result(&f, deploy(svc, version, api, NULL, extra_json), DFX_WAIT_MS);
    cr_assert_str_eq(jstr(d, "result"), result, "%s %s: reason: %s", svc, version,
                     jstr(d, "reason"));
    return d;
}

static char *admin(void)
{
    return bg_asprintf("unix:%s", f.sock);
}

/* The matrix cell(s) whose consumer is <consumer>: how many, and whether all are ok. */
static size_t matrix_cells(const json_t *m, const char *consumer, const char *want_status,
                           const char *consumer_version)
{
    const json_t *cells = json_object_get(m, "cells");
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(cells); i++) {
        const json_t *c = json_array_get(cells, i);
        if (strcmp(jstr(c, "consumer"), consumer) != 0)
            continue;
        cr_assert_str_eq(jstr(c, "status"), want_status, "cell: %s", json_dumps(c, JSON_COMPACT));
        cr_assert_str_eq(jstr(c, "consumer_version"), consumer_version);
        n++;
    }
    return n;
}

/* ---- 1. the gate, both directions ---- */

Test(compat_gate, gate_both_directions)
{
    char h_before[512], h_after[512];
    cli_res_t r;

    start(true, "    strategy: all-at-once\n    termination_wait: 1s\n",
          "    strategy: all-at-once\n    termination_wait: 1s\n");
    dfx_load_start(&f, 2);
    pay_load_start();
    dfx_handles(&f, "blue", h_before, sizeof(h_before));
    char *sw_before = last_switch("orders");

    /* (a) a new consumer that needs payments 2.x while 1.9.2 is live */
    json_t *d = deploy_expect("orders", "3.0.0",
                              "{\"provides\":{\"orders\":\"3.0.0\"},"
                              "\"requires\":{\"payments\":\"^2.0\"}}",
                              "", "REFUSED");
    cr_assert_str_eq(jstr(d, "reason"),
                     "orders 3.0.0 requires payments ^2.0; live payments is 1.9.2 (blue, 100%)");
    cr_assert_eq(json_array_size(json_object_get(d, "switches")), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(d, "targets"), "running")), 0);
    cr_assert(json_is_false(json_object_get(json_object_get(d, "gate"), "ok")));
    json_decref(d);
    cr_assert_eq(n_targets("orders", "green"), 0, "nothing may start after a refusal");
    cr_assert_eq(weight("orders", "blue"), 100);
    dfx_handles(&f, "blue", h_after, sizeof(h_after));
    cr_assert_str_eq(h_after, h_before, "the live targets were touched");
    char *sw_after = last_switch("orders");
    cr_assert_str_eq(sw_after, sw_before, "a refused deployment changed the routing");
    free(sw_after);
    free(sw_before);
    /* a canary is judged at its first step and at 100%: still the one edge */
    d = deploy_expect("orders", "3.0.0",
                      "{\"provides\":{\"orders\":\"3.0.0\"},"
                      "\"requires\":{\"payments\":\"^2.0\"}}",
                      ",\"strategy\":\"canary:10%:5m\"", "REFUSED");
    cr_assert_str_eq(jstr(d, "reason"),
                     "orders 3.0.0 requires payments ^2.0; live payments is 1.9.2 (blue, 100%)");
    json_decref(d);
    cr_assert_eq(n_targets("orders", "green"), 0);

    /* the same through the CLI: deploy --wait exits 3 and says why */
    char *adm = admin();
    char *file = bg_asprintf("%s/orders-3.yaml", f.dir);
    FILE *fp = fopen(file, "w");
    cr_assert(fp != NULL);
    fprintf(fp,
            "version: 3.0.0\nrun: {command: [\"%s\", \"--service\", \"orders\", \"--version\", "
            "\"3.0.0\"]}\napi:\n  provides: {orders: 3.0.0}\n  requires: {payments: \"^2.0\"}\n",
            bgt_bin("sample-app"));
    fclose(fp);
    CLI_RUN(&r, "--admin", adm, "deploy", "orders", "-f", file, "--wait");
    cr_assert_eq(r.code, 3, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    cr_assert(strstr(r.out, "live payments is 1.9.2") != NULL ||
                  strstr(r.err, "live payments is 1.9.2") != NULL,
              "the CLI must name the broken edge: out: %s err: %s", r.out, r.err);
    cli_res_fini(&r);
    cr_assert_eq(n_targets("orders", "green"), 0);

    /* (b) a new provider that drops the API version live orders 1.0.0 requires */
    d = deploy_expect("payments", "2.0.0", "{\"provides\":{\"payments\":\"2.0.0\"}}", "",
                      "REFUSED");
    cr_assert_str_eq(jstr(d, "reason"),
                     "orders 1.0.0 requires payments ^1.4; live payments is 2.0.0 (green, 100%)");
    json_decref(d);
    cr_assert_eq(n_targets("payments", "green"), 0, "nothing may start after a refusal");
    cr_assert_eq(weight("payments", "blue"), 100);
    assert_serves("payments.local", "1.9.2");

    /* (c) expand/contract: payments serving 1.x and 2.x passes, then orders 3.0.0 does */
    json_decref(deploy_expect("payments", "2.0.0",
                              "{\"provides\":{\"payments\":[\"1.9.2\",\"2.0.0\"]}}", "",
                              "SUCCEEDED"));
    assert_serves("payments.local", "2.0.0");
    json_decref(deploy_expect("orders", "3.0.0",
                              "{\"provides\":{\"orders\":\"3.0.0\"},"
                              "\"requires\":{\"payments\":\"^2.0\"}}",
                              "", "SUCCEEDED"));
    assert_serves("orders.local", "3.0.0");

    usleep(200000);
    cr_assert_eq(dfx_load_stop(&f), 0, "orders load failed: %s", f.load.last_failure);
    cr_assert_eq(pay_load_stop(), 0, "payments load failed: %s", pl.last_failure);
    free(file);
    free(adm);
    dfx_finish(&f);
}

/* ---- 2. split states ---- */

Test(compat_gate, split_state_serialised)
{
    int st;
    json_t *j;
    char *body, path[64];

    /* orders 1.0.0 requires nothing, so payments may drop 1.x; payments pauses at 10% */
    start(false, "    strategy: all-at-once\n    termination_wait: 1s\n",
          "    strategy: {steps: [10, {pause: true}, 100]}\n    termination_wait: 1s\n");
    dfx_load_start(&f, 2);
    pay_load_start();
    long long pay =
        deploy("payments", "2.0.0", "{\"provides\":{\"payments\":\"2.0.0\"}}", NULL, "");
    for (int i = 0; i < 3000 && weight("payments", "green") != 10; i++)
        usleep(20000);
    cr_assert_eq(weight("payments", "green"), 10);
    cr_assert_eq(weight("payments", "blue"), 90);

    /* the gate sees both live versions of payments: the dry run names the 90% slot */
    body = bg_asprintf("{\"version\":\"3.0.0\",\"cmd\":\"%s --service orders --version 3.0.0\","
                       "\"api\":{\"requires\":{\"payments\":\"^2.0\"}},\"dry_run\":true}",
                       bgt_bin("sample-app"));
    j = dfx_api(&f, "POST", "/v1/services/orders/deployments", body, &st);
    free(body);
    cr_assert_eq(st, 200);
    json_t *gate = json_object_get(j, "gate");
    cr_assert(json_is_false(json_object_get(gate, "ok")), "dry run: %s",
              json_dumps(j, JSON_COMPACT));
    const char *msg = jstr(json_array_get(json_object_get(gate, "broken"), 0), "message");
    cr_assert(strstr(msg, "orders 3.0.0 requires payments ^2.0; live payments is 1.9.2 (blue, "
                          "90%)") != NULL,
              "broken edge: %s", msg);
    json_decref(j);

    /* so does the matrix */
    j = dfx_api(&f, "GET", "/v1/matrix", NULL, &st);
    json_t *pv = json_object_get(json_object_get(j, "live"), "payments");
    cr_assert_eq(json_array_size(pv), 2, "matrix: %s", json_dumps(j, JSON_COMPACT));
    for (size_t i = 0; i < 2; i++) {
        json_t *l = json_array_get(pv, i);
        bool blue = strcmp(jstr(l, "slot"), "blue") == 0;
        cr_assert_str_eq(jstr(l, "version"), blue ? "1.9.2" : "2.0.0");
        cr_assert_eq(json_integer_value(json_object_get(l, "weight_pct")), blue ? 90 : 10);
    }
    json_decref(j);

    /* the real deployment is serialised behind the running payments deployment */
    j = deploy_req("orders", "3.0.0", "{\"requires\":{\"payments\":\"^2.0\"}}", NULL, "", &st);
    cr_assert_eq(st, 409, "a deployment that could change the gate's answer runs: %d", st);
    json_t *e = json_object_get(j, "error");
    cr_assert_str_eq(jstr(e, "code"), "conflict");
    cr_assert(strstr(jstr(e, "message"), "payments") != NULL, "message: %s", jstr(e, "message"));
    json_decref(j);
    /* nothing changed */
    cr_assert_eq(n_deployments("orders"), 0);
    cr_assert_eq(n_targets("orders", "green"), 0);
    cr_assert_eq(weight("orders", "blue"), 100);
    cr_assert_eq(weight("payments", "green"), 10);
    snprintf(path, sizeof(path), "/v1/deployments/%lld", pay);
    j = dfx_api(&f, "GET", path, NULL, &st);
    cr_assert_eq(st, 200);
    cr_assert_str_eq(jstr(j, "result"), "");
    cr_assert(json_is_true(json_object_get(j, "paused")));
    json_decref(j);

    /* payments promoted to 100% 2.0.0: now orders 3.0.0 runs and passes */
    json_decref(dfx_api(&f, "POST", "/v1/services/payments/promote", "", &st));
    cr_assert_eq(st, 200);
    j = dfx_wait_result(&f, pay, DFX_WAIT_MS);
    cr_assert_str_eq(jstr(j, "result"), "SUCCEEDED", "reason: %s", jstr(j, "reason"));
    json_decref(j);
    json_decref(deploy_expect("orders", "3.0.0", "{\"requires\":{\"payments\":\"^2.0\"}}", "",
                              "SUCCEEDED"));
    assert_serves("orders.local", "3.0.0");
    assert_serves("payments.local", "2.0.0");
    usleep(200000);
    cr_assert_eq(dfx_load_stop(&f), 0, "orders load failed: %s", f.load.last_failure);
    cr_assert_eq(pay_load_stop(), 0, "payments load failed: %s", pl.last_failure);
    dfx_finish(&f);
}

/* ---- 3. two deployments at once ---- */

typedef struct racer {
    const char *svc, *version;
    int status;
    json_t *answer;
    atomic_bool *go;
} racer_t;

static void *race_main(void *arg)
{
    racer_t *r = arg;
    while (!atomic_load(r->go))
        ;
    r->answer = deploy_req(r->svc, r->version, "", NULL, "", &r->status);
    return NULL;
}

Test(compat_gate, concurrent_deployments_serialised)
{
    atomic_bool go = false;
    racer_t rs[2] = {{"orders", "2.0.0", 0, NULL, &go}, {"payments", "1.9.3", 0, NULL, &go}};
    pthread_t t[2];
    int st;

    start(false, "    strategy: {steps: [50, {pause: true}, 100]}\n    termination_wait: 1s\n",
          "    strategy: {steps: [50, {pause: true}, 100]}\n    termination_wait: 1s\n");
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, race_main, &rs[i]), 0);
    atomic_store(&go, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cr_assert((rs[0].status == 201 && rs[1].status == 409) ||
                  (rs[0].status == 409 && rs[1].status == 201),
              "exactly one of two concurrent deployments runs: orders %d, payments %d",
              rs[0].status, rs[1].status);
    racer_t *won = rs[0].status == 201 ? &rs[0] : &rs[1];
    racer_t *lost = won == &rs[0] ? &rs[1] : &rs[0];
    long long id = (long long)json_integer_value(json_object_get(won->answer, "id"));
    json_t *e = json_object_get(lost->answer, "error");
    char want[128];
    snprintf(want, sizeof(want), "deployment %lld of %s is running", id, won->svc);
    cr_assert_str_eq(jstr(e, "code"), "conflict");
    cr_assert(strstr(jstr(e, "message"), want) != NULL, "409 message: %s (expected '%s')",
              jstr(e, "message"), want);
    cr_assert_eq(n_deployments(lost->svc), 0, "the refused deployment left a record");
    cr_assert_eq(n_targets(lost->svc, "green"), 0);

    /* the same service twice is refused too, while the first holds at its pause */
    cr_assert(dfx_wait_phase(&f, id, "PRODUCTION_TRAFFIC_SHIFT", DFX_WAIT_MS));
    json_t *j = deploy_req(won->svc, "9.9.9", "", NULL, "", &st);
    cr_assert_eq(st, 409);
    cr_assert(strstr(jstr(json_object_get(j, "error"), "message"), want) != NULL);
    json_decref(j);

    /* after the first ends, the second runs */
    char path[96];
    snprintf(path, sizeof(path), "/v1/services/%s/promote", won->svc);
    json_decref(dfx_api(&f, "POST", path, "", &st));
    cr_assert_eq(st, 200);
    j = dfx_wait_result(&f, id, DFX_WAIT_MS);
    cr_assert_str_eq(jstr(j, "result"), "SUCCEEDED", "reason: %s", jstr(j, "reason"));
    json_decref(j);
    long long id2 = deploy(lost->svc, lost->version, "", NULL, ",\"strategy\":\"all-at-once\"");
    j = dfx_wait_result(&f, id2, DFX_WAIT_MS);
    cr_assert_str_eq(jstr(j, "result"), "SUCCEEDED", "reason: %s", jstr(j, "reason"));
    json_decref(j);
    assert_serves("orders.local", "2.0.0");
    assert_serves("payments.local", "1.9.3");
    for (int i = 0; i < 2; i++)
        json_decref(rs[i].answer);

    /* the same service twice at once: one runs, one 409 */
    atomic_store(&go, false);
    racer_t same[2] = {{"orders", "2.1.0", 0, NULL, &go}, {"orders", "2.2.0", 0, NULL, &go}};
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, race_main, &same[i]), 0);
    atomic_store(&go, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cr_assert((same[0].status == 201) + (same[1].status == 201) == 1 &&
                  (same[0].status == 409) + (same[1].status == 409) == 1,
              "orders twice at once: %d and %d", same[0].status, same[1].status);
    won = same[0].status == 201 ? &same[0] : &same[1];
    id = (long long)json_integer_value(json_object_get(won->answer, "id"));
    json_decref(dfx_api(&f, "POST", "/v1/services/orders/promote", "", &st));
    j = dfx_wait_result(&f, id, DFX_WAIT_MS);
    cr_assert_str_eq(jstr(j, "result"), "SUCCEEDED", "reason: %s", jstr(j, "reason"));
    json_decref(j);
    assert_serves("orders.local", won->version);
    for (int i = 0; i < 2; i++)
        json_decref(same[i].answer);
    dfx_finish(&f);
}

/* ---- 4. an edge broken during a shift rolls the consumer back ---- */

Test(compat_gate, edge_broken_during_shift_rolls_back)
{
    int st;
    json_t *j, *m;

    start(false, "    strategy: {steps: [10, {pause: true}, 100]}\n    termination_wait: 1s\n",
          "    strategy: all-at-once\n    termination_wait: 5m\n");
    dfx_load_start(&f, 2);
    pay_load_start();
    /* payments 2.0.0 (2.x only): nobody requires 1.x yet; it waits out termination_wait */
    long long pay =
        deploy("payments", "2.0.0", "{\"provides\":{\"payments\":\"2.0.0\"}}", NULL, "");
    j = dfx_wait_result(&f, pay, DFX_WAIT_MS);
    cr_assert_str_eq(jstr(j, "result"), "SUCCEEDED", "reason: %s", jstr(j, "reason"));
    json_decref(j);
    /* orders 3.0.0 (requires ^2.0) holds at 10% */
    long long ord = deploy("orders", "3.0.0",
                           "{\"provides\":{\"orders\":\"3.0.0\"},"
                           "\"requires\":{\"payments\":\"^2.0\"}}",
                           NULL, "");
    for (int i = 0; i < 3000 && weight("orders", "green") != 10; i++)
        usleep(20000);
    cr_assert_eq(weight("orders", "green"), 10);

    /* payments forced back to 1.9.2 within its termination wait: orders' edge breaks */
    j = dfx_api(&f, "POST", "/v1/services/payments/rollback", "{\"force\":true}", &st);
    if (st == 409) {
        /* Refused while another deployment runs: also safe. Then nothing changed, the edge
         * holds, and orders may go on to 100%. */
        cr_log_warn("forced rollback refused while orders deploys: %s",
                    jstr(json_object_get(j, "error"), "message"));
        json_decref(j);
        assert_serves("payments.local", "2.0.0");
        cr_assert_eq(weight("orders", "green"), 10);
        json_decref(dfx_api(&f, "POST", "/v1/services/orders/promote", "", &st));
        cr_assert_eq(st, 200);
        j = dfx_wait_result(&f, ord, DFX_WAIT_MS);
        cr_assert_str_eq(jstr(j, "result"), "SUCCEEDED", "reason: %s", jstr(j, "reason"));
        json_decref(j);
        cr_assert_eq(dfx_load_stop(&f), 0, "orders load failed: %s", f.load.last_failure);
        cr_assert_eq(pay_load_stop(), 0, "payments load failed: %s", pl.last_failure);
        dfx_finish(&f);
        return;
    }
    cr_assert_eq(st, 200, "forced rollback answered %d: %s", st, json_dumps(j, JSON_COMPACT));
    cr_assert_str_eq(jstr(j, "result"), "ROLLED_BACK");
    cr_assert_eq(json_integer_value(json_object_get(j, "id")), pay);
    json_decref(j);
    assert_serves("payments.local", "1.9.2");
    /* the matrix shows the broken edge (orders 3.0.0 at 10% against payments 1.9.2) */
    m = dfx_api(&f, "GET", "/v1/matrix", NULL, &st);
    cr_assert_eq(st, 200);
    cr_assert(json_is_false(json_object_get(m, "ok")), "matrix: %s", json_dumps(m, JSON_COMPACT));
    json_decref(m);

    /* promote: the gate before the step to 100% refuses and orders rolls back */
    json_decref(dfx_api(&f, "POST", "/v1/services/orders/promote", "", &st));
    cr_assert_eq(st, 200);
    j = dfx_wait_result(&f, ord, DFX_WAIT_MS);
    cr_assert_str_eq(jstr(j, "result"), "ROLLED_BACK", "reason: %s", jstr(j, "reason"));
    cr_assert(strstr(jstr(j, "reason"), "gate") != NULL, "reason: %s", jstr(j, "reason"));
    cr_assert(strstr(jstr(j, "reason"),
                     "orders 3.0.0 requires payments ^2.0; live payments is 1.9.2") != NULL,
              "reason: %s", jstr(j, "reason"));
    json_decref(j);
    cr_assert_eq(weight("orders", "blue"), 100);
    assert_serves("orders.local", "1.0.0");
    m = dfx_api(&f, "GET", "/v1/matrix", NULL, &st);
    cr_assert(json_is_true(json_object_get(m, "ok")), "matrix: %s", json_dumps(m, JSON_COMPACT));
    json_decref(m);
    /* nothing is left running: both services deploy again */
    json_decref(deploy_expect("payments", "2.0.1",
                              "{\"provides\":{\"payments\":[\"1.9.2\",\"2.0.1\"]}}", "",
                              "SUCCEEDED"));
    json_decref(deploy_expect("orders", "3.0.1",
                              "{\"provides\":{\"orders\":\"3.0.1\"},"
                              "\"requires\":{\"payments\":\"^2.0\"}}",
                              ",\"strategy\":\"all-at-once\"", "SUCCEEDED"));
    assert_serves("payments.local", "2.0.1");
    assert_serves("orders.local", "3.0.1");
    usleep(200000);
    cr_assert_eq(dfx_load_stop(&f), 0, "orders load failed: %s", f.load.last_failure);
    cr_assert_eq(pay_load_stop(), 0, "payments load failed: %s", pl.last_failure);
    dfx_finish(&f);
}

/* ---- 5. the rollback gate ---- */

Test(compat_gate, rollback_gate_refuses_then_force)
{
    int st;
    cli_res_t r;
    json_t *j, *e;

    start(false, "    strategy: all-at-once\n    termination_wait: 5m\n",
          "    strategy: all-at-once\n    termination_wait: 5m\n");
    pay_load_start();
    json_decref(deploy_expect("payments", "2.0.0", "{\"provides\":{\"payments\":\"2.0.0\"}}", "",
                              "SUCCEEDED"));
    json_decref(deploy_expect("orders", "3.0.0",
                              "{\"provides\":{\"orders\":\"3.0.0\"},"
                              "\"requires\":{\"payments\":\"^2.0\"}}",
                              "", "SUCCEEDED"));
    j = dfx_api(&f, "POST", "/v1/services/payments/rollback", "{\"force\":false}", &st);
    cr_assert_eq(st, 409, "answered %d: %s", st, json_dumps(j, JSON_COMPACT));
    e = json_object_get(j, "error");
    cr_assert(json_is_true(json_object_get(e, "gate")));
    cr_assert_gt(json_array_size(json_object_get(e, "broken")), 0);
    cr_assert(strstr(jstr(e, "message"), "orders 3.0.0 requires payments ^2.0") != NULL,
              "message: %s", jstr(e, "message"));
    json_decref(j);
    assert_serves("payments.local", "2.0.0");
    cr_assert_eq(weight("payments", "green"), 100);

    char *adm = admin();
    CLI_RUN(&r, "--admin", adm, "rollback", "payments");
    cr_assert_eq(r.code, 3, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    cr_assert(strstr(r.err, "--force") != NULL, "err: %s", r.err);
    cr_assert(strstr(r.err, "orders") != NULL, "err: %s", r.err);
    cli_res_fini(&r);
    assert_serves("payments.local", "2.0.0");

    /* forced: payments is 1.9.2 again, and the matrix says orders is broken */
    CLI_RUN(&r, "--admin", adm, "rollback", "payments", "--force");
    cr_assert_eq(r.code, 0, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    cli_res_fini(&r);
    assert_serves("payments.local", "1.9.2");
    j = dfx_api(&f, "GET", "/v1/matrix", NULL, &st);
    cr_assert_eq(st, 200);
    cr_assert(json_is_false(json_object_get(j, "ok")));
    cr_assert_eq(matrix_cells(j, "orders", "broken", "3.0.0"), 1, "matrix: %s",
                 json_dumps(j, JSON_COMPACT));
    json_decref(j);
    CLI_RUN(&r, "--admin", adm, "matrix");
    cr_assert_eq(r.code, 3, "a broken edge exits 3: exit %d, err: %s", r.code, r.err);
    cr_assert(strstr(r.out, "consumer=orders consumer_version=3.0.0 api=payments range=^2.0 "
                            "provider=payments live=\"1.9.2 (blue, 100%)\" ok=false") != NULL,
              "matrix: %s", r.out);
    cli_res_fini(&r);
    free(adm);
    cr_assert_eq(pay_load_stop(), 0, "payments load failed: %s", pl.last_failure);
    dfx_finish(&f);
}

/* ---- 6. a release stops at its first failure ---- */

static char *release_file(const char *name, const char *payments_api, const char *orders_args)
{
    const char *app = bgt_bin("sample-app");
    char *yaml = bg_asprintf(
        "services:\n"
        "  payments:\n"
        "    version: 2.0.0\n"
        "    run: {command: [\"%s\", \"--service\", \"payments\", \"--version\", \"2.0.0\"]}\n"
        "    api: {provides: {payments: %s}}\n"
        "  orders:\n"
        "    version: 3.0.0\n"
        "    run: {command: [\"%s\", \"--service\", \"orders\", \"--version\", \"3.0.0\"%s]}\n"
        "    api: {provides: {orders: 3.0.0}, requires: {payments: \"^2.0\"}}\n",
        app, payments_api, app, orders_args);
    char *path = cli_write_file(f.dir, name, yaml);
    free(yaml);
    return path;
}

static char *release_body(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = fopen(path, "r");
    cr_assert(fp != NULL);
    text = bg_xmalloc(8192);
    len = fread(text, 1, 8191, fp);
    text[len] = '\0';
    fclose(fp);
    json_t *j = json_pack("{s:{s:s,s:s,s:s}}", "release_file", "name", strrchr(path, '/') + 1,
                          "yaml", text, "dir", f.dir);
    char *body = json_dumps(j, 0);
    json_decref(j);
    free(text);
    return body;
}

Test(compat_gate, release_stops_at_first_failure)
{
    int st;
    cli_res_t r;

    start(true,
          "    strategy: all-at-once\n    termination_wait: 1s\n"
          "    startup_timeout: 1s\n",
          "    strategy: all-at-once\n    termination_wait: 1s\n");
    dfx_load_start(&f, 2);
    pay_load_start();
    char *file = release_file("release.yaml", "[1.9.2, 2.0.0]", ", \"--fail-health\"");
    char *body = release_body(file);
    json_t *j = dfx_api(&f, "POST", "/v1/releases", body, &st);
    free(body);
    cr_assert_eq(st, 200, "answered %d: %s", st, json_dumps(j, JSON_COMPACT));
    cr_assert_str_eq(jstr(j, "result"), "ROLLED_BACK", "release: %s", json_dumps(j, JSON_COMPACT));
    json_t *steps = json_object_get(j, "steps");
    cr_assert_eq(json_array_size(steps), 2);
    cr_assert_str_eq(jstr(json_array_get(steps, 0), "service"), "payments");
    cr_assert_str_eq(jstr(json_array_get(steps, 0), "result"), "SUCCEEDED");
    cr_assert_str_eq(jstr(json_array_get(steps, 1), "service"), "orders");
    cr_assert_str_eq(jstr(json_array_get(steps, 1), "result"), "ROLLED_BACK");
    json_t *live = json_object_get(j, "live");
    cr_assert_str_eq(jstr(json_object_get(live, "payments"), "version"), "2.0.0");
    cr_assert_str_eq(jstr(json_object_get(live, "orders"), "version"), "1.0.0");
    json_decref(j);
    assert_serves("payments.local", "2.0.0");
    assert_serves("orders.local", "1.0.0");

    /* the CLI: payments is already there; orders fails again; exit 1 */
    char *adm = admin();
    CLI_RUN(&r, "--admin", adm, "release", file);
    cr_assert_eq(r.code, 1, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    cr_assert(strstr(r.out, "ROLLED_BACK") != NULL, "out: %s", r.out);
    cli_res_fini(&r);
    assert_serves("orders.local", "1.0.0");
    assert_serves("payments.local", "2.0.0");
    cr_assert_eq(n_deployments("payments"), 1, "payments was deployed once, then unchanged");
    free(adm);
    free(file);
    usleep(200000);
    cr_assert_eq(dfx_load_stop(&f), 0, "orders load failed: %s", f.load.last_failure);
    cr_assert_eq(pay_load_stop(), 0, "payments load failed: %s", pl.last_failure);
    dfx_finish(&f);
}

/* ---- 7. an impossible release ---- */

Test(compat_gate, impossible_release_refused)
{
    int st;
    cli_res_t r;

    start(true, "    strategy: all-at-once\n", "    strategy: all-at-once\n");
    char *file = release_file("release.yaml", "2.0.0", "");
    char *body = release_body(file);

    json_t *j = dfx_api(&f, "POST", "/v1/plan", body, &st);
    cr_assert_eq(st, 200, "answered %d: %s", st, json_dumps(j, JSON_COMPACT));
    cr_assert(json_is_false(json_object_get(j, "ok")));
    json_t *b = json_object_get(j, "blocked");
    json_t *cycle = json_object_get(b, "cycle");
    cr_assert_geq(json_array_size(cycle), 2, "plan: %s", json_dumps(j, JSON_COMPACT));
    bool orders_first = false, payments_first = false;
    for (size_t i = 0; i < json_array_size(cycle); i++) {
        const json_t *c = json_array_get(cycle, i);
        orders_first |= strcmp(jstr(c, "first"), "orders") == 0;
        payments_first |= strcmp(jstr(c, "first"), "payments") == 0;
    }
    cr_assert(orders_first && payments_first, "the cycle: %s", json_dumps(cycle, JSON_COMPACT));
    json_t *hint = json_object_get(b, "hint");
    cr_assert_str_eq(jstr(hint, "service"), "payments", "hint: %s", json_dumps(j, JSON_COMPACT));
    cr_assert_str_eq(jstr(hint, "api"), "payments");
    json_t *vs = json_object_get(hint, "versions");
    bool v1 = false, v2 = false;
    for (size_t i = 0; i < json_array_size(vs); i++) {
        const char *v = json_string_value(json_array_get(vs, i));
        v1 |= v != NULL && v[0] == '1';
        v2 |= v != NULL && strcmp(v, "2.0.0") == 0;
    }
    cr_assert(v1 && v2, "the hint serves 1.x and 2.0.0: %s", json_dumps(vs, JSON_COMPACT));
    cr_assert(json_is_true(json_object_get(hint, "verified")));
    json_decref(j);

    char *adm = admin();
    CLI_RUN(&r, "--admin", adm, "plan", file);
    cr_assert_eq(r.code, 3, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    cr_assert(strstr(r.out, "blocked") != NULL && strstr(r.out, "expand") != NULL, "out: %s",
              r.out);
    cli_res_fini(&r);

    /* running it deploys nothing */
    j = dfx_api(&f, "POST", "/v1/releases", body, &st);
    cr_assert_eq(st, 200);
    cr_assert_str_eq(jstr(j, "result"), "REFUSED", "release: %s", json_dumps(j, JSON_COMPACT));
    cr_assert_eq(json_array_size(json_object_get(j, "steps")), 0);
    json_decref(j);
    CLI_RUN(&r, "--admin", adm, "release", file);
    cr_assert_eq(r.code, 3, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    cli_res_fini(&r);
    cr_assert_eq(n_deployments("payments"), 0);
    cr_assert_eq(n_deployments("orders"), 0);
    cr_assert_eq(n_targets("payments", "green"), 0);
    cr_assert_eq(n_targets("orders", "green"), 0);
    assert_serves("payments.local", "1.9.2");
    assert_serves("orders.local", "1.0.0");
    free(adm);
    free(body);
    free(file);
    dfx_finish(&f);
}

/* ---- 8. the matrix agrees with what is live ---- */

Test(compat_gate, matrix_follows_live_versions)
{
    int st;
    cli_res_t r;
    json_t *m;

    start(true, "    strategy: all-at-once\n    termination_wait: 1s\n",
          "    strategy: all-at-once\n    termination_wait: 1s\n");
    char *adm = admin();
    m = dfx_api(&f, "GET", "/v1/matrix", NULL, &st);
    cr_assert_eq(st, 200);
    cr_assert(json_is_true(json_object_get(m, "ok")));
    cr_assert_eq(matrix_cells(m, "orders", "ok", "1.0.0"), 1, "matrix: %s",
                 json_dumps(m, JSON_COMPACT));
    json_decref(m);

    /* step 1c: expand/contract payments, then orders 3.0.0 */
    json_decref(deploy_expect("payments", "2.0.0",
                              "{\"provides\":{\"payments\":[\"1.9.2\",\"2.0.0\"]}}", "",
                              "SUCCEEDED"));
    json_decref(deploy_expect("orders", "3.0.0",
                              "{\"provides\":{\"orders\":\"3.0.0\"},"
                              "\"requires\":{\"payments\":\"^2.0\"}}",
                              "", "SUCCEEDED"));
    m = dfx_api(&f, "GET", "/v1/matrix", NULL, &st);
    cr_assert_eq(st, 200);
    cr_assert(json_is_true(json_object_get(m, "ok")), "matrix: %s", json_dumps(m, JSON_COMPACT));
    cr_assert_eq(json_array_size(json_object_get(m, "broken")), 0);
    cr_assert_eq(json_array_size(json_object_get(m, "missing")), 0);
    /* only the live orders (3.0.0, green 100%) has a cell; payments' live versions */
    cr_assert_eq(matrix_cells(m, "orders", "ok", "3.0.0"), 1, "matrix: %s",
                 json_dumps(m, JSON_COMPACT));
    json_t *pl_live = json_object_get(json_object_get(m, "live"), "payments");
    cr_assert_eq(json_array_size(pl_live), 1, "payments live: %s",
                 json_dumps(pl_live, JSON_COMPACT));
    cr_assert_str_eq(jstr(json_array_get(pl_live, 0), "version"), "2.0.0");
    cr_assert_str_eq(jstr(json_array_get(pl_live, 0), "slot"), "green");
    json_decref(m);

    CLI_RUN(&r, "--admin", adm, "matrix");
    cr_assert_eq(r.code, 0, "exit %d, err: %s", r.code, r.err);
    cr_assert(strstr(r.out, "consumer=orders consumer_version=3.0.0 api=payments range=^2.0 "
                            "provider=payments live=\"[1.9.2, 2.0.0] (green, 100%)\" "
                            "ok=true") != NULL,
              "matrix: %s", r.out);
    cr_assert(strstr(r.out, "ok=false") == NULL, "matrix: %s", r.out);
    cr_assert(strstr(r.out, "consumer_version=1.0.0") == NULL,
              "orders 1.0.0 is not live any more: %s", r.out);
    cli_res_fini(&r);
    CLI_RUN(&r, "--admin", adm, "matrix", "--json");
    cr_assert_eq(r.code, 0, "exit %d, err: %s", r.code, r.err);
    json_t *cj = json_loads(r.out, 0, NULL);
    cr_assert(json_is_true(json_object_get(cj, "ok")), "matrix --json: %s", r.out);
    json_decref(cj);
    cli_res_fini(&r);
    free(adm);
    dfx_finish(&f);
}

/* ---- 5b. the rollback gate, consumer direction ---- */

Test(compat_gate, rollback_gate_consumer_direction)
{
    int st;
    json_t *j, *e;

    /* orders 1.0.0 needs payments ^1.4; expand payments, move orders to ^2.0, contract
     * payments to 2.x only: rolling orders back to 1.0.0 would now break it */
    start(true, "    strategy: all-at-once\n    termination_wait: 5m\n",
          "    strategy: all-at-once\n    termination_wait: 1s\n");
    dfx_load_start(&f, 2);
    json_decref(deploy_expect("payments", "2.0.0",
                              "{\"provides\":{\"payments\":[\"1.9.2\",\"2.0.0\"]}}", "",
                              "SUCCEEDED"));
    json_decref(deploy_expect("orders", "3.0.0",
                              "{\"provides\":{\"orders\":\"3.0.0\"},"
                              "\"requires\":{\"payments\":\"^2.0\"}}",
                              "", "SUCCEEDED"));
    json_decref(deploy_expect("payments", "2.1.0", "{\"provides\":{\"payments\":\"2.1.0\"}}", "",
                              "SUCCEEDED"));
    assert_serves("payments.local", "2.1.0");
    j = dfx_api(&f, "POST", "/v1/services/orders/rollback", "{}", &st);
    cr_assert_eq(st, 409, "answered %d: %s", st, json_dumps(j, JSON_COMPACT));
    e = json_object_get(j, "error");
    cr_assert(json_is_true(json_object_get(e, "gate")));
    cr_assert(strstr(jstr(e, "message"), "orders 1.0.0 requires payments ^1.4") != NULL,
              "message: %s", jstr(e, "message"));
    json_decref(j);
    assert_serves("orders.local", "3.0.0");
    cr_assert_eq(weight("orders", "green"), 100);
    usleep(200000);
    cr_assert_eq(dfx_load_stop(&f), 0, "orders load failed: %s", f.load.last_failure);
    dfx_finish(&f);
}

/* Explicit matrix rules (config `matrix:`) are part of the gate: orders 2.x is declared
 * incompatible with payments < 1.9.5 although its ranges would allow 1.9.2, so the
 * deployment is refused with the rule and its reason; the matrix shows the rule. */
Test(compat_gate, matrix_rules_file_gates_deployments)
{
    char *rdir = bgt_tmpdir("rules");
    char *rules = bg_asprintf("%s/compat-rules.yaml", rdir);
    FILE *fp = fopen(rules, "w");
    cr_assert(fp != NULL);
    fputs("rules:\n"
          "  - service: orders\n"
          "    version: \"2.x\"\n"
          "    incompatible_with: {service: payments, version: \"<1.9.5\"}\n"
          "    reason: uses the v2 refunds endpoint\n",
          fp);
    fclose(fp);
    char *top = bg_asprintf("    strategy: all-at-once\n    termination_wait: 1s\nmatrix: %s\n",
                            rules);

    start(true, "    strategy: all-at-once\n    termination_wait: 1s\n", top);
    dfx_load_start(&f, 2);
    json_t *d = deploy_expect("orders", "2.0.0",
                              "{\"provides\":{\"orders\":\"2.0.0\"},"
                              "\"requires\":{\"payments\":\"^1.4\"}}",
                              "", "REFUSED");
    cr_assert(strstr(jstr(d, "reason"), "orders 2.0.0 is incompatible with payments <1.9.5 "
                                        "(uses the v2 refunds endpoint)") != NULL,
              "reason: %s", jstr(d, "reason"));
    json_decref(d);
    cr_assert_eq(n_targets("orders", "green"), 0, "nothing may start after a refusal");
    /* a payments version outside the rule lets it through */
    json_decref(deploy_expect("payments", "1.9.7", "{\"provides\":{\"payments\":\"1.9.7\"}}", "",
                              "SUCCEEDED"));
    json_decref(deploy_expect("orders", "2.0.0",
                              "{\"provides\":{\"orders\":\"2.0.0\"},"
                              "\"requires\":{\"payments\":\"^1.4\"}}",
                              "", "SUCCEEDED"));
    usleep(200000);
    cr_assert_eq(dfx_load_stop(&f), 0, "orders load failed: %s", f.load.last_failure);
    dfx_finish(&f);
    free(top);
    free(rules);
    free(rdir);
}

/* A rules file that does not load stops check-config and serve with its position. */
Test(compat_gate, bad_matrix_rules_file_is_a_config_error)
{
    char *dir = bgt_tmpdir("rules-bad");
    char *rules = bg_asprintf("%s/compat-rules.yaml", dir);
    char *cfg = bg_asprintf("%s/bluegreen.yaml", dir);
    FILE *fp = fopen(rules, "w");
    cr_assert(fp != NULL);
    fputs("rules:\n  - service: orders\n    version: \">>2\"\n"
          "    incompatible_with: {service: payments}\n",
          fp);
    fclose(fp);
    fp = fopen(cfg, "w");
    cr_assert(fp != NULL);
    fprintf(fp, "state_dir: %s/state\nmatrix: %s\nservices:\n  orders:\n"
                "    run: {command: [\"%s\"]}\n",
            dir, rules, bgt_bin("sample-app"));
    fclose(fp);
    cli_res_t r;
    CLI_RUN(&r, "check-config", "-c", cfg);
    cr_assert_eq(r.code, 2, "check-config exit %d: %s%s", r.code, r.out, r.err);
    char want[600];
    snprintf(want, sizeof(want), "%s:3:16: rules[0].version: ", rules);
    cr_assert(strstr(r.err, want) != NULL, "stderr lacks '%s':\n%s", want, r.err);
    cli_res_fini(&r);
    CLI_RUN(&r, "serve", "-c", cfg);
    cr_assert_eq(r.code, 2, "serve exit %d: %s%s", r.code, r.out, r.err);
    cr_assert(strstr(r.err, want) != NULL, "stderr lacks '%s':\n%s", want, r.err);
    cli_res_fini(&r);
    free(cfg);
    free(rules);
    free(dir);
}

/* ---- 12. a revision given on the command line inherits the live API (issue 9 item 6) ---- */

/* `deploy orders --version V --cmd 'sample-app ... V' <extra...> --dry-run` (or without
 * --dry-run when <dry> is false: then --wait). */
static void cli_deploy_orders(cli_res_t *r, const char *version, bool dry, const char *const *extra)
{
    char *adm = admin();
    char *cmd = bg_asprintf("%s --service orders --version %s", bgt_bin("sample-app"), version);
    const char *args[16] = {"--admin", adm, "deploy", "orders", "--version", version, "--cmd", cmd};
    size_t n = 8;

    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
        args[n++] = extra[i];
    args[n++] = dry ? "--dry-run" : "--wait";
    args[n] = NULL;
    cli_run_in(r, NULL, NULL, 60000, args);
    free(cmd);
    free(adm);
}

Test(compat_gate, cli_revision_inherits_live_api)
{
    cli_res_t r;
    json_t *j;
    json_error_t jerr;
    char *billing = bg_asprintf(
        "    strategy: all-at-once\n"
        "  billing:\n"
        "    route: {host: billing.local}\n"
        "    version: 1.0.0\n"
        "    run: {command: [\"%s\", \"--service\", \"billing\", \"--version\", \"1.0.0\"]}\n"
        "    health: {path: /actuator/health, format: actuator, interval: 100ms, timeout: 1s,\n"
        "             healthy_threshold: 1, unhealthy_threshold: 1}\n"
        "    api: {requires: {orders: \"^1.0\"}}\n",
        bgt_bin("sample-app"));

    /* orders 1.0.0 provides orders 1.0.0, requires payments ^1.4; billing requires orders ^1 */
    start(true, "    strategy: all-at-once\n    termination_wait: 1s\n", billing);
    free(billing);

    /* a compatible minor: its own API follows --version (1.1.0 satisfies billing's ^1.0);
     * before, it declared nothing and billing's edge broke ("does not provide orders") */
    cli_deploy_orders(&r, "1.1.0", true, NULL);
    cr_assert_eq(r.code, 0, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    cr_assert(strstr(r.out, "gate=ok") != NULL, "out: %s", r.out);
    cr_assert(strstr(r.out, "api=\"inherited from orders#") != NULL, "out: %s", r.out);
    cr_assert(strstr(r.out, "own API version follows --version") != NULL, "out: %s", r.out);
    cli_res_fini(&r);

    /* the issue's case: an incompatible major given by --cmd is refused, the edge named */
    cli_deploy_orders(&r, "3.0.0", true, NULL);
    cr_assert_eq(r.code, 3, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    cr_assert(strstr(r.out, "gate=refused") != NULL, "out: %s", r.out);
    cr_assert(strstr(r.out, "billing 1.0.0 requires orders ^1.0") != NULL, "out: %s", r.out);
    cli_res_fini(&r);

    /* --json: the source is structured; the requirement came along from the live revision */
    cli_deploy_orders(&r, "3.0.0", true, (const char *const[]){"--json", NULL});
    cr_assert_eq(r.code, 3, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    j = json_loads(r.out, 0, &jerr);
    cr_assert(j != NULL, "not JSON: %s", r.out);
    json_t *src = json_object_get(j, "api_source");
    cr_assert_str_eq(jstr(src, "provides"), "inherited");
    cr_assert_str_eq(jstr(src, "requires"), "inherited");
    cr_assert_str_eq(jstr(src, "version"), "1.0.0");
    cr_assert(json_integer_value(json_object_get(src, "revision")) > 0);
    cr_assert(json_is_true(json_object_get(src, "follows_version")));
    json_t *api = json_object_get(json_object_get(j, "revision"), "api");
    cr_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(json_object_get(api, "provides"), "orders"), 0)),
                     "3.0.0");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(api, "requires"), "payments")), "^1.4");
    json_decref(j);
    cli_res_fini(&r);

    /* --provides replaces the provides only (expand/contract passes); the requires stay */
    cli_deploy_orders(&r, "3.0.0", true,
                      (const char *const[]){"--provides", "orders=1.9.0,3.0.0", NULL});
    cr_assert_eq(r.code, 0, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    cr_assert(strstr(r.out, "api=\"provides from --provides, requires inherited from orders#") !=
                  NULL,
              "out: %s", r.out);
    cli_res_fini(&r);
    /* --requires too: both from the command line; payments 1.9.2 does not satisfy ^2.0 */
    cli_deploy_orders(&r, "3.0.0", true,
                      (const char *const[]){"--provides", "orders=1.9.0,3.0.0", "--requires",
                                            "payments=^2.0", NULL});
    cr_assert_eq(r.code, 3, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    cr_assert(strstr(r.out, "api=\"from --provides/--requires\"") != NULL, "out: %s", r.out);
    cr_assert(strstr(r.out, "orders 3.0.0 requires payments ^2.0") != NULL, "out: %s", r.out);
    cli_res_fini(&r);
    /* a bad range is a usage error before any request */
    cli_deploy_orders(&r, "3.0.0", true, (const char *const[]){"--requires", "payments=^^2", NULL});
    cr_assert_eq(r.code, 2, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    cli_res_fini(&r);

    /* the real gate: refused, nothing started, the record says where the API came from */
    cli_deploy_orders(&r, "3.0.0", false, NULL);
    cr_assert_eq(r.code, 3, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    cr_assert(strstr(r.out, "billing 1.0.0 requires orders ^1.0") != NULL ||
                  strstr(r.err, "billing 1.0.0 requires orders ^1.0") != NULL,
              "out: %s err: %s", r.out, r.err);
    cli_res_fini(&r);
    cr_assert_eq(n_targets("orders", "green"), 0, "nothing may start after a refusal");

    /* the compatible one runs, followed from another "shell" by `deployment ID`; the next
     * inherits from the revision it made live */
    long long id = deploy("orders", "1.1.0", "", NULL, "");
    char *adm = admin(), ids[32];
    snprintf(ids, sizeof(ids), "%lld", id);
    CLI_RUN(&r, "--admin", adm, "deployment", ids);
    cr_assert_eq(r.code, 0, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    cr_assert(strstr(r.out, "result=SUCCEEDED") != NULL, "out: %s", r.out);
    cli_res_fini(&r);
    assert_serves("orders.local", "1.1.0");
    /* nothing runs now: --watch says so, exit 0; status shows the versions */
    CLI_RUN(&r, "--admin", adm, "status", "orders", "--watch");
    cr_assert_eq(r.code, 0, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    cr_assert(strstr(r.out, "watch service=orders running=none") != NULL, "out: %s", r.out);
    cr_assert(strstr(r.out, "_version=1.1.0") != NULL, "out: %s", r.out);
    cli_res_fini(&r);
    /* a refused deployment's record: exit 3 */
    long long refused = deploy("orders", "3.0.0", "", NULL, "");
    json_decref(dfx_wait_result(&f, refused, DFX_WAIT_MS));
    snprintf(ids, sizeof(ids), "%lld", refused);
    CLI_RUN(&r, "--admin", adm, "deployment", ids);
    cr_assert_eq(r.code, 3, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    cli_res_fini(&r);
    free(adm);
    adm = NULL;
    cli_deploy_orders(&r, "1.2.0", true, (const char *const[]){"--json", NULL});
    cr_assert_eq(r.code, 0, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    j = json_loads(r.out, 0, &jerr);
    cr_assert(j != NULL, "not JSON: %s", r.out);
    cr_assert_str_eq(jstr(json_object_get(j, "api_source"), "version"), "1.1.0");
    json_decref(j);
    cli_res_fini(&r);

    /* status --watch follows the running deployment (a 2 s canary) to its result */
    deploy("orders", "1.2.0", "", NULL, ",\"strategy\":\"canary:50%:2s\"");
    adm = admin();
    CLI_RUN(&r, "--admin", adm, "status", "orders", "--watch");
    cr_assert_eq(r.code, 0, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    cr_assert(strstr(r.out, "following service=orders") != NULL, "out: %s", r.out);
    cr_assert(strstr(r.out, "result=SUCCEEDED") != NULL, "out: %s", r.out);
    cli_res_fini(&r);
    free(adm);
    assert_serves("orders.local", "1.2.0");
    dfx_finish(&f);
}

/* ---- 13. a release text nested 200k deep is refused by the depth guard (issue 9 item 7) ---- */

Test(compat_gate, deep_release_refused_by_depth_guard)
{
    size_t depth = 200000;
    char *yaml = malloc(depth + 1);
    int st;

    cr_assert_not_null(yaml);
    memset(yaml, '[', depth);
    yaml[depth] = '\0';
    json_t *body = json_pack("{s:{s:s,s:s,s:s}}", "release_file", "name", "deep.yaml", "yaml", yaml,
                             "dir", "/tmp");
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    free(yaml);

    start(false, "", "");
    const char *routes[] = {"/v1/plan", "/v1/releases"};
    for (size_t i = 0; i < 2; i++) {
        json_t *j = dfx_api(&f, "POST", routes[i], text, &st);
        const char *msg = jstr(json_object_get(j, "error"), "message");
        cr_assert_eq(st, 400, "%s answered %d: %s", routes[i], st, json_dumps(j, JSON_COMPACT));
        cr_assert(strstr(msg, "nesting deeper than 64 levels") != NULL, "%s: %s", routes[i], msg);
        json_decref(j);
    }
    free(text);

    /* a revision file's error names FILE:LINE:COLUMN, through the API and the CLI */
    char *adm = admin();
    char *file = cli_write_file(f.dir, "bad-rev.yaml",
                                "version: 3.0.0\nrun: {command: [./app]}\ncount: many\n");
    cli_res_t r;
    CLI_RUN(&r, "--admin", adm, "deploy", "orders", "-f", file);
    cr_assert_eq(r.code, 2, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    char *want = bg_asprintf("bluegreen: %s:3:8: count: expected a whole number", file);
    cr_assert(strncmp(r.err, want, strlen(want)) == 0, "want %s\ngot  %s", want, r.err);
    free(want);
    cli_res_fini(&r);
    CLI_RUN(&r, "--admin", adm, "--json", "deploy", "orders", "-f", file);
    cr_assert_eq(r.code, 2, "exit %d, err: %s", r.code, r.err);
    json_t *ejr = json_loads(r.err, 0, NULL);
    json_t *ej = json_object_get(ejr, "error");
    cr_assert_not_null(ej, "stderr: %s", r.err);
    cr_assert_str_eq(jstr(ej, "code"), "bad_request");
    cr_assert_str_eq(jstr(ej, "file"), file);
    cr_assert_eq(json_integer_value(json_object_get(ej, "line")), 3);
    cr_assert_eq(json_integer_value(json_object_get(ej, "column")), 8);
    cr_assert_str_eq(jstr(ej, "key"), "count");
    json_decref(ejr);
    cli_res_fini(&r);
    free(file);
    free(adm);
    /* the control thread is free: the daemon answers and nothing was deployed */
    json_decref(dfx_api(&f, "GET", "/v1/matrix", NULL, &st));
    cr_assert_eq(st, 200);
    cr_assert_eq(n_deployments("orders"), 0);
    dfx_finish(&f);
}
