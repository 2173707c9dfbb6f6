/* Serialises the heads the proxy sends: the rewritten request to a target and the relayed
 * response to a client, dropping hop-by-hop fields (RFC 9110 §7.6.1: the fixed list and
 * every field named in Connection) and emitting framing the proxy itself controls. */
#include "http/http.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

static inline void put(bg_buf_t *b, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (b->len + n + 1 > b->cap)
        bg_buf_reserve(b, n + 1);
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

#define PUTS(b, lit) put((b), (lit), sizeof(lit) - 1)
#define PUTV(b, v) put((b), (v).ptr, (v).len)

static void put_u64(bg_buf_t *b, uint64_t v)
{
    char tmp[24];
    size_t n = 0;

    do {
        tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(b, tmp + sizeof(tmp) - n, n);
}

static bool named_in_connection(const bg_http_head_t *h, bg_str_t name)
{
    for (size_t i = 0; i < h->n_conn_tokens; i++)
        if (bg_str_case_eq(h->conn_tokens[i], name))
            return true;
    return false;
}

static bool is_hop_kind(uint8_t kind)
{
    switch (kind) {
    case BG_HDR_CONNECTION:
    case BG_HDR_KEEP_ALIVE:
    case BG_HDR_PROXY_CONNECTION:
    case BG_HDR_TE:
    case BG_HDR_TRAILER:
    case BG_HDR_TRANSFER_ENCODING:
    case BG_HDR_UPGRADE:
    case BG_HDR_CONTENT_LENGTH:
        return true;
    default:
        return false;
    }
}

static void put_header(bg_buf_t *b, const bg_http_header_t *hd)
{
    PUTV(b, hd->name);
    PUTS(b, ": ");
    PUTV(b, hd->value);
    PUTS(b, "\r\n");
}

static void put_xff(bg_buf_t *out, const bg_http_head_t *req, bg_str_t ip)
{
    bool any = false;

    PUTS(out, "X-Forwarded-For: ");
    for (size_t i = 0; i < req->n_headers; i++) {
        const bg_http_header_t *hd = &req->headers[i];
        if (hd->kind != BG_HDR_XFF || hd->value.len == 0)
            continue;
        if (any)
            PUTS(out, ", ");
        PUTV(out, hd->value);
        any = true;
    }
    if (any)
        PUTS(out, ", ");
    PUTV(out, ip);
    PUTS(out, "\r\n");
}

void bg_http_write_request(bg_buf_t *out, const bg_http_head_t *req, const bg_http_fwd_t *fwd)
{
    bg_buf_reserve(out, req->head_bytes + 256 + fwd->client_ip.len + fwd->request_id.len);
    PUTV(out, req->method);
    PUTS(out, " ");
    PUTV(out, req->path);
    PUTS(out, " HTTP/1.1\r\n");
    /* RFC 9110 §7.2: always send Host; empty when an HTTP/1.0 client sent none */
    PUTS(out, "Host: ");
    PUTV(out, req->host);
    PUTS(out, "\r\n");
    for (size_t i = 0; i < req->n_headers; i++) {
        const bg_http_header_t *hd = &req->headers[i];
        switch (hd->kind) {
        case BG_HDR_OTHER:
        case BG_HDR_COOKIE:
        case BG_HDR_EXPECT:
        case BG_HDR_VIA:
            if (req->n_conn_tokens == 0 || !named_in_connection(req, hd->name))
                put_header(out, hd);
            break;
        case BG_HDR_UPGRADE:
            if (fwd->tunnel)
                put_header(out, hd);
            break;
        default:
            break; /* hop-by-hop, framing, or replaced below */
        }
    }
    if (req->framing == BG_BODY_LENGTH) {
        PUTS(out, "Content-Length: ");
        put_u64(out, req->content_length);
        PUTS(out, "\r\n");
    } else if (req->framing == BG_BODY_CHUNKED) {
        PUTS(out, "Transfer-Encoding: chunked\r\n");
    }
    if (fwd->tunnel)
        PUTS(out, "Connection: upgrade\r\n");
    if (fwd->h2)
        PUTS(out, "Via: 2 bluegreen\r\n");
    else
        PUTS(out, "Via: 1.1 bluegreen\r\n");
    put_xff(out, req, fwd->client_ip);
    PUTS(out, "X-Forwarded-Proto: ");
    PUTV(out, fwd->proto);
    if (req->host.len) {
        PUTS(out, "\r\nX-Forwarded-Host: ");
        PUTV(out, req->host);
    }
    PUTS(out, "\r\nX-Request-Id: ");
    PUTV(out, fwd->request_id);
    PUTS(out, "\r\n\r\n");
}

void bg_http_write_response(bg_buf_t *out, const bg_http_head_t *rsp,
                            const bg_http_rsp_opts_t *o)
{
    char status[8];

    bg_buf_reserve(out, rsp->head_bytes + 128 + o->set_cookie.len + o->request_id.len);
    snprintf(status, sizeof(status), "%03d ", rsp->status);
    PUTS(out, "HTTP/1.1 ");
    put(out, status, 4);
    PUTV(out, rsp->reason);
    PUTS(out, "\r\n");
    for (size_t i = 0; i < rsp->n_headers; i++) {
        const bg_http_header_t *hd = &rsp->headers[i];
        if (hd->kind == BG_HDR_UPGRADE && o->tunnel)
            put_header(out, hd);
        else if (hd->kind == BG_HDR_REQUEST_ID && o->request_id.len)
            continue; /* ours is the one the client (and the access log) knows */
        else if (!is_hop_kind(hd->kind) &&
                 (rsp->n_conn_tokens == 0 || !named_in_connection(rsp, hd->name)))
            put_header(out, hd);
    }
    if (rsp->framing == BG_BODY_LENGTH ||
        (rsp->framing == BG_BODY_NONE && rsp->status >= 200 && rsp->status != 204 &&
         rsp->status != 304 && bg_http_head_find(rsp, BG_HDR_CONTENT_LENGTH))) {
        /* RFC 9110 §8.6: keep the length a HEAD response or an empty body announced */
        const bg_http_header_t *cl = bg_http_head_find(rsp, BG_HDR_CONTENT_LENGTH);
        PUTS(out, "Content-Length: ");
        if (cl)
            PUTV(out, cl->value);
        else
            put_u64(out, rsp->content_length);
        PUTS(out, "\r\n");
    } else if (o->chunked) {
        PUTS(out, "Transfer-Encoding: chunked\r\n");
    } else if (rsp->framing == BG_BODY_CHUNKED && rsp->status >= 200) {
        /* HEAD response from a chunked resource: announce the coding, send no body */
        if (bg_http_head_find(rsp, BG_HDR_TRANSFER_ENCODING))
            PUTS(out, "Transfer-Encoding: chunked\r\n");
    }
    if (o->request_id.len) {
        PUTS(out, "X-Request-Id: ");
        PUTV(out, o->request_id);
        PUTS(out, "\r\n");
    }
    if (o->set_cookie.len) {
        PUTS(out, "Set-Cookie: ");
        PUTV(out, o->set_cookie);
        PUTS(out, "\r\n");
    }
    if (o->tunnel)
        PUTS(out, "Connection: upgrade\r\n");
    else if (o->close)
        PUTS(out, "Connection: close\r\n");
    PUTS(out, "Via: 1.1 bluegreen\r\n\r\n");
}

void bg_http_write_local(bg_buf_t *out, int status, const char *body, size_t body_len,
                         bool close, bg_str_t request_id)
{
    bg_http_write_local_at(out, status, body, body_len, close, request_id, (bg_str_t){NULL, 0});
}

void bg_http_write_local_at(bg_buf_t *out, int status, const char *body, size_t body_len,
                            bool close, bg_str_t request_id, bg_str_t location)
{
    bg_http_write_local_ct(out, status, "application/json", body, body_len, close, request_id,
                           location);
}

void bg_http_write_local_ct(bg_buf_t *out, int status, const char *content_type,
                            const char *body, size_t body_len, bool close, bg_str_t request_id,
                            bg_str_t location)
{
    bg_buf_printf(out,
                  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                  "%s",
                  status, bg_http_reason(status), content_type, body_len,
                  close ? "Connection: close\r\n" : "");
    if (location.len) {
        PUTS(out, "Location: ");
        PUTV(out, location);
        PUTS(out, "\r\n");
    }
    if (request_id.len) {
        PUTS(out, "X-Request-Id: ");
        PUTV(out, request_id);
        PUTS(out, "\r\n");
    }
    PUTS(out, "\r\n");
    put(out, body, body_len);
}
