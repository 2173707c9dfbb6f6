/* Proxy integration: every case of tests/data/http-malformed/manifest.json sent
 * as raw bytes. Rejected cases get a status from acceptable_status and (when required)
 * the connection closed, and nothing of them reaches the backend; forwarded cases reach
 * it as the manifest says; no string of must_not_reach_backend ever reaches it. The proxy
 * keeps serving normal requests, also while malformed ones arrive concurrently. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "integration/proxy_fixture.h"

#define MANIFEST_DIR "tests/data/http-malformed/"

static pfx_t F;
static bgt_backend_t *B;

static void setup(void)
{
    B = bgt_backend_start("be", 0);
    pfx_start(&F, NULL, false);
    pfx_svc_t s = {.name = "any", .blue = {pfx_addr(bgt_backend_port(B))}, .blue_w = 100};
    pfx_publish(&F, &s, 1);
}

static void teardown(void)
{
    pfx_stop(&F);
    bgt_backend_stop(B);
}

TestSuite(proxy_malformed, .init = setup, .fini = teardown, .timeout = 120);

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = bg_xmalloc((size_t)n + 1);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    p[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* Bytes the backend received since <from>. */
static char *received_since(size_t from, size_t *len)
{
    size_t all;
    char *p = bgt_backend_received(B, &all);
    char *out = bg_strndup(p + (from < all ? from : all), from < all ? all - from : 0);
    *len = from < all ? all - from : 0;
    free(p);
    return out;
}

static size_t received_len(void)
{
    size_t n;
    free(bgt_backend_received(B, &n));
    return n;
}

static bool status_in(json_t *list, int status)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
        if (json_integer_value(v) == status)
            return true;
    return false;
}

/* What each forwarded case must look like at the backend (manifest if_forwarded). */
static void check_forwarded(int id, const char *got)
{
    switch (id) {
    case 30:
        cr_expect(strstr(got, "PUT /url HTTP/1.1\r\n") && strstr(got, "Content-Length: 3\r\n") &&
                      strstr(got, "\r\n\r\nabc"), "case 30: %s", got);
        break;
    case 32:
        cr_expect(strstr(got, "Content-Length: 42\r\n") &&
                      strstr(got, "\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
                  "case 32: %s", got);
        break;
    case 58:
        cr_expect(strstr(got, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), "case 58: %s", got);
        break;
    case 59:
        cr_expect(strstr(got, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), "case 59: %s", got);
        cr_expect_null(strstr(got, "Vary"), "case 59: trailer merged: %s", got);
        break;
    case 70:
        cr_expect(strstr(got, "OPTIONS * HTTP/1.1\r\n"), "case 70: %s", got);
        break;
    case 71:
        cr_expect(strstr(got, "QUERY /contacts HTTP/1.1\r\n") &&
                      strstr(got, "Content-Length: 41\r\n") &&
                      strstr(got, "\r\n\r\nselect surname, givenname, email limit 10"),
                  "case 71: %s", got);
        break;
    case 74:
        cr_expect(strstr(got, "GET /c2 HTTP/1.1\r\nHost: hostname:8080\r\n"), "case 74: %s", got);
        break;
    case 77: {
        const char *a = strstr(got, "POST /aaa HTTP/1.1");
        const char *b = a ? strstr(a, "PUT /bbb HTTP/1.1") : NULL;
        const char *c = b ? strstr(b, "PATCH /ccc HTTP/1.1") : NULL;
        cr_expect(a && b && c, "case 77 order: %s", got);
        cr_expect(strstr(got, "\r\n\r\nAAA") && strstr(got, "\r\n\r\nBBBB") &&
                      strstr(got, "\r\n\r\nCCCCC"), "case 77 bodies: %s", got);
        break;
    }
    case 78:
        cr_expect(strstr(got, "POST / HTTP/1.1\r\n") && strstr(got, "\r\n\r\nq=42"),
                  "case 78: %s", got);
        break;
    default:
        break;
    }
}

static unsigned expected_responses(int id)
{
    return id == 77 ? 3 : 1;
}

static void run_case(json_t *c)
{
    int id = (int)json_integer_value(json_object_get(c, "id"));
    const char *file = json_string_value(json_object_get(c, "file"));
    const char *expect = json_string_value(json_object_get(c, "expect"));
    json_t *acceptable = json_object_get(c, "acceptable_status");
    json_t *close_conn = json_object_get(c, "close_connection");
    json_t *forbidden = json_object_get(c, "must_not_reach_backend");
    char path[512];
    size_t len, got_len, before = received_len();
    unsigned before_reqs = bgt_backend_requests(B);
    bool reject = strcmp(expect, "forward") != 0;

    snprintf(path, sizeof(path), MANIFEST_DIR "%s", file);
    char *raw = read_file(path, &len);
    int fd = bgt_connect(F.port);
    cr_assert_geq(fd, 0);
    cr_assert(bgt_write_all(fd, raw, len));
    bgt_resp_t r;
    cr_expect(bgt_read_response(fd, &r, 5000), "case %d: no response", id);
    if (reject) {
        cr_expect(status_in(acceptable, r.status), "case %d: status %d not acceptable", id,
                  r.status);
        if (json_is_true(close_conn))
            cr_expect(r.closed || bgt_wait_closed(fd, 3000), "case %d: connection not closed", id);
        if (r.status >= 400) {
            cr_expect_eq(bgt_backend_requests(B), before_reqs, "case %d reached the backend", id);
            cr_expect_eq(received_len(), before, "case %d: bytes reached the backend", id);
        }
    } else {
        cr_expect(r.status >= 200 && r.status < 300, "case %d: status %d", id, r.status);
        for (unsigned i = 1; i < expected_responses(id); i++) {
            bgt_resp_fini(&r);
            cr_expect(bgt_read_response(fd, &r, 5000), "case %d: response %u missing", id, i + 1);
            cr_expect_eq(r.status, 200, "case %d: response %u", id, i + 1);
        }
        if (json_is_true(close_conn))
            cr_expect(r.closed || bgt_wait_closed(fd, 3000), "case %d: connection not closed", id);
    }
    bgt_resp_fini(&r);
    close(fd);
    char *got = received_since(before, &got_len);
    if (!reject)
        check_forwarded(id, got);
    size_t i;
    json_t *v;
    json_array_foreach(forbidden, i, v) {
        const char *bad = json_string_value(v);
        cr_expect(!memmem(got, got_len, bad, strlen(bad)), "case %d: \"%s\" reached the backend",
                  id, bad);
    }
    if (id == 78)
        cr_expect_eq(bgt_backend_requests(B), before_reqs + 1, "case 78: only the POST");
    free(got);
    free(raw);
}

static void serves_normal_request(void)
{
    bgt_resp_t r;
    cr_assert(bgt_http_get(F.port, "example.com", "/ok", &r, 5000));
    cr_assert_eq(r.status, 200);
    bgt_resp_fini(&r);
}

Test(proxy_malformed, every_manifest_case)
{
    json_error_t jerr;
    json_t *m = json_load_file(MANIFEST_DIR "manifest.json", 0, &jerr);
    cr_assert(m, "manifest: %s", jerr.text);
    json_t *cases = json_object_get(m, "cases");
    cr_assert_gt(json_array_size(cases), 30);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
        run_case(c);
    json_decref(m);
    serves_normal_request();
}

static atomic_bool stop_load;
static atomic_uint load_ok, load_bad;

static void *load_main(void *arg)
{
    (void)arg;
    int fd = bgt_connect(F.port);
    while (!atomic_load(&stop_load)) {
        bgt_resp_t r;
        if (pfx_get_on(fd, "example.com", "/load", &r) == 200)
            atomic_fetch_add(&load_ok, 1);
        else
            atomic_fetch_add(&load_bad, 1);
        bgt_resp_fini(&r);
    }
    close(fd);
    return NULL;
}

Test(proxy_malformed, concurrent_clients_unaffected)
{
    pthread_t th[2];
    const char *bad[] = {
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\nY: b\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nFold: x\r\n y\r\n\r\n",
    };
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, load_main, NULL);
    uint64_t deadline = bg_now_ms() + 20000;
    /* keep sending bad requests until the good clients have been served a while too */
    for (int round = 0; round < 50 || (atomic_load(&load_ok) < 100 && bg_now_ms() < deadline);
         round++) {
        const char *req = bad[round % 4];
        bgt_resp_t r;
        cr_assert(bgt_http_raw(F.port, req, strlen(req), &r, 5000), "round %d", round);
        cr_assert_eq(r.status, 400, "round %d: %d", round, r.status);
        cr_assert(r.closed);
        bgt_resp_fini(&r);
    }
    atomic_store(&stop_load, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    cr_assert_geq(atomic_load(&load_ok), 100);
    cr_assert_eq(atomic_load(&load_bad), 0);
}

Test(proxy_malformed, header_and_body_limits)
{
    /* 431: a head larger than max_header_bytes */
    bg_buf_t big;
    bg_buf_init(&big);
    bg_buf_puts(&big, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 400; i++)
        bg_buf_printf(&big, "X-Filler-%d: %060d\r\n", i, i);
    bg_buf_puts(&big, "\r\n");
    bgt_resp_t r;
    cr_assert(bgt_http_raw(F.port, big.data, big.len, &r, 5000));
    cr_assert_eq(r.status, 431);
    cr_assert(r.closed);
    bgt_resp_fini(&r);
    bg_buf_fini(&big);
    /* 413: declared length over max_body_bytes */
    const char *huge = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999\r\n\r\n";
    cr_assert(bgt_http_raw(F.port, huge, strlen(huge), &r, 5000));
    cr_assert_eq(r.status, 413);
    bgt_resp_fini(&r);
    cr_assert_eq(bgt_backend_requests(B), 0);
    serves_normal_request();
}
