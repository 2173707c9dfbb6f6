#include "unit/aws/common.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "support/support.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

static void on_result(void *arg, const bg_aws_result_t *res)
{
    aws_test_result_t *r = arg;
    r->done = true;
    r->status = res->status;
    r->http_status = res->http_status;
    r->attempts = res->attempts;
    snprintf(r->aws_code, sizeof(r->aws_code), "%s", res->aws_code ? res->aws_code : "");
    snprintf(r->request_id, sizeof(r->request_id), "%s", res->request_id ? res->request_id : "");
    snprintf(r->msg, sizeof(r->msg), "%s", res->err.msg);
    r->body = res->body ? json_incref(res->body) : NULL;
}

static void on_deadline(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

static void run_until_flag(uv_loop_t *loop, const bool *flag, int timeout_ms)
{
    bool expired = false;
    uv_timer_t t;
    uv_timer_init(loop, &t);
    t.data = &expired;
    uv_timer_start(&t, on_deadline, (uint64_t)timeout_ms, 0);
    while (!*flag && !expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    cr_assert(*flag, "timed out after %d ms", timeout_ms);
}

void aws_test_call(uv_loop_t *loop, bg_aws_t *aws, const bg_aws_service_t *svc, const char *op,
                   json_t *params, aws_test_result_t *r)
{
    memset(r, 0, sizeof(*r));
    cr_assert_eq(bg_aws_call(aws, svc, op, params, on_result, r), 0);
    cr_assert(!r->done, "callback ran inside bg_aws_call");
    run_until_flag(loop, &r->done, 10000);
}

static void on_closed(void *arg)
{
    *(bool *)arg = true;
}

void aws_test_close(uv_loop_t *loop, bg_aws_t *aws)
{
    if (aws != NULL) {
        bool closed = false;
        bg_aws_close(aws, on_closed, &closed);
        run_until_flag(loop, &closed, 5000);
    }
    for (int i = 0; i < 100 && uv_run(loop, UV_RUN_NOWAIT) != 0; i++)
        ;
    cr_expect_eq(uv_loop_close(loop), 0, "handles left open on the loop");
#if defined(__SANITIZE_ADDRESS__)
    /* Criterion's workers never reach LeakSanitizer's exit-time check: run it here. */
    cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "leaks (see stderr)");
#endif
}

const char *aws_test_response(int status, const char *ctype, const char *body)
{
    static char slots[16][8192];
    static unsigned next;
    char *out = slots[next++ % 16];
    snprintf(out, sizeof(slots[0]),
             "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
             "x-amzn-RequestId: test-rid\r\n\r\n%s",
             status, ctype, strlen(body), body);
    return out;
}

bool aws_test_signature_ok(const char *head, const char *body, size_t len)
{
    char authz[1024], names[512];
    if (!bgt_head_header(head, "Authorization", authz, sizeof(authz)))
        return false;
    /* AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, */
    char key[128], date[16], region[64], service[64];
    const char *cred = strstr(authz, "Credential=");
    const char *sh = strstr(authz, "SignedHeaders=");
    if (!cred || !sh ||
        sscanf(cred, "Credential=%127[^/]/%15[^/]/%63[^/]/%63[^/]/", key, date, region, service) !=
            4 ||
        sscanf(sh, "SignedHeaders=%511[^,]", names) != 1)
        return false;
    bg_aws_kv_t h[16];
    char values[16][1024];
    size_t n = 0;
    char amz_date[32] = "";
    for (char *save = NULL, *tok = strtok_r(names, ";", &save); tok && n < 16;
         tok = strtok_r(NULL, ";", &save)) {
        if (!bgt_head_header(head, tok, values[n], sizeof(values[n])))
            return false;
        if (strcasecmp(tok, "x-amz-date") == 0)
            snprintf(amz_date, sizeof(amz_date), "%s", values[n]);
        h[n] = (bg_aws_kv_t){tok, values[n]};
        n++;
    }
    char secret[160];
    snprintf(secret, sizeof(secret), "S-%s", key);
    bg_aws_creds_t creds = {.access_key_id = key, .secret_access_key = secret};
    bg_aws_sigv4_req_t in = {.method = "POST",
                             .path = "/",
                             .headers = h,
                             .n_headers = n,
                             .payload = body,
                             .payload_len = len,
                             .region = region,
                             .service = service,
                             .amz_date = amz_date};
    bg_aws_sigv4_t out;
    bg_aws_sigv4_init(&out);
    bool ok = bg_aws_sigv4_sign(&in, &creds, &out, NULL) == 0 &&
              strcmp(out.authorization.data, authz) == 0;
    bg_aws_sigv4_fini(&out);
    return ok;
}
