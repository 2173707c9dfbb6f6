/* Strict HTTP/1.1 head parser: llhttp (strict build, no lenient flags) does the grammar;
 * this file adds what a reverse proxy must refuse on top of it (RFC 9112 §6.1/§6.3
 * framing, RFC 9110 §7.2 Host, request-target forms) and records the head as views into
 * the caller's buffer. Nothing here allocates.
 */
#include "http/http.h"
#include "http/internal.h"

#include <string.h>

#include "base/base.h"
#include "base/compat.h"

enum pause_kind { PAUSE_NONE = 0, PAUSE_HEAD = 1, PAUSE_BODY = 2, PAUSE_DONE = 3 };

#define MAX_METHOD_LEN 24

static int fail(bg_http_parser_t *p, int status, const char *reason)
{
    p->status = status;
    p->reason = reason;
    llhttp_set_error_reason(&p->ll, reason);
    return HPE_USER;
}

static bg_http_parser_t *P(llhttp_t *ll)
{
    return (bg_http_parser_t *)ll->data;
}

/* Spans arrive in pieces when a head straddles reads; the buffer is contiguous, so a
 * continuation simply extends the previous view. */
static void span_extend(bg_str_t *s, const char *at, size_t n)
{
    if (s->ptr == NULL || s->len == 0)
        *s = (bg_str_t){at, n};
    else
        s->len += n;
}

static int on_message_begin(llhttp_t *ll)
{
    bg_http_head_t *h = P(ll)->head;
    bg_str_t method = h->method;

    memset(h, 0, offsetof(bg_http_head_t, headers));
    h->n_headers = 0;
    h->n_conn_tokens = 0;
    h->method = method; /* set by the pre-scan of the request line */
    return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t n)
{
    span_extend(&P(ll)->head->target, at, n);
    return 0;
}

static int on_status(llhttp_t *ll, const char *at, size_t n)
{
    span_extend(&P(ll)->head->reason, at, n);
    return 0;
}

static int on_header_field(llhttp_t *ll, const char *at, size_t n)
{
    bg_http_parser_t *p = P(ll);
    bg_http_head_t *h = p->head;

    if (p->in_value || h->n_headers == 0 || h->headers[h->n_headers - 1].value.ptr) {
        if (h->n_headers == BG_HTTP_MAX_HEADERS)
            return fail(p, 431, "too many header fields");
        h->headers[h->n_headers++] = (bg_http_header_t){{at, n}, {NULL, 0}, 0, false};
        p->in_value = false;
        return 0;
    }
    h->headers[h->n_headers - 1].name.len += n;
    return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t n)
{
    bg_http_parser_t *p = P(ll);
    bg_http_header_t *hd = &p->head->headers[p->head->n_headers - 1];

    p->in_value = true;
    span_extend(&hd->value, at, n);
    if (!hd->value.ptr)
        hd->value.ptr = at;
    return 0;
}

#define ONES 0x0101010101010101u
#define HIGHS 0x8080808080808080u

static bool is_ctl_free(bg_str_t v)
{
    size_t i = 0;

    /* Eight bytes at a time while none is below 0x20 or 0x7f (bytes >= 0x80 are
     * obs-text, allowed); a word with one (HTAB, or a real CTL) goes byte by byte. */
    for (; i + 8 <= v.len; i += 8) {
        uint64_t x, del;
        memcpy(&x, v.ptr + i, 8);
        del = x ^ (ONES * 0x7f);
        if (((x - ONES * 0x20) & ~x & HIGHS) || ((del - ONES) & ~del & HIGHS))
            break;
    }
    for (; i < v.len; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        /* RFC 9110 §5.5: field-vchar / SP / HTAB (obs-text allowed) */
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

static void add_conn_tokens(bg_http_head_t *h, bg_str_t v)
{
    size_t i = 0;

    while (i < v.len) {
        size_t j = i;
        while (j < v.len && v.ptr[j] != ',')
            j++;
        bg_str_t tok = bg_str_trim((bg_str_t){v.ptr + i, j - i});
        if (tok.len > 0 && h->n_conn_tokens < BG_HTTP_MAX_CONN_TOKENS)
            h->conn_tokens[h->n_conn_tokens++] = tok;
        i = j + 1;
    }
}

static int on_header_value_complete(llhttp_t *ll)
{
    bg_http_parser_t *p = P(ll);
    bg_http_head_t *h = p->head;
    bg_http_header_t *hd;

    if (h->n_headers == 0)
        return 0;
    hd = &h->headers[h->n_headers - 1];
    if (!hd->value.ptr)
        hd->value.ptr = hd->name.ptr + hd->name.len;
    hd->value = bg_str_trim(hd->value);
    if (!is_ctl_free(hd->value))
        return fail(p, 400, "control character in a field value");
    hd->kind = (uint8_t)bg_http_hdr_classify(hd->name);
    switch (hd->kind) {
    case BG_HDR_HOST:
        h->n_host++;
        if (!p->response && h->n_host > 1)
            return fail(p, 400, "more than one Host field");
        h->host = hd->value;
        break;
    case BG_HDR_CONNECTION:
        add_conn_tokens(h, hd->value);
        break;
    case BG_HDR_EXPECT:
        if (!p->response) {
            if (!bg_str_case_eq(hd->value, BG_STR_LIT("100-continue")))
                return fail(p, 417, "unsupported expectation");
            h->expect_continue = true;
        }
        break;
    default:
        break;
    }
    p->in_value = false;
    return 0;
}

/* RFC 9112 §6.1: the final transfer coding must be chunked, applied once; anything else
 * in a request cannot be framed (400), and codings we do not implement get 501. */
static int check_transfer_encoding(bg_http_parser_t *p)
{
    bg_http_head_t *h = p->head;
    unsigned n_chunked = 0, n_codings = 0;
    bool last_chunked = false;

    for (size_t k = 0; k < h->n_headers; k++) {
        bg_str_t v = h->headers[k].value;
        size_t i = 0;
        if (h->headers[k].kind != BG_HDR_TRANSFER_ENCODING)
            continue;
        if (v.len == 0)
            return fail(p, 400, "empty Transfer-Encoding");
        while (i <= v.len) {
            size_t j = i;
            while (j < v.len && v.ptr[j] != ',')
                j++;
            bg_str_t tok = bg_str_trim((bg_str_t){v.ptr + i, j - i});
            if (tok.len == 0)
                return fail(p, 400, "empty transfer coding");
            n_codings++;
            last_chunked = bg_str_case_eq(tok, BG_STR_LIT("chunked"));
            n_chunked += last_chunked;
            i = j + 1;
        }
    }
    if (n_codings == 0)
        return 0;
    if (!last_chunked || n_chunked != 1)
        return fail(p, 400, "chunked is not the final transfer coding");
    if (n_codings > 1)
        return fail(p, 501, "unsupported transfer coding");
    return 0;
}

/* ASCII character classes as 128-bit sets (bit c of lo for c < 64, of hi for c - 64):
 * one shift per byte instead of a chain of comparisons. */
static bool in_set(uint64_t lo, uint64_t hi, unsigned char c)
{
    return c < 64 ? (lo >> c) & 1 : c < 128 ? (hi >> (c - 64)) & 1 : false;
}

static bool target_char_ok(unsigned char c)
{
    /* RFC 3986 characters allowed in a request-target: 0x21-0x7e except '#' '"' '<' '>'
     * '\\' '^' '`' '{' '|' '}'; no raw non-ASCII. */
    return in_set(0xaffffff200000000u, 0x47fffffeafffffffu, c);
}

static bool host_char_ok(unsigned char c)
{
    /* ALPHA DIGIT and . - _ ~ : [ ] % ! $ & ' ( ) * + , ; = */
    return in_set(0x2fff7ff200000000u, 0x47fffffeaffffffeu, c);
}

static bool host_ok(bg_str_t host)
{
    for (size_t i = 0; i < host.len; i++)
        if (!host_char_ok((unsigned char)host.ptr[i]))
            return false;
    return true;
}

/* RFC 9112 §3.2: origin-form, absolute-form (authority must agree with Host, no
 * userinfo), asterisk-form only for OPTIONS; authority-form (CONNECT) is not proxied. */
static int check_target(bg_http_parser_t *p)
{
    bg_http_head_t *h = p->head;
    bg_str_t t = h->target;

    if (t.len == 0)
        return fail(p, 400, "empty request-target");
    for (size_t i = 0; i < t.len; i++)
        if (!target_char_ok((unsigned char)t.ptr[i]))
            return fail(p, 400, "invalid character in request-target");
    if (t.ptr[0] == '/') {
        h->form = BG_TARGET_ORIGIN;
        h->path = t;
        return 0;
    }
    if (t.len == 1 && t.ptr[0] == '*') {
        if (!bg_str_eq(h->method, BG_STR_LIT("OPTIONS")))
            return fail(p, 400, "asterisk-form is only for OPTIONS");
        h->form = BG_TARGET_ASTERISK;
        h->path = t;
        return 0;
    }
    size_t skip = 0;
    if (t.len > 7 && bg_str_case_eq((bg_str_t){t.ptr, 7}, BG_STR_LIT("http://")))
        skip = 7;
    else if (t.len > 8 && bg_str_case_eq((bg_str_t){t.ptr, 8}, BG_STR_LIT("https://")))
        skip = 8;
    if (skip == 0)
        return fail(p, 400, "invalid request-target form");
    size_t e = skip;
    while (e < t.len && t.ptr[e] != '/' && t.ptr[e] != '?')
        e++;
    bg_str_t auth = {t.ptr + skip, e - skip};
    if (auth.len == 0 || memchr(auth.ptr, '@', auth.len) || !host_ok(auth))
        return fail(p, 400, "invalid authority in absolute-form");
    /* RFC 9112 §3.2.2: the target's authority overrides Host; a disagreeing Host is a
     * smuggling vector (routing by one, forwarding the other), so refuse it. */
    if (h->n_host == 1 && !bg_str_case_eq(auth, h->host))
        return fail(p, 400, "Host disagrees with the absolute-form authority");
    h->form = BG_TARGET_ABSOLUTE;
    h->host = auth;
    h->path = (e < t.len) ? (bg_str_t){t.ptr + e, t.len - e} : BG_STR_LIT("/");
    return 0;
}

static int check_request(bg_http_parser_t *p)
{
    bg_http_head_t *h = p->head;
    llhttp_t *ll = &p->ll;
    int rc;

    if (h->major != 1 || h->minor > 1)
        return fail(p, h->major == 0 ? 400 : 505, "unsupported HTTP version");
    if (ll->method == HTTP_CONNECT && !p->method_subst)
        return fail(p, 405, "CONNECT is not proxied");
    if (h->major == 1 && h->minor == 1 && h->n_host == 0)
        return fail(p, 400, "missing Host");
    if (h->n_host == 1 && !host_ok(h->host))
        return fail(p, 400, "invalid Host");
    /* RFC 9112 §6.1: TE in HTTP/1.0 means faulty framing. */
    if ((ll->flags & F_TRANSFER_ENCODING) && h->minor == 0)
        return fail(p, 400, "Transfer-Encoding in HTTP/1.0");
    if ((rc = check_transfer_encoding(p)) != 0)
        return rc;
    if ((rc = check_target(p)) != 0)
        return rc;
    h->is_head = bg_str_eq(h->method, BG_STR_LIT("HEAD"));
    if (ll->flags & F_CHUNKED) {
        h->framing = BG_BODY_CHUNKED;
    } else if (ll->flags & F_CONTENT_LENGTH) {
        h->framing = ll->content_length > 0 ? BG_BODY_LENGTH : BG_BODY_NONE;
        h->content_length = ll->content_length;
        if (p->max_body_bytes && h->content_length > p->max_body_bytes)
            return fail(p, 413, "body too large");
    } else {
        h->framing = BG_BODY_NONE;
    }
    h->upgrade = ll->upgrade && h->n_conn_tokens > 0 && h->framing == BG_BODY_NONE &&
                 bg_http_head_find(h, BG_HDR_UPGRADE) != NULL;
    return 0;
}

static int check_response(bg_http_parser_t *p)
{
    bg_http_head_t *h = p->head;
    llhttp_t *ll = &p->ll;

    h->status = ll->status_code;
    if (h->major != 1)
        return fail(p, 502, "bad response version");
    if (p->req_is_head || h->status < 200 || h->status == 204 || h->status == 304) {
        h->framing = BG_BODY_NONE;
        if (p->req_is_head)
            ll->flags |= F_SKIPBODY; /* a response to HEAD has no body (RFC 9110 §9.3.2) */
    } else if (ll->flags & F_CHUNKED) {
        h->framing = BG_BODY_CHUNKED;
    } else if (ll->flags & F_TRANSFER_ENCODING) {
        return fail(p, 502, "response transfer coding not chunked");
    } else if (ll->flags & F_CONTENT_LENGTH) {
        h->framing = ll->content_length > 0 ? BG_BODY_LENGTH : BG_BODY_NONE;
        h->content_length = ll->content_length;
    } else {
        h->framing = BG_BODY_EOF;
    }
    h->upgrade = h->status == 101;
    return 0;
}

static int on_headers_complete(llhttp_t *ll)
{
    bg_http_parser_t *p = P(ll);
    bg_http_head_t *h = p->head;
    int rc;

    h->major = ll->http_major;
    h->minor = ll->http_minor;
    h->keep_alive = llhttp_should_keep_alive(ll) != 0;
    rc = p->response ? check_response(p) : check_request(p);
    if (rc != 0)
        return rc;
    p->body_bytes = 0;
    p->pause_kind = PAUSE_HEAD;
    return HPE_PAUSED;
}

static int on_body(llhttp_t *ll, const char *at, size_t n)
{
    bg_http_parser_t *p = P(ll);

    p->body_bytes += n;
    if (!p->response && p->max_body_bytes && p->body_bytes > p->max_body_bytes)
        return fail(p, 413, "body too large");
    if (p->cbs && p->cbs->on_body && p->cbs->on_body(p->arg, at, n) != 0) {
        p->pause_kind = PAUSE_BODY;
        return HPE_PAUSED;
    }
    return 0;
}

static int on_chunk_header(llhttp_t *ll)
{
    bg_http_parser_t *p = P(ll);

    p->last_chunk = ll->content_length == 0;
    if (p->last_chunk)
        return 0; /* last chunk: the framing is closed in message_complete */
    if (p->cbs && p->cbs->on_chunk_header && p->cbs->on_chunk_header(p->arg, ll->content_length)) {
        p->pause_kind = PAUSE_BODY;
        return HPE_PAUSED;
    }
    return 0;
}

static int on_chunk_complete(llhttp_t *ll)
{
    bg_http_parser_t *p = P(ll);

    if (p->last_chunk)
        return 0;
    if (p->cbs && p->cbs->on_chunk_complete && p->cbs->on_chunk_complete(p->arg)) {
        p->pause_kind = PAUSE_BODY;
        return HPE_PAUSED;
    }
    return 0;
}

static int on_message_complete(llhttp_t *ll)
{
    bg_http_parser_t *p = P(ll);

    if (p->cbs && p->cbs->on_message_complete)
        p->cbs->on_message_complete(p->arg);
    p->pause_kind = PAUSE_DONE;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_chunk_complete = on_chunk_complete,
    .on_message_complete = on_message_complete,
};

void bg_http_parser_init(bg_http_parser_t *p, bool response, bg_http_head_t *head,
                         const bg_http_body_cbs_t *cbs, void *arg)
{
    uint32_t max_header = p->max_header_bytes;
    uint64_t max_body = p->max_body_bytes;
    bool req_is_head = p->req_is_head;

    memset(p, 0, sizeof(*p));
    llhttp_init(&p->ll, response ? HTTP_RESPONSE : HTTP_REQUEST, &settings);
    p->ll.data = p;
    p->head = head;
    p->cbs = cbs;
    p->arg = arg;
    p->response = response;
    p->max_header_bytes = max_header;
    p->max_body_bytes = max_body;
    p->req_is_head = response && req_is_head;
    head->method = (bg_str_t){NULL, 0};
    head->n_headers = 0;
}

void bg_http_parser_next(bg_http_parser_t *p)
{
    bg_http_parser_init(p, p->response, p->head, p->cbs, p->arg);
}

static bool is_tchar(unsigned char c)
{
    /* RFC 9110 §5.6.2: ALPHA DIGIT and ! # $ % & ' * + - . ^ _ ` | ~ */
    return in_set(0x03ff6cfa00000000u, 0x57ffffffc7fffffeu, c);
}

static bool llhttp_knows(bg_str_t m)
{
#define BG_XX(num, name, string)                                                                  \
    if (m.len == sizeof(#string) - 1 && memcmp(m.ptr, #string, m.len) == 0)                     \
        return true;
    HTTP_METHOD_MAP(BG_XX)
#undef BG_XX
    return false;
}

/* RFC 9110 §9.1: any token is a method; the origin decides. llhttp only knows a fixed
 * list, so an unknown but valid token is fed to it as "POST" (same framing rules) while
 * the head keeps the real one. Returns bytes of <data> already fed (the method), 0 to
 * feed everything normally, or -1 to wait for more / -2 on a bad request line. */
static long prescan_method(bg_http_parser_t *p, const char *data, size_t len)
{
    size_t i = 0;

    while (i < len && i <= MAX_METHOD_LEN && is_tchar((unsigned char)data[i]))
        i++;
    if (i == len && i <= MAX_METHOD_LEN)
        return -1;
    /* A CR or LF left over after the skipped empty lines: llhttp would skip it too and
     * parse the request with the method this pre-scan did not see (an empty method, and a
     * HEAD not known as HEAD). Refuse it, as bare CR / LF line ends are refused. */
    if (i == 0 && (data[0] == '\r' || data[0] == '\n'))
        return -2;
    if (i == 0 || i > MAX_METHOD_LEN || data[i] != ' ') {
        p->head->method = (bg_str_t){data, 0}; /* scanned: let llhttp give the error */
        return 0;
    }
    p->head->method = (bg_str_t){data, i};
    if (llhttp_knows(p->head->method))
        return 0;
    p->method_subst = true;
    if (llhttp_execute(&p->ll, "POST", 4) != HPE_OK)
        return -2;
    return (long)i;
}

static bg_http_result_t finish_pause(bg_http_parser_t *p, const char *data, size_t len,
                                     size_t fed, size_t *used)
{
    const char *pos = llhttp_get_error_pos(&p->ll);
    int kind = p->pause_kind;
    size_t n = pos ? (size_t)(pos - data) : len;

    (void)fed;
    *used = n;
    p->consumed += n;
    llhttp_resume(&p->ll);
    p->pause_kind = PAUSE_NONE;
    if (kind == PAUSE_HEAD) {
        p->head->head_bytes = p->consumed;
        /* llhttp stays paused after a chunked head: chunked.c decodes the body */
        p->self_chunked = p->head->framing == BG_BODY_CHUNKED;
        p->ch_state = 0;
        if (p->consumed > p->max_header_bytes && p->max_header_bytes) {
            p->status = p->response ? 502 : 431;
            p->reason = "head too large";
            return BG_HTTP_ERROR;
        }
        return BG_HTTP_HEAD_DONE;
    }
    if (kind == PAUSE_DONE)
        return BG_HTTP_DONE;
    return BG_HTTP_PAUSED;
}

bg_http_result_t bg_http_parser_execute(bg_http_parser_t *p, const char *data, size_t len,
                                        size_t *used)
{
    size_t off = 0;
    llhttp_errno_t e;

    *used = 0;
    if (p->self_chunked)
        return bg_http_chunked_execute(p, data, len, used);
    if (!p->response && p->consumed == 0 && p->head->method.ptr == NULL) {
        /* RFC 9112 §2.2: ignore empty lines before a request-line. */
        while (off + 1 < len && data[off] == '\r' && data[off + 1] == '\n')
            off += 2;
        if (off + 1 == len && data[off] == '\r') {
            *used = off;
            return BG_HTTP_NEED_MORE;
        }
        long pre = prescan_method(p, data + off, len - off);
        if (pre == -1) {
            *used = off;
            return BG_HTTP_NEED_MORE;
        }
        if (pre == -2) {
            p->status = 400;
            p->reason = "bad request line";
            return BG_HTTP_ERROR;
        }
        off += (size_t)pre;
        if (pre > 0)
            p->consumed += (size_t)pre;
    }
    e = llhttp_execute(&p->ll, data + off, len - off);
    switch (e) {
    case HPE_OK:
        *used = len;
        p->consumed += len - off;
        if (p->head->head_bytes == 0 && p->max_header_bytes && p->consumed > p->max_header_bytes) {
            p->status = p->response ? 502 : 431;
            p->reason = "head too large";
            return BG_HTTP_ERROR;
        }
        return BG_HTTP_NEED_MORE;
    case HPE_PAUSED: {
        size_t u;
        bg_http_result_t r = finish_pause(p, data + off, len - off, off, &u);
        *used = off + u;
        return r;
    }
    case HPE_PAUSED_UPGRADE: {
        const char *pos = llhttp_get_error_pos(&p->ll);
        *used = pos ? (size_t)(pos - data) : len;
        p->upgraded = true;
        return BG_HTTP_DONE;
    }
    default:
        if (p->status == 0) {
            p->status = p->response ? 502 : 400;
            p->reason = llhttp_errno_name(e);
        }
        return BG_HTTP_ERROR;
    }
}

bg_http_result_t bg_http_parser_finish(bg_http_parser_t *p)
{
    llhttp_errno_t e = llhttp_finish(&p->ll);

    if (e == HPE_OK || e == HPE_PAUSED)
        return BG_HTTP_DONE;
    if (p->status == 0) {
        p->status = 502;
        p->reason = llhttp_errno_name(e);
    }
    return BG_HTTP_ERROR;
}

/* ---- requests that arrive as fields (HTTP/2) ---- */

static bool common_method(bg_str_t m)
{
    switch (m.len) {
    case 3:
        return bg_str_eq(m, BG_STR_LIT("GET")) || bg_str_eq(m, BG_STR_LIT("PUT"));
    case 4:
        return bg_str_eq(m, BG_STR_LIT("HEAD")) || bg_str_eq(m, BG_STR_LIT("POST"));
    case 5:
        return bg_str_eq(m, BG_STR_LIT("PATCH"));
    case 6:
        return bg_str_eq(m, BG_STR_LIT("DELETE"));
    case 7:
        return bg_str_eq(m, BG_STR_LIT("OPTIONS"));
    default:
        return false;
    }
}

static void fields_reset(bg_http_head_t *h)
{
    memset(h, 0, offsetof(bg_http_head_t, headers));
    h->n_headers = 0;
    h->n_conn_tokens = 0;
}

bool bg_http_request_from_fields(bg_http_parser_t *p, bg_str_t method, bg_str_t target,
                                 size_t n, size_t head_bytes)
{
    bg_http_head_t *h = p->head;

    if (p->response || p->consumed != 0 || n > BG_HTTP_MAX_HEADERS ||
        (p->max_header_bytes && head_bytes > p->max_header_bytes) || !common_method(method))
        goto other;
    memset(h, 0, offsetof(bg_http_head_t, headers));
    h->n_conn_tokens = 0;
    for (size_t i = 0; i < n; i++) {
        bg_http_header_t *hd = &h->headers[i];
        if (hd->name.len == 0)
            goto other;
        for (size_t k = 0; k < hd->name.len; k++)
            if (!is_tchar((unsigned char)hd->name.ptr[k]))
                goto other;
        hd->value = bg_str_trim(hd->value);
        if (!is_ctl_free(hd->value))
            goto other;
        hd->kind = (uint8_t)bg_http_hdr_classify(hd->name);
        hd->hop = false;
        switch (hd->kind) {
        case BG_HDR_HOST:
            if (++h->n_host > 1)
                goto other;
            h->host = hd->value;
            break;
        case BG_HDR_OTHER:
        case BG_HDR_XFF:
        case BG_HDR_XFP:
        case BG_HDR_XFH:
        case BG_HDR_REQUEST_ID:
        case BG_HDR_BG_SLOT:
        case BG_HDR_COOKIE:
        case BG_HDR_VIA:
            break;
        default:
            goto other; /* framing, hop-by-hop, Expect: the text path decides */
        }
    }
    h->n_headers = n;
    if (h->n_host != 1 || !host_ok(h->host) || target.len == 0 || target.ptr[0] != '/')
        goto other;
    for (size_t i = 0; i < target.len; i++)
        if (!target_char_ok((unsigned char)target.ptr[i]))
            goto other;
    h->method = method;
    h->target = target;
    h->path = target;
    h->form = BG_TARGET_ORIGIN;
    h->is_head = bg_str_eq(method, BG_STR_LIT("HEAD"));
    h->major = 1;
    h->minor = 1;
    h->framing = BG_BODY_NONE;
    h->keep_alive = true;
    h->head_bytes = head_bytes;
    p->consumed = head_bytes;
    return true;
other:
    fields_reset(h);
    return false;
}
