/* Unit tests for the strict request/response parser and the chunked decoder
 * (src/http/parser.c, src/http/chunked.c), including every split point of the input. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "http/http.h"

typedef struct sink {
    bg_buf_t body;
    unsigned chunks;
    bool complete;
} sink_t;

static int on_body(void *arg, const char *p, size_t n)
{
    bg_buf_append(&((sink_t *)arg)->body, p, n);
    return 0;
}
static int on_chunk(void *arg, uint64_t size)
{
    (void)size;
    ((sink_t *)arg)->chunks++;
    return 0;
}
static int on_complete(void *arg)
{
    ((sink_t *)arg)->complete = true;
    return 0;
}
static const bg_http_body_cbs_t cbs = {.on_body = on_body, .on_chunk_header = on_chunk,
                                       .on_message_complete = on_complete};

static bg_http_head_t head;

/* Feeds <raw> in pieces of at most <step> bytes (the bytes stay in place, as in the
 * proxy's buffer). Returns the final result: ERROR, HEAD_DONE for a bodiless request, or
 * DONE after the body. */
static bg_http_result_t run(const char *raw, size_t len, size_t step, bool response,
                            bg_http_parser_t *p, sink_t *s)
{
    size_t off = 0, avail = 0, used;
    bg_http_result_t r = BG_HTTP_NEED_MORE;

    memset(p, 0, sizeof(*p));
    p->max_header_bytes = 8192;
    p->max_body_bytes = 1 << 20;
    bg_buf_init(&s->body);
    s->chunks = 0;
    s->complete = false;
    bg_http_parser_init(p, response, &head, &cbs, s);
    while (off <= len) {
        avail = avail + step > len ? len : avail + step;
        r = bg_http_parser_execute(p, raw + off, avail - off, &used);
        off += used;
        if (r == BG_HTTP_ERROR || r == BG_HTTP_DONE)
            return r;
        if (r == BG_HTTP_HEAD_DONE && head.framing == BG_BODY_NONE)
            return r;
        if (r == BG_HTTP_NEED_MORE && avail == len)
            return r;
    }
    return r;
}

Test(http_parser, simple_get)
{
    const char *raw = "GET /a?b=1 HTTP/1.1\r\nHost: Example.com:80\r\nX-A:  v  \r\n\r\n";
    bg_http_parser_t p;
    sink_t s;
    cr_assert_eq(run(raw, strlen(raw), 1000, false, &p, &s), BG_HTTP_HEAD_DONE);
    cr_assert_eq(head.n_headers, 2);
    cr_assert_eq(head.headers[0].kind, BG_HDR_HOST);
    cr_assert_eq(head.headers[1].value.len, 1, "OWS trimmed");
    cr_assert(bg_str_eq(head.path, BG_STR_LIT("/a?b=1")));
    cr_assert(bg_str_eq(head.host, BG_STR_LIT("Example.com:80")));
    cr_assert(head.keep_alive);
    cr_assert_eq(head.head_bytes, strlen(raw));
    bg_buf_fini(&s.body);
}

Test(http_parser, absolute_form_normalised)
{
    const char *raw = "GET http://h:8080 HTTP/1.1\r\nHost: h:8080\r\n\r\n";
    bg_http_parser_t p;
    sink_t s;
    cr_assert_eq(run(raw, strlen(raw), 1000, false, &p, &s), BG_HTTP_HEAD_DONE);
    cr_assert(bg_str_eq(head.path, BG_STR_LIT("/")));
    cr_assert(bg_str_eq(head.host, BG_STR_LIT("h:8080")));
    bg_buf_fini(&s.body);
}

Test(http_parser, unknown_method_token_accepted)
{
    const char *raw = "QUERY /q HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok";
    bg_http_parser_t p;
    sink_t s;
    cr_assert_eq(run(raw, strlen(raw), 1000, false, &p, &s), BG_HTTP_DONE);
    cr_assert(bg_str_eq(head.method, BG_STR_LIT("QUERY")));
    cr_assert_eq(head.framing, BG_BODY_LENGTH);
    cr_assert(s.body.len == 2 && memcmp(s.body.data, "ok", 2) == 0);
    bg_buf_fini(&s.body);
}

static const struct {
    const char *raw;
    int status;
} rejects[] = {
    {"GET / HTTP/1.1\r\n\r\n", 400},                                          /* no Host */
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400},                          /* bare LF */
    {"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", 400},                  /* obs-fold */
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n", 400},
    {"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET /#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"GET http://u:p@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET http://h1/ HTTP/1.1\r\nHost: h2\r\n\r\n", 400},
    {"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 405},
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
    {"GET /\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n", 413},
};

Test(http_parser, rejects_with_status)
{
    for (size_t i = 0; i < BG_ARRAY_LEN(rejects); i++) {
        static const size_t steps[] = {1, 7, 1000};
        for (size_t k = 0; k < BG_ARRAY_LEN(steps); k++) {
            size_t step = steps[k];
            bg_http_parser_t p;
            sink_t s;
            bg_http_result_t r = run(rejects[i].raw, strlen(rejects[i].raw), step, false, &p, &s);
            cr_expect_eq(r, BG_HTTP_ERROR, "case %zu step %zu: result %d", i, step, r);
            cr_expect_eq(p.status, rejects[i].status, "case %zu step %zu: status %d", i, step,
                         p.status);
            bg_buf_fini(&s.body);
        }
    }
}

Test(http_parser, header_too_large_is_431)
{
    bg_buf_t b;
    bg_buf_init(&b);
    bg_buf_puts(&b, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 200; i++)
        bg_buf_printf(&b, "X-%d: %050d\r\n", i, i);
    bg_buf_puts(&b, "\r\n");
    bg_http_parser_t p;
    sink_t s;
    cr_assert_eq(run(b.data, b.len, 1000, false, &p, &s), BG_HTTP_ERROR);
    cr_assert_eq(p.status, 431);
    bg_buf_fini(&b);
    bg_buf_fini(&s.body);
}

static const char *chunked_ok =
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;a=b;c\r\nhello\r\n6 ; x=\"q;\"\r\n world\r\n0\r\nT: v\r\n\r\n";

Test(http_parser, chunked_every_split_point)
{
    size_t len = strlen(chunked_ok);
    for (size_t step = 1; step <= len; step++) {
        bg_http_parser_t p;
        sink_t s;
        bg_http_result_t r = run(chunked_ok, len, step, false, &p, &s);
        if (r == BG_HTTP_HEAD_DONE) {
            /* continue with the body from where the head ended */
            size_t off = head.head_bytes, used;
            while (r != BG_HTTP_DONE && r != BG_HTTP_ERROR && off < len) {
                size_t n = len - off < step ? len - off : step;
                r = bg_http_parser_execute(&p, chunked_ok + off, n, &used);
                off += used;
                if (used == 0 && r == BG_HTTP_NEED_MORE && n == len - off)
                    break;
            }
        }
        cr_expect_eq(r, BG_HTTP_DONE, "step %zu: %d (%s)", step, r, p.reason ? p.reason : "");
        cr_expect_eq(s.body.len, 11, "step %zu", step);
        cr_expect(s.body.len == 11 && memcmp(s.body.data, "hello world", 11) == 0);
        cr_expect(s.complete);
        bg_buf_fini(&s.body);
    }
}

static bg_http_result_t body_of(const char *chunks, bg_http_parser_t *p, sink_t *s)
{
    static char raw[512];
    snprintf(raw, sizeof(raw), "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n%s",
             chunks);
    size_t len = strlen(raw), used;
    bg_http_result_t r = run(raw, len, len, false, p, s);
    if (r != BG_HTTP_HEAD_DONE)
        return r;
    return bg_http_parser_execute(p, raw + head.head_bytes, len - head.head_bytes, &used);
}

Test(http_parser, chunked_rejects)
{
    const char *bad[] = {
        "5\r\nABCDE0\r\n\r\n",               /* no CRLF after data */
        "x\r\n",                              /* not hex */
        "-5\r\nhello\r\n0\r\n\r\n",           /* sign */
        "11111111111111111\r\n",              /* 17 digits: overflow */
        "5\nhello\r\n0\r\n\r\n",              /* bare LF after size */
        "5\r\nhello\n0\r\n\r\n",              /* bare LF after data */
        "0\r\n folded: x\r\n\r\n",            /* obs-fold in trailers */
        "5;a\x01\r\nhello\r\n0\r\n\r\n",      /* CTL in extension */
    };
    for (size_t i = 0; i < BG_ARRAY_LEN(bad); i++) {
        bg_http_parser_t p;
        sink_t s;
        cr_expect_eq(body_of(bad[i], &p, &s), BG_HTTP_ERROR, "case %zu", i);
        cr_expect_eq(p.status, 400, "case %zu", i);
        bg_buf_fini(&s.body);
    }
}

Test(http_parser, response_framing)
{
    struct {
        const char *raw;
        bool head_req;
        int framing;
    } cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", false, BG_BODY_LENGTH},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, BG_BODY_CHUNKED},
        {"HTTP/1.1 200 OK\r\n\r\n", false, BG_BODY_EOF},
        {"HTTP/1.1 204 No Content\r\n\r\n", false, BG_BODY_NONE},
        {"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", false, BG_BODY_NONE},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true, BG_BODY_NONE},
        {"HTTP/1.1 100 Continue\r\n\r\n", false, BG_BODY_NONE},
    };
    for (size_t i = 0; i < BG_ARRAY_LEN(cases); i++) {
        bg_http_parser_t p;
        sink_t s;
        size_t used;
        memset(&p, 0, sizeof(p));
        p.max_header_bytes = 8192;
        p.req_is_head = cases[i].head_req;
        bg_buf_init(&s.body);
        bg_http_parser_init(&p, true, &head, &cbs, &s);
        bg_http_result_t r = bg_http_parser_execute(&p, cases[i].raw, strlen(cases[i].raw), &used);
        cr_expect_eq(r, BG_HTTP_HEAD_DONE, "case %zu: %d", i, r);
        cr_expect_eq(head.framing, cases[i].framing, "case %zu: framing %d", i, head.framing);
        bg_buf_fini(&s.body);
    }
}
