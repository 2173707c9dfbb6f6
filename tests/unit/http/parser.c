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

/* ---- requests that arrive as fields (HTTP/2): bg_http_request_from_fields() ----
 * Differential: each request is also written as the HTTP/1.1 text the h2 module would
 * otherwise compose and parsed by the strict text path; whenever the fields path takes a
 * request, the text path must accept it too and give the same head. Where the fields path
 * declines, the h2 module parses the text, so its verdict is the text path's by
 * construction. */

#define MAX_F (BG_HTTP_MAX_HEADERS + 2)

typedef struct freq {
    bg_str_t method, target;
    size_t n;
    bg_str_t name[MAX_F], value[MAX_F];
} freq_t;

static bg_http_head_t head2;

static void freq_add(freq_t *r, bg_str_t name, bg_str_t value)
{
    r->name[r->n] = name;
    r->value[r->n] = value;
    r->n++;
}

static freq_t freq_basic(void)
{
    freq_t r = {.method = BG_STR_LIT("GET"), .target = BG_STR_LIT("/a/b?c=d&e=%20f")};

    freq_add(&r, BG_STR_LIT("host"), BG_STR_LIT("app.test:8080"));
    freq_add(&r, BG_STR_LIT("user-agent"), BG_STR_LIT("h2load nghttp2/1.52.0"));
    freq_add(&r, BG_STR_LIT("accept-encoding"), BG_STR_LIT("gzip, deflate"));
    freq_add(&r, BG_STR_LIT("x-bluegreen-slot"), BG_STR_LIT("green"));
    freq_add(&r, BG_STR_LIT("cookie"), BG_STR_LIT("a=b; bg_slot=blue"));
    return r;
}

static bool same_str(bg_str_t a, bg_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Runs both paths on <r>; returns whether the fields path took it (1), or declined (0);
 * <text_ok> gets whether the text path accepted it. Fails the test on any disagreement
 * in what the fields path accepted. */
static int compare(const freq_t *r, bool *text_ok, const char *what)
{
    bg_buf_t t;
    bg_http_parser_t p, p2;
    sink_t s;
    bg_http_result_t res;
    bool ok;

    bg_buf_init(&t);
    bg_buf_append(&t, r->method.ptr, r->method.len);
    bg_buf_append(&t, " ", 1);
    bg_buf_append(&t, r->target.ptr, r->target.len);
    bg_buf_append(&t, " HTTP/1.1\r\n", 11);
    for (size_t i = 0; i < r->n; i++) {
        bg_buf_append(&t, r->name[i].ptr, r->name[i].len);
        bg_buf_append(&t, ": ", 2);
        bg_buf_append(&t, r->value[i].ptr, r->value[i].len);
        bg_buf_append(&t, "\r\n", 2);
    }
    bg_buf_append(&t, "\r\n", 2);
    res = run(t.data, t.len, t.len, false, &p, &s);
    *text_ok = res == BG_HTTP_HEAD_DONE && head.framing == BG_BODY_NONE;

    memset(&p2, 0, sizeof(p2));
    p2.max_header_bytes = 8192;
    p2.max_body_bytes = 1 << 20;
    bg_http_parser_init(&p2, false, &head2, NULL, NULL);
    for (size_t i = 0; i < r->n && i < BG_HTTP_MAX_HEADERS; i++)
        head2.headers[i] = (bg_http_header_t){r->name[i], r->value[i], 0, false};
    ok = bg_http_request_from_fields(&p2, r->method, r->target, r->n, t.len);
    if (!ok) {
        cr_assert(head2.n_headers == 0 && head2.method.ptr == NULL && head2.host.len == 0,
                  "%s: a declined request leaves the head reset", what);
    } else {
        cr_assert(*text_ok, "%s: the fields path took what the text path refuses (%d, %d %s)",
                  what, res, p.status, p.reason ? p.reason : "");
        cr_assert(same_str(head.method, head2.method), "%s: method", what);
        cr_assert(same_str(head.target, head2.target), "%s: target", what);
        cr_assert(same_str(head.path, head2.path), "%s: path", what);
        cr_assert(same_str(head.host, head2.host), "%s: host", what);
        cr_assert_eq(head.form, head2.form, "%s: form", what);
        cr_assert_eq(head.is_head, head2.is_head, "%s: is_head", what);
        cr_assert_eq(head.major, head2.major, "%s", what);
        cr_assert_eq(head.minor, head2.minor, "%s", what);
        cr_assert_eq(head.framing, head2.framing, "%s", what);
        cr_assert_eq(head.content_length, head2.content_length, "%s", what);
        cr_assert_eq(head.keep_alive, head2.keep_alive, "%s", what);
        cr_assert_eq(head.expect_continue, head2.expect_continue, "%s", what);
        cr_assert_eq(head.upgrade, head2.upgrade, "%s", what);
        cr_assert_eq(head.head_bytes, head2.head_bytes, "%s: head_bytes", what);
        cr_assert_eq(head.n_host, head2.n_host, "%s", what);
        cr_assert_eq(head.n_conn_tokens, head2.n_conn_tokens, "%s", what);
        cr_assert_eq(head.n_headers, head2.n_headers, "%s: n_headers", what);
        for (size_t i = 0; i < head.n_headers; i++) {
            cr_assert(same_str(head.headers[i].name, head2.headers[i].name), "%s: name %zu",
                      what, i);
            cr_assert(same_str(head.headers[i].value, head2.headers[i].value),
                      "%s: value %zu", what, i);
            cr_assert_eq(head.headers[i].kind, head2.headers[i].kind, "%s: kind %zu", what, i);
            cr_assert_eq(head.headers[i].hop, head2.headers[i].hop, "%s: hop %zu", what, i);
        }
        cr_assert_eq(p2.consumed, t.len, "%s", what);
    }
    bg_buf_fini(&t);
    bg_buf_fini(&s.body);
    return ok;
}

Test(http_parser, fields_common_request_same_head_as_text)
{
    bool text_ok;
    freq_t r = freq_basic();

    cr_assert_eq(compare(&r, &text_ok, "basic"), 1, "the common request takes the fields path");
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS",
                                          "PATCH"};
    for (size_t i = 0; i < BG_ARRAY_LEN(methods); i++) {
        r.method = (bg_str_t){methods[i], strlen(methods[i])};
        cr_assert_eq(compare(&r, &text_ok, methods[i]), 1, "%s", methods[i]);
    }
    /* spaces around a value are trimmed alike; an empty value is a value */
    r = freq_basic();
    freq_add(&r, BG_STR_LIT("x-pad"), BG_STR_LIT(" \t padded\t "));
    freq_add(&r, BG_STR_LIT("x-empty"), BG_STR_LIT(""));
    cr_assert_eq(compare(&r, &text_ok, "trim"), 1);
    /* BG_HTTP_MAX_HEADERS fields is the most the text path takes */
    r = freq_basic();
    while (r.n < BG_HTTP_MAX_HEADERS)
        freq_add(&r, BG_STR_LIT("x-n"), BG_STR_LIT("v"));
    cr_assert_eq(compare(&r, &text_ok, "max fields"), 1);
}

/* Requests of another shape are declined (the text path gives the verdict), whatever it
 * is: the fields path never takes them. */
Test(http_parser, fields_other_shapes_declined)
{
    static const char *const methods[] = {"CONNECT", "QUERY", "TRACE", "PRI", "get", "GETT",
                                          "", "G T"};
    static const char *const targets[] = {"", "*", "http://app.test/", "app.test:443", "x",
                                          "/#f", "/a b", "/\x7f"};
    static const char *const kinds[] = {"content-length", "transfer-encoding", "te",
                                        "connection", "keep-alive", "proxy-connection",
                                        "upgrade", "expect", "trailer", "host"};
    bool text_ok;
    freq_t r;

    for (size_t i = 0; i < BG_ARRAY_LEN(methods); i++) {
        r = freq_basic();
        r.method = (bg_str_t){methods[i], strlen(methods[i])};
        cr_assert_eq(compare(&r, &text_ok, methods[i]), 0, "method '%s'", methods[i]);
    }
    for (size_t i = 0; i < BG_ARRAY_LEN(targets); i++) {
        r = freq_basic();
        r.target = (bg_str_t){targets[i], strlen(targets[i])};
        cr_assert_eq(compare(&r, &text_ok, targets[i]), 0, "target '%s'", targets[i]);
    }
    for (size_t i = 0; i < BG_ARRAY_LEN(kinds); i++) {
        r = freq_basic();
        freq_add(&r, (bg_str_t){kinds[i], strlen(kinds[i])}, BG_STR_LIT("0"));
        cr_assert_eq(compare(&r, &text_ok, kinds[i]), 0, "field %s", kinds[i]);
    }
    r = freq_basic();
    r.n = 0; /* no Host */
    cr_assert_eq(compare(&r, &text_ok, "no host"), 0);
    cr_assert(!text_ok);
    r = freq_basic();
    while (r.n < BG_HTTP_MAX_HEADERS + 1)
        freq_add(&r, BG_STR_LIT("x-n"), BG_STR_LIT("v"));
    cr_assert_eq(compare(&r, &text_ok, "too many fields"), 0);
    cr_assert(!text_ok);
    r = freq_basic();
    char big[9000];
    memset(big, 'b', sizeof(big));
    freq_add(&r, BG_STR_LIT("x-big"), (bg_str_t){big, sizeof(big)});
    cr_assert_eq(compare(&r, &text_ok, "head too large"), 0);
    cr_assert(!text_ok);
}

/* Every byte value in every place a field request has bytes: the fields path takes a
 * byte exactly where the text path does (and then gives the same head, see compare()). */
Test(http_parser, fields_every_byte_everywhere_as_text)
{
    unsigned taken = 0;

    for (unsigned b = 0; b < 256; b++) {
        char tgt[8] = "/x?y=Az", host[9] = "app.test", name[4] = "x-y", value[21];
        bool text_ok;
        int ok;
        freq_t r;
        char what[64];

        /* request-target: inside, and last (where the text path reads a space as the
         * end of the target and accepts what is left: the fields path declines, and the
         * text path gives its verdict) */
        r = freq_basic();
        tgt[4] = (char)b;
        r.target = (bg_str_t){tgt, 7};
        snprintf(what, sizeof(what), "target byte 0x%02x", b);
        ok = compare(&r, &text_ok, what);
        cr_assert_eq(ok, text_ok, "%s: fields %d, text %d", what, ok, text_ok);
        taken += (unsigned)ok;
        memcpy(tgt, "/x?y=Az", 8);
        tgt[6] = (char)b;
        snprintf(what, sizeof(what), "last target byte 0x%02x", b);
        ok = compare(&r, &text_ok, what);
        cr_assert(ok == text_ok || (b == ' ' && !ok), "%s: fields %d, text %d", what, ok,
                  text_ok);
        /* Host (from :authority) */
        r = freq_basic();
        host[3] = (char)b;
        r.value[0] = (bg_str_t){host, 8};
        snprintf(what, sizeof(what), "host byte 0x%02x", b);
        ok = compare(&r, &text_ok, what);
        cr_assert_eq(ok, text_ok, "%s: fields %d, text %d", what, ok, text_ok);
        /* field name */
        r = freq_basic();
        name[1] = (char)b;
        freq_add(&r, (bg_str_t){name, 3}, BG_STR_LIT("v"));
        snprintf(what, sizeof(what), "name byte 0x%02x", b);
        ok = compare(&r, &text_ok, what);
        /* "x:y: v" is, as text, a field "x" of value "y: v": the fields path declines */
        cr_assert(ok == text_ok || (b == ':' && !ok), "%s: fields %d, text %d", what, ok,
                  text_ok);
        /* field value, at the start, inside and after an 8-byte word, and at the end */
        static const size_t at[] = {0, 3, 7, 8, 12, 16, 19};
        for (size_t k = 0; k < BG_ARRAY_LEN(at); k++) {
            memcpy(value, "abcdefghijklmnopqrst", 21);
            value[at[k]] = (char)b;
            r = freq_basic();
            freq_add(&r, BG_STR_LIT("x-v"), (bg_str_t){value, 20});
            snprintf(what, sizeof(what), "value byte 0x%02x at %zu", b, at[k]);
            ok = compare(&r, &text_ok, what);
            cr_assert_eq(ok, text_ok, "%s: fields %d, text %d", what, ok, text_ok);
        }
    }
    cr_assert_gt(taken, 60, "the fields path takes ordinary bytes (%u)", taken);
}
