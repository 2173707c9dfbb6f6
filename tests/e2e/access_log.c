/* e2e: the access log of a real `bluegreen serve` (issue 12 item 5).
 *
 * One JSON line per request with the documented fields (request id, client, host, method,
 * target, status, bytes, service, slot, version, upstream address, durations, retries);
 * X-Request-Id answered to the client, kept when the client sent a valid one and replaced
 * when it was not valid; the file is reopened on SIGUSR1 and on POST /v1/logs/reopen (what
 * `bluegreen reopen-logs` calls) after a rotation moved it; `combined` as an option.
 * Lines are written by the log's writer thread: the test waits for them with a deadline.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "e2e/cli_run.h"
#include "e2e/deploy_fixture.h"
#include "support/support.h"

static dfx_t f;
static const char *format = "json";

static void teardown(void)
{
    dfx_stop(&f);
}

TestSuite(access_log, .fini = teardown, .timeout = 120);

static char *log_path(const char *suffix)
{
    return bg_asprintf("%s/access.log%s", f.dir, suffix);
}

static void add_access_log(dfx_t *fx)
{
    FILE *fp = fopen(fx->cfg_path, "a");

    cr_assert(fp != NULL);
    fprintf(fp, "access_log: %s/access.log\naccess_log_format: %s\n", fx->dir, format);
    fclose(fp);
}

/* GET <target> on the production listener with optional X-Request-Id; the answer's
 * X-Request-Id into <rid>. */
static void request(const char *target, const char *sent_id, char *rid, size_t size)
{
    char *raw = bg_asprintf("GET %s HTTP/1.1\r\nHost: orders.test\r\nUser-Agent: e2e-agent\r\n"
                            "%s%s%sConnection: close\r\n\r\n",
                            target, sent_id ? "X-Request-Id: " : "", sent_id ? sent_id : "",
                            sent_id ? "\r\n" : "");
    bgt_resp_t r = {0};

    cr_assert(bgt_http_raw(f.port, raw, strlen(raw), &r, 10000), "no answer to %s", target);
    cr_assert_eq(r.status, 200, "%s: %d", target, r.status);
    cr_assert(bgt_resp_header(&r, "X-Request-Id", rid, size), "no X-Request-Id answered");
    bgt_resp_fini(&r);
    free(raw);
}

typedef struct want {
    const char *path;
    const char *text;
} want_t;

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *s;
    long n;

    if (fp == NULL)
        return bg_strdup("");
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    s = bg_xmalloc((size_t)n + 1);
    s[fread(s, 1, (size_t)n, fp)] = '\0';
    fclose(fp);
    return s;
}

static bool file_has(void *arg)
{
    want_t *w = arg;
    char *s = slurp(w->path);
    bool ok = strstr(s, w->text) != NULL;

    free(s);
    return ok;
}

/* The line of <path> containing <id>, parsed (asserts there is exactly one). */
static json_t *line_with(const char *path, const char *id)
{
    want_t w = {path, id};
    char *s, *line, *save = NULL;
    json_t *found = NULL;
    int n = 0;

    cr_assert(bgt_wait_until(file_has, &w, DFX_WAIT_MS), "%s never logged in %s", id, path);
    s = slurp(path);
    for (line = strtok_r(s, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        cr_assert(j != NULL, "not a JSON line: %s (%s)", line, e.text);
        if (strcmp(json_string_value(json_object_get(j, "request_id")), id) == 0 && ++n == 1)
            found = json_incref(j);
        json_decref(j);
    }
    free(s);
    cr_assert_eq(n, 1, "%d lines for %s", n, id);
    return found;
}

static const char *str(json_t *j, const char *key)
{
    const char *v = json_string_value(json_object_get(j, key));
    cr_assert(v != NULL, "no string %s in %s", key, json_dumps(j, JSON_COMPACT));
    return v;
}

Test(access_log, json_lines_with_every_field_and_request_ids)
{
    char rid[160], generated[160], *path = NULL;
    json_t *j;

    format = "json";
    dfx_start_with(&f, "", add_access_log);
    path = log_path("");

    request("/orders?id=7", "client-id_1.2:3", rid, sizeof(rid));
    cr_assert_str_eq(rid, "client-id_1.2:3", "a valid client id is kept");
    request("/other", NULL, generated, sizeof(generated));
    cr_assert_eq(strlen(generated), 32, "generated id: %s", generated);
    request("/bad", "has space\"<x>", rid, sizeof(rid));
    cr_assert_eq(strlen(rid), 32, "an invalid id is replaced: %s", rid);

    j = line_with(path, "client-id_1.2:3");
    cr_assert_str_eq(str(j, "method"), "GET");
    cr_assert_str_eq(str(j, "target"), "/orders?id=7");
    cr_assert_str_eq(str(j, "host"), "orders.test");
    cr_assert_str_eq(str(j, "client"), "127.0.0.1");
    cr_assert_str_eq(str(j, "service"), "orders");
    cr_assert_str_eq(str(j, "slot"), "blue");
    cr_assert_str_eq(str(j, "version"), "1.0.0");
    cr_assert(strncmp(str(j, "upstream"), "127.0.0.1:", 10) == 0);
    cr_assert(strlen(str(j, "time")) >= 20 && str(j, "time")[10] == 'T');
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), 200);
    cr_assert_gt(json_integer_value(json_object_get(j, "bytes_in")), 0);
    cr_assert_gt(json_integer_value(json_object_get(j, "bytes_out")), 0);
    cr_assert_eq(json_integer_value(json_object_get(j, "retries")), 0);
    double up = json_number_value(json_object_get(j, "upstream_ms"));
    double total = json_number_value(json_object_get(j, "total_ms"));
    cr_assert(json_is_number(json_object_get(j, "upstream_ms")));
    cr_assert(up > 0 && total >= up, "upstream_ms %f total_ms %f", up, total);
    json_decref(j);
    json_decref(line_with(path, generated));
    json_decref(line_with(path, rid));
    free(path);
    dfx_finish(&f);
}

Test(access_log, reopened_on_sigusr1_and_reopen_api)
{
    char rid[160], *path, *rotated, *rotated2;
    want_t w;
    int st;
    json_t *j;

    format = "json";
    dfx_start_with(&f, "", add_access_log);
    path = log_path("");
    rotated = log_path(".1");
    rotated2 = log_path(".2");

    request("/", "before-rotation", rid, sizeof(rid));
    json_decref(line_with(path, "before-rotation"));
    cr_assert_eq(rename(path, rotated), 0);
    cr_assert_eq(kill(f.serve, SIGUSR1), 0);
    /* The reopen is asynchronous: requests until one lands in the new file. */
    w = (want_t){path, "after-usr1"};
    for (int i = 0; i < 50 && !file_has(&w); i++) {
        request("/", "after-usr1", rid, sizeof(rid));
        bgt_wait_until(file_has, &w, 200);
    }
    cr_assert(file_has(&w), "nothing written to the reopened file");
    w = (want_t){rotated, "before-rotation"};
    cr_assert(file_has(&w), "the rotated file keeps its lines");

    cr_assert_eq(rename(path, rotated2), 0);
    j = dfx_api(&f, "GET", "/v1/logs/reopen", NULL, &st);
    cr_assert_eq(st, 400, "only POST reopens");
    json_decref(j);
    {
        /* `bluegreen reopen-logs` is POST /v1/logs/reopen. */
        char *admin = bg_asprintf("unix:%s", f.sock);
        cli_res_t r;
        cli_run_in(&r, NULL, NULL, 30000,
                   (const char *const[]){"--admin", admin, "reopen-logs", NULL});
        cr_assert_eq(r.code, 0, "reopen-logs: %s %s", r.out, r.err);
        cr_assert_str_eq(r.out, "reopened access_log=yes\n");
        cli_res_fini(&r);
        free(admin);
    }
    w = (want_t){path, "after-api"};
    for (int i = 0; i < 50 && !file_has(&w); i++) {
        request("/", "after-api", rid, sizeof(rid));
        bgt_wait_until(file_has, &w, 200);
    }
    cr_assert(file_has(&w), "nothing written after bluegreen reopen-logs");
    w = (want_t){rotated2, "after-usr1"};
    cr_assert(file_has(&w), "the second rotated file keeps its lines");
    free(path);
    free(rotated);
    free(rotated2);
    dfx_finish(&f);
}

Test(access_log, combined_format)
{
    char rid[160], *path;
    want_t w;
    char *s, *line;

    format = "combined";
    dfx_start_with(&f, "", add_access_log);
    path = log_path("");
    request("/c?x=1", "combined-1", rid, sizeof(rid));
    w = (want_t){path, "request_id=combined-1"};
    cr_assert(bgt_wait_until(file_has, &w, DFX_WAIT_MS), "no combined line");
    s = slurp(path);
    line = strstr(s, "127.0.0.1 - - [");
    cr_assert(line != NULL, "%s", s);
    cr_assert(strstr(line, "] \"GET /c?x=1 HTTP/1.1\" 200 ") != NULL, "%s", line);
    cr_assert(strstr(line, "\"-\" \"e2e-agent\" request_id=combined-1 host=orders.test "
                           "service=orders slot=blue version=1.0.0 upstream=127.0.0.1:") != NULL,
              "%s", line);
    cr_assert(strstr(line, " retries=0\n") != NULL, "%s", line);
    free(s);
    free(path);
    dfx_finish(&f);
}
