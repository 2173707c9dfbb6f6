/* Header model helpers: name classification (done once per field while parsing), token
 * lists, cookies, request ids, and reason phrases for responses the proxy makes. */
#include "http/http.h"

#include <string.h>

#include "base/base.h"
#include "base/compat.h"

static bool name_is(bg_str_t name, const char *lit, size_t len)
{
    return name.len == len && bg_str_case_eq(name, (bg_str_t){lit, len});
}

/* The first letter first (names here start with a letter): most names are none of
 * these, and most are told apart without a call. */
#define IS(lit)                                                                             \
    (((unsigned char)name.ptr[0] | 0x20) == (lit)[0] && name_is(name, lit, sizeof(lit) - 1))

bg_http_hdr_kind_t bg_http_hdr_classify(bg_str_t name)
{
    switch (name.len) {
    case 2:
        return IS("te") ? BG_HDR_TE : BG_HDR_OTHER;
    case 3:
        return IS("via") ? BG_HDR_VIA : BG_HDR_OTHER;
    case 4:
        return IS("host") ? BG_HDR_HOST : BG_HDR_OTHER;
    case 6:
        if (IS("expect"))
            return BG_HDR_EXPECT;
        return IS("cookie") ? BG_HDR_COOKIE : BG_HDR_OTHER;
    case 7:
        if (IS("upgrade"))
            return BG_HDR_UPGRADE;
        return IS("trailer") ? BG_HDR_TRAILER : BG_HDR_OTHER;
    case 10:
        if (IS("connection"))
            return BG_HDR_CONNECTION;
        return IS("keep-alive") ? BG_HDR_KEEP_ALIVE : BG_HDR_OTHER;
    case 12:
        return IS("x-request-id") ? BG_HDR_REQUEST_ID : BG_HDR_OTHER;
    case 14:
        return IS("content-length") ? BG_HDR_CONTENT_LENGTH : BG_HDR_OTHER;
    case 15:
        if (IS("x-forwarded-for"))
            return BG_HDR_XFF;
        return IS("x-bluegreen-slot") ? BG_HDR_BG_SLOT : BG_HDR_OTHER;
    case 16:
        if (IS("proxy-connection"))
            return BG_HDR_PROXY_CONNECTION;
        if (IS("x-forwarded-host"))
            return BG_HDR_XFH;
        return IS("x-bluegreen-slot") ? BG_HDR_BG_SLOT : BG_HDR_OTHER;
    case 17:
        if (IS("transfer-encoding"))
            return BG_HDR_TRANSFER_ENCODING;
        return IS("x-forwarded-proto") ? BG_HDR_XFP : BG_HDR_OTHER;
    default:
        return BG_HDR_OTHER;
    }
}

bool bg_http_list_has(bg_str_t list, bg_str_t token)
{
    size_t i = 0;

    while (i < list.len) {
        size_t j = i;
        while (j < list.len && list.ptr[j] != ',')
            j++;
        if (bg_str_case_eq(bg_str_trim((bg_str_t){list.ptr + i, j - i}), token))
            return true;
        i = j + 1;
    }
    return false;
}

const bg_http_header_t *bg_http_head_find(const bg_http_head_t *h, bg_http_hdr_kind_t kind)
{
    for (size_t i = 0; i < h->n_headers; i++)
        if (h->headers[i].kind == kind)
            return &h->headers[i];
    return NULL;
}

bool bg_http_cookie_get(const bg_http_head_t *h, bg_str_t name, bg_str_t *value)
{
    for (size_t k = 0; k < h->n_headers; k++) {
        bg_str_t v = h->headers[k].value;
        size_t i = 0;
        if (h->headers[k].kind != BG_HDR_COOKIE)
            continue;
        while (i < v.len) {
            size_t j = i;
            while (j < v.len && v.ptr[j] != ';')
                j++;
            bg_str_t pair = bg_str_trim((bg_str_t){v.ptr + i, j - i});
            const char *eq = memchr(pair.ptr, '=', pair.len);
            if (eq && bg_str_eq(bg_str_trim((bg_str_t){pair.ptr, (size_t)(eq - pair.ptr)}), name)) {
                *value = (bg_str_t){eq + 1, pair.len - (size_t)(eq + 1 - pair.ptr)};
                return true;
            }
            i = j + 1;
        }
    }
    return false;
}

bool bg_http_request_id_is_valid(bg_str_t id)
{
    if (id.len == 0 || id.len > 128)
        return false;
    for (size_t i = 0; i < id.len; i++) {
        unsigned char c = (unsigned char)id.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

const char *bg_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}
