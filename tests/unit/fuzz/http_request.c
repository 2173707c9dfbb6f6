/* Fuzz entry point: the proxy's strict HTTP/1.1 request parser (src/http/parser.c), driven
 * as src/proxy/client.c drives it: one contiguous buffer that grows as reads arrive, the
 * parser fed from the first unconsumed byte each time. The input is delivered in two or
 * three "reads" whose split points are derived from the input itself, so heads and bodies
 * straddling reads are exercised. Pipelined requests are parsed until an error or the end.
 *
 * Invariants: a rejected request yields a status in 400..505; an accepted head has a
 * method, a target and a framing that is NONE, LENGTH or CHUNKED (never EOF for a request),
 * never both Content-Length and chunked; consumed counts never exceed what was fed.
 *
 * The same input, read as an HTTP/2 request's fields (method up to the first space, target
 * up to the next, then one field per line split at its first ':', a CR before the LF
 * dropped), goes through bg_http_request_from_fields() and, written as the HTTP/1.1 text
 * src/h2/stream.c would write, through the text path: whenever the fields path takes it,
 * the text path accepts it with the same head.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "http/http.h"

#define MAX_MESSAGES 16

typedef struct sink {
    uint64_t body_bytes;
    unsigned completes;
} sink_t;

static int on_body(void *arg, const char *p, size_t n)
{
    sink_t *s = arg;

    BG_FUZZ_CHECK(p != NULL || n == 0, "body view without bytes");
    s->body_bytes += n;
    return 0;
}

static int on_chunk_header(void *arg, uint64_t size)
{
    return 0;
}

static int on_chunk_complete(void *arg)
{
    return 0;
}

static int on_message_complete(void *arg)
{
    ((sink_t *)arg)->completes++;
    return 0;
}

static const bg_http_body_cbs_t cbs = {
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_chunk_complete = on_chunk_complete,
    .on_message_complete = on_message_complete,
};

static void check_head(const bg_http_head_t *h)
{
    bool has_cl = false, has_te = false;

    BG_FUZZ_CHECK(h->method.ptr != NULL && h->method.len > 0, "accepted head without method");
    BG_FUZZ_CHECK(h->target.ptr != NULL && h->target.len > 0, "accepted head without target");
    BG_FUZZ_CHECK(h->framing == BG_BODY_NONE || h->framing == BG_BODY_LENGTH ||
                      h->framing == BG_BODY_CHUNKED,
                  "request framing %u", h->framing);
    BG_FUZZ_CHECK(h->n_headers <= BG_HTTP_MAX_HEADERS, "%zu headers", h->n_headers);
    BG_FUZZ_CHECK(h->n_conn_tokens <= BG_HTTP_MAX_CONN_TOKENS, "%zu tokens", h->n_conn_tokens);
    for (size_t i = 0; i < h->n_headers; i++) {
        if (h->headers[i].kind == BG_HDR_CONTENT_LENGTH)
            has_cl = true;
        if (h->headers[i].kind == BG_HDR_TRANSFER_ENCODING)
            has_te = true;
    }
    BG_FUZZ_CHECK(!(has_cl && has_te), "accepted both Content-Length and Transfer-Encoding");
    if (h->framing == BG_BODY_CHUNKED)
        BG_FUZZ_CHECK(!has_cl, "chunked with Content-Length");
    if (h->framing == BG_BODY_CHUNKED)
        BG_FUZZ_CHECK(has_te, "chunked framing without Transfer-Encoding");
    if (h->framing == BG_BODY_LENGTH)
        BG_FUZZ_CHECK(has_cl && h->content_length > 0, "length framing without Content-Length");
}

static void check_error(const bg_http_parser_t *p)
{
    BG_FUZZ_CHECK(p->status >= 400 && p->status <= 505, "rejected with status %d", p->status);
}

/* Feeds buf[0..avail) from *off; returns the parser's result. */
static bg_http_result_t feed(bg_http_parser_t *p, const char *buf, size_t avail, size_t *off)
{
    size_t used = 0;
    bg_http_result_t r = bg_http_parser_execute(p, buf + *off, avail - *off, &used);

    BG_FUZZ_CHECK(used <= avail - *off, "used %zu of %zu", used, avail - *off);
    *off += used;
    return r;
}

#define MAX_FIELDS (BG_HTTP_MAX_HEADERS + 2)

static bool same(bg_str_t a, bg_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static void check_fields(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data, *end = d + size, *sp, *sp2;
    bg_str_t method, target, name[MAX_FIELDS], value[MAX_FIELDS];
    size_t n = 0, used = 0;
    bg_http_parser_t tp, fp;
    bg_http_head_t th, fh;
    bg_buf_t t;
    bg_http_result_t r;
    bool ok;

    if (!(sp = memchr(d, ' ', size)) || !(sp2 = memchr(sp + 1, ' ', (size_t)(end - sp - 1))))
        return;
    method = (bg_str_t){d, (size_t)(sp - d)};
    target = (bg_str_t){sp + 1, (size_t)(sp2 - sp - 1)};
    for (const char *l = sp2 + 1; l < end && n < MAX_FIELDS;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        const char *le = nl ? nl : end, *colon;
        if (le > l && le[-1] == '\r')
            le--;
        colon = memchr(l, ':', (size_t)(le - l));
        if (colon) {
            name[n] = (bg_str_t){l, (size_t)(colon - l)};
            value[n] = (bg_str_t){colon + 1, (size_t)(le - colon - 1)};
            n++;
        }
        l = nl ? nl + 1 : end;
    }
    bg_buf_init(&t);
    bg_buf_append(&t, method.ptr, method.len);
    bg_buf_append(&t, " ", 1);
    bg_buf_append(&t, target.ptr, target.len);
    bg_buf_append(&t, " HTTP/1.1\r\n", 11);
    for (size_t i = 0; i < n; i++) {
        bg_buf_append(&t, name[i].ptr, name[i].len);
        bg_buf_append(&t, ": ", 2);
        bg_buf_append(&t, value[i].ptr, value[i].len);
        bg_buf_append(&t, "\r\n", 2);
    }
    bg_buf_append(&t, "\r\n", 2);

    memset(&fp, 0, sizeof(fp));
    fp.max_header_bytes = 16 * 1024;
    bg_http_parser_init(&fp, false, &fh, NULL, NULL);
    for (size_t i = 0; i < n && i < BG_HTTP_MAX_HEADERS; i++)
        fh.headers[i] = (bg_http_header_t){name[i], value[i], 0, false};
    ok = bg_http_request_from_fields(&fp, method, target, n, t.len);
    if (!ok) {
        BG_FUZZ_CHECK(fh.n_headers == 0 && fh.method.ptr == NULL, "declined head not reset");
        bg_buf_fini(&t);
        return;
    }
    memset(&tp, 0, sizeof(tp));
    tp.max_header_bytes = 16 * 1024;
    bg_http_parser_init(&tp, false, &th, NULL, NULL);
    r = bg_http_parser_execute(&tp, t.data, t.len, &used);
    BG_FUZZ_CHECK(r == BG_HTTP_HEAD_DONE && th.framing == BG_BODY_NONE,
                  "fields path took what the text path refuses (%d, %d %s)", (int)r, tp.status,
                  tp.reason ? tp.reason : "");
    BG_FUZZ_CHECK(same(th.method, fh.method) && same(th.target, fh.target) &&
                      same(th.path, fh.path) && same(th.host, fh.host),
                  "request line or host differ");
    BG_FUZZ_CHECK(th.form == fh.form && th.is_head == fh.is_head && th.major == fh.major &&
                      th.minor == fh.minor && th.keep_alive == fh.keep_alive &&
                      th.expect_continue == fh.expect_continue && th.upgrade == fh.upgrade &&
                      th.n_host == fh.n_host && th.n_conn_tokens == fh.n_conn_tokens &&
                      th.head_bytes == fh.head_bytes && th.n_headers == fh.n_headers,
                  "heads differ");
    for (size_t i = 0; i < th.n_headers; i++)
        BG_FUZZ_CHECK(same(th.headers[i].name, fh.headers[i].name) &&
                          same(th.headers[i].value, fh.headers[i].value) &&
                          th.headers[i].kind == fh.headers[i].kind,
                      "field %zu differs", i);
    bg_buf_fini(&t);
}

int bg_fuzz_http_request(const uint8_t *data, size_t size)
{
    bg_http_parser_t p;
    bg_http_head_t head;
    sink_t sink = {0};
    size_t cut[3], off = 0, avail, n_cut = 0;
    unsigned messages = 0;
    char *buf = malloc(size ? size : 1);

    if (!buf)
        return 0;
    check_fields(data, size);
    memcpy(buf, data, size);
    /* read boundaries derived from the input: byte sum and the last byte */
    if (size > 0) {
        size_t sum = 0;
        for (size_t i = 0; i < size; i++)
            sum = sum * 31 + data[i];
        cut[n_cut++] = sum % (size + 1);
        cut[n_cut++] = data[size - 1] % (size + 1);
        if (cut[1] < cut[0]) {
            size_t t = cut[0];
            cut[0] = cut[1];
            cut[1] = t;
        }
    }
    cut[n_cut++] = size;

    memset(&p, 0, sizeof(p));
    memset(&head, 0, sizeof(head));
    p.max_header_bytes = 16 * 1024;
    p.max_body_bytes = 1 << 20;
    bg_http_parser_init(&p, false, &head, &cbs, &sink);

    for (size_t c = 0, rounds = 0; c < n_cut; c++) {
        avail = cut[c];
        while (off < avail) {
            size_t before = off;

            BG_FUZZ_CHECK(++rounds < 4 * size + 64, "parser makes no progress");
            bg_http_result_t r = feed(&p, buf, avail, &off);

            if (r == BG_HTTP_ERROR) {
                check_error(&p);
                goto out;
            }
            if (r == BG_HTTP_HEAD_DONE) {
                check_head(&head);
                if (head.framing == BG_BODY_NONE || head.upgrade) {
                    if (head.upgrade || ++messages >= MAX_MESSAGES)
                        goto out;
                    bg_http_parser_next(&p);
                    continue;
                }
                continue;
            }
            if (r == BG_HTTP_DONE) {
                if (p.upgraded || ++messages >= MAX_MESSAGES)
                    goto out;
                bg_http_parser_next(&p);
                continue;
            }
            BG_FUZZ_CHECK(r == BG_HTTP_NEED_MORE, "unexpected result %d", (int)r);
            if (off == before)
                break; /* waits for more bytes than this read holds */
        }
    }
out:
    free(buf);
    return 0;
}

BG_FUZZ_ENTRY(bg_fuzz_http_request)
