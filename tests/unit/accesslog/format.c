/* Access log lines: every field of the JSON line, JSON escaping of hostile request strings
 * (a line stays one valid JSON object), combined format and its escaping.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "accesslog/accesslog.h"
#include "base/base.h"

#define S(x) x, sizeof(x) - 1

static bg_alog_record_t sample(void)
{
    return (bg_alog_record_t){
        .wall_ms = 1764859200123ull, /* 2025-12-04T14:40:00.123Z */
        .request_id = S("rid-1"),
        .client = S("127.0.0.1"),
        .host = S("orders.local"),
        .method = S("GET"),
        .target = S("/a?b=1"),
        .minor = 1,
        .status = 200,
        .bytes_in = 120,
        .bytes_out = 345,
        .service = "orders",
        .slot = "green",
        .version = "2.0.0",
        .upstream = "127.0.0.1:9002",
        .upstream_us = 1234,
        .total_us = 2500,
        .retries = 1,
        .user_agent = S("curl/8"),
        .referer = NULL,
    };
}

Test(accesslog, json_line_has_every_field)
{
    bg_alog_record_t r = sample();
    bg_buf_t out;
    json_t *j;
    json_error_t e;

    bg_buf_init(&out);
    bg_alog_format_line(&out, BG_ALOG_JSON, &r);
    cr_assert_eq(out.data[out.len - 1], '\n');
    cr_assert_eq(memchr(out.data, '\n', out.len), out.data + out.len - 1, "one line");
    j = json_loadb(out.data, out.len, 0, &e);
    cr_assert_not_null(j, "%s: %s", e.text, out.data);
    cr_assert_str_eq(json_string_value(json_object_get(j, "time")), "2025-12-04T14:40:00.123Z");
    cr_assert_str_eq(json_string_value(json_object_get(j, "request_id")), "rid-1");
    cr_assert_str_eq(json_string_value(json_object_get(j, "client")), "127.0.0.1");
    cr_assert_str_eq(json_string_value(json_object_get(j, "host")), "orders.local");
    cr_assert_str_eq(json_string_value(json_object_get(j, "method")), "GET");
    cr_assert_str_eq(json_string_value(json_object_get(j, "target")), "/a?b=1");
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "bytes_in")), 120);
    cr_assert_eq(json_integer_value(json_object_get(j, "bytes_out")), 345);
    cr_assert_str_eq(json_string_value(json_object_get(j, "service")), "orders");
    cr_assert_str_eq(json_string_value(json_object_get(j, "slot")), "green");
    cr_assert_str_eq(json_string_value(json_object_get(j, "version")), "2.0.0");
    cr_assert_str_eq(json_string_value(json_object_get(j, "upstream")), "127.0.0.1:9002");
    cr_assert_float_eq(json_number_value(json_object_get(j, "upstream_ms")), 1.234, 1e-9);
    cr_assert_float_eq(json_number_value(json_object_get(j, "total_ms")), 2.5, 1e-9);
    cr_assert_eq(json_integer_value(json_object_get(j, "retries")), 1);
    json_decref(j);
    bg_buf_fini(&out);
}

Test(accesslog, json_escapes_hostile_strings_and_nulls)
{
    bg_alog_record_t r = sample();
    static const char target[] = "/x\"y\\z\n\x01\x7f\xc3\xa9";
    bg_buf_t out;
    json_t *j;
    json_error_t e;

    r.target = target;
    r.target_len = sizeof(target) - 1;
    r.service = NULL; /* no route */
    r.slot = NULL;
    r.version = "";
    r.upstream = NULL;
    r.upstream_us = -1;
    bg_buf_init(&out);
    bg_alog_format_line(&out, BG_ALOG_JSON, &r);
    cr_assert_eq(memchr(out.data, '\n', out.len), out.data + out.len - 1, "one line");
    j = json_loadb(out.data, out.len, 0, &e);
    cr_assert_not_null(j, "%s: %s", e.text, out.data);
    cr_assert_str_eq(json_string_value(json_object_get(j, "target")), target);
    cr_assert(json_is_null(json_object_get(j, "service")));
    cr_assert(json_is_null(json_object_get(j, "slot")));
    cr_assert(json_is_null(json_object_get(j, "version")));
    cr_assert(json_is_null(json_object_get(j, "upstream")));
    cr_assert(json_is_null(json_object_get(j, "upstream_ms")));
    json_decref(j);
    bg_buf_fini(&out);
}

Test(accesslog, combined_line)
{
    bg_alog_record_t r = sample();
    bg_buf_t out;

    r.user_agent = "ua \"quoted\"";
    r.user_agent_len = strlen(r.user_agent);
    bg_buf_init(&out);
    bg_alog_format_line(&out, BG_ALOG_COMBINED, &r);
    cr_assert_str_eq(out.data,
                     "127.0.0.1 - - [04/Dec/2025:14:40:00 +0000] \"GET /a?b=1 HTTP/1.1\" 200 345 "
                     "\"-\" \"ua \\x22quoted\\x22\" request_id=rid-1 host=orders.local "
                     "service=orders slot=green version=2.0.0 upstream=127.0.0.1:9002 "
                     "bytes_in=120 upstream_ms=1.234 total_ms=2.500 retries=1\n");
    bg_buf_fini(&out);
}

Test(accesslog, format_names)
{
    bg_alog_format_t f;

    cr_assert(bg_alog_format_parse("json", &f) && f == BG_ALOG_JSON);
    cr_assert(bg_alog_format_parse("combined", &f) && f == BG_ALOG_COMBINED);
    cr_assert_not(bg_alog_format_parse("common", &f));
    cr_assert_str_eq(bg_alog_format_str(BG_ALOG_COMBINED), "combined");
}

Test(accesslog_format, http2_requests_say_so)
{
    bg_alog_record_t r = {.wall_ms = 1, .method = "GET", .method_len = 3, .target = "/",
                          .target_len = 1, .status = 200, .h2 = true, .minor = 1};
    bg_buf_t out;

    bg_buf_init(&out);
    bg_alog_format_line(&out, BG_ALOG_JSON, &r);
    cr_assert(strstr(out.data, "\"protocol\":\"HTTP/2.0\""), "%s", out.data);
    bg_buf_reset(&out);
    bg_alog_format_line(&out, BG_ALOG_COMBINED, &r);
    cr_assert(strstr(out.data, "\"GET / HTTP/2.0\" 200 "), "%s", out.data);
    bg_buf_reset(&out);
    r.h2 = false;
    bg_alog_format_line(&out, BG_ALOG_JSON, &r);
    cr_assert(strstr(out.data, "\"protocol\":\"HTTP/1.1\""), "%s", out.data);
    bg_buf_fini(&out);
}
