/* Unit tests for the head writer (src/http/writer.c): hop-by-hop stripping (RFC 9110
 * §7.6.1), forwarding headers, framing. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/base.h"
#include "http/http.h"

static bg_http_head_t head;

static void parse(const char *raw, bool response)
{
    bg_http_parser_t p;
    size_t used;
    memset(&p, 0, sizeof(p));
    p.max_header_bytes = 8192;
    bg_http_parser_init(&p, response, &head, NULL, NULL);
    cr_assert_eq(bg_http_parser_execute(&p, raw, strlen(raw), &used), BG_HTTP_HEAD_DONE);
}

Test(http_writer, request_rewrite)
{
    parse("POST http://shop/x HTTP/1.1\r\nHost: shop\r\nConnection: close, X-Secret\r\n"
          "X-Secret: 1\r\nTE: trailers\r\nUpgrade: h2c\r\nX-Forwarded-For: 1.2.3.4\r\n"
          "X-Forwarded-For: 5.6.7.8\r\nX-Bluegreen-Slot: preview\r\nContent-Length: 2\r\n"
          "X-Forwarded-Proto: https\r\nAccept: */*\r\n\r\n",
          false);
    bg_buf_t out;
    bg_buf_init(&out);
    bg_http_fwd_t fwd = {BG_STR_LIT("9.9.9.9"), BG_STR_LIT("http"), BG_STR_LIT("rid"), false, false};
    bg_http_write_request(&out, &head, &fwd);
    cr_assert(strncmp(out.data, "POST /x HTTP/1.1\r\nHost: shop\r\n", 30) == 0, "%s", out.data);
    cr_assert_null(strstr(out.data, "Connection"));
    cr_assert_null(strstr(out.data, "X-Secret"));
    cr_assert_null(strstr(out.data, "TE:"));
    cr_assert_null(strstr(out.data, "Upgrade"));
    cr_assert_null(strstr(out.data, "X-Bluegreen-Slot"));
    cr_assert_null(strstr(out.data, "https"));
    cr_assert(strstr(out.data, "\r\nContent-Length: 2\r\n"));
    cr_assert(strstr(out.data, "\r\nX-Forwarded-For: 1.2.3.4, 5.6.7.8, 9.9.9.9\r\n"), "%s", out.data);
    cr_assert(strstr(out.data, "\r\nVia: 1.1 bluegreen\r\n"));
    cr_assert(strstr(out.data, "\r\nX-Forwarded-Host: shop\r\n"));
    cr_assert(strstr(out.data, "\r\nX-Request-Id: rid\r\n\r\n"));
    cr_assert(strstr(out.data, "\r\nAccept: */*\r\n"));
    bg_buf_fini(&out);
}

Test(http_writer, response_rewrite)
{
    parse("HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n"
          "X-Hop: a\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=b\r\n\r\n",
          true);
    bg_buf_t out;
    bg_buf_init(&out);
    bg_http_rsp_opts_t o = {.close = true, .chunked = true, .set_cookie = BG_STR_LIT("bg_slot=blue")};
    bg_http_write_response(&out, &head, &o);
    cr_assert(strncmp(out.data, "HTTP/1.1 200 OK\r\n", 17) == 0);
    cr_assert_null(strstr(out.data, "Keep-Alive"));
    cr_assert_null(strstr(out.data, "X-Hop"));
    cr_assert(strstr(out.data, "\r\nTransfer-Encoding: chunked\r\n"));
    cr_assert(strstr(out.data, "\r\nSet-Cookie: a=b\r\n"));
    cr_assert(strstr(out.data, "\r\nSet-Cookie: bg_slot=blue\r\n"));
    cr_assert(strstr(out.data, "\r\nConnection: close\r\n"));
    bg_buf_fini(&out);
}

Test(http_writer, request_received_over_http2_says_via_2)
{
    parse("GET /a HTTP/1.1\r\nHost: shop\r\n\r\n", false);
    bg_buf_t out;
    bg_buf_init(&out);
    bg_http_fwd_t fwd = {BG_STR_LIT("1.2.3.4"), BG_STR_LIT("http"), BG_STR_LIT("rid"), false,
                         true};
    bg_http_write_request(&out, &head, &fwd);
    cr_assert(strstr(out.data, "\r\nVia: 2 bluegreen\r\n"), "%s", out.data);
    cr_assert_null(strstr(out.data, "Via: 1.1"));
    bg_buf_fini(&out);
}
