/* Strict chunked transfer coding decoder (RFC 9112 §7.1). Chunk sizes are hex without
 * sign or overflow (at most 16 digits); every line ends in CRLF (a bare LF is an error);
 * extensions are checked for control characters and dropped (the proxy re-frames);
 * trailer fields are validated and dropped, never merged into the header section. */
#include "http/internal.h"

#include <string.h>

#include "base/base.h"
#include "base/compat.h"

#define MAX_SIZE_DIGITS 16
#define MAX_LINE 4096

enum ch_state {
    CH_SIZE = 0,       /* first hex digit */
    CH_SIZE_MORE = 1,  /* more digits, ';', BWS or CR */
    CH_SIZE_WS = 2,    /* BWS after the size: only SP/HTAB/';' */
    CH_EXT = 3,        /* extension text until CR */
    CH_SIZE_LF = 4,
    CH_DATA = 5,
    CH_DATA_CR = 6,
    CH_DATA_LF = 7,
    CH_TRAILER_START = 8,
    CH_TRAILER = 9,
    CH_TRAILER_LF = 10,
    CH_END_LF = 11,
    CH_DONE = 12,
};

static bg_http_result_t bad(bg_http_parser_t *p, const char *why, size_t i, size_t *used)
{
    *used = i;
    p->status = p->response ? 502 : 400;
    p->reason = why;
    return BG_HTTP_ERROR;
}

static bool is_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

bg_http_result_t bg_http_chunked_execute(bg_http_parser_t *p, const char *data, size_t len,
                                         size_t *used)
{
    const bg_http_body_cbs_t *cb = p->cbs;
    size_t i = 0;

    while (i < len) {
        char c = data[i];
        int v;
        switch (p->ch_state) {
        case CH_SIZE:
            if ((v = bg_hex_digit(c)) < 0)
                return bad(p, "invalid chunk size", i, used);
            p->ch_size = (uint64_t)v;
            p->ch_digits = 1;
            p->ch_state = CH_SIZE_MORE;
            i++;
            break;
        case CH_SIZE_MORE:
            if ((v = bg_hex_digit(c)) >= 0) {
                if (++p->ch_digits > MAX_SIZE_DIGITS)
                    return bad(p, "chunk size too long", i, used);
                p->ch_size = (p->ch_size << 4) | (uint64_t)v;
                i++;
                break;
            }
            /* fall through */
        case CH_SIZE_WS:
            if (c == ' ' || c == '\t') {
                p->ch_state = CH_SIZE_WS;
            } else if (c == ';') {
                p->ch_state = CH_EXT;
                p->ch_line = 0;
            } else if (c == '\r') {
                p->ch_state = CH_SIZE_LF;
            } else {
                return bad(p, "invalid chunk size", i, used);
            }
            i++;
            break;
        case CH_EXT:
            if (c == '\r') {
                p->ch_state = CH_SIZE_LF;
            } else if (is_ctl((unsigned char)c) || ++p->ch_line > MAX_LINE) {
                return bad(p, "invalid chunk extension", i, used);
            }
            i++;
            break;
        case CH_SIZE_LF:
            if (c != '\n')
                return bad(p, "expected LF after chunk size", i, used);
            i++;
            if (p->ch_size == 0) {
                p->ch_state = CH_TRAILER_START;
                break;
            }
            p->ch_state = CH_DATA;
            if (!p->response && p->max_body_bytes &&
                p->body_bytes + p->ch_size > p->max_body_bytes) {
                *used = i;
                p->status = 413;
                p->reason = "body too large";
                return BG_HTTP_ERROR;
            }
            if (cb && cb->on_chunk_header && cb->on_chunk_header(p->arg, p->ch_size)) {
                *used = i;
                return BG_HTTP_PAUSED;
            }
            break;
        case CH_DATA: {
            size_t n = len - i;
            if (n > p->ch_size)
                n = (size_t)p->ch_size;
            p->ch_size -= n;
            p->body_bytes += n;
            i += n;
            if (p->ch_size == 0)
                p->ch_state = CH_DATA_CR;
            if (cb && cb->on_body && cb->on_body(p->arg, data + i - n, n)) {
                *used = i;
                return BG_HTTP_PAUSED;
            }
            break;
        }
        case CH_DATA_CR:
            if (c != '\r')
                return bad(p, "expected CRLF after chunk data", i, used);
            p->ch_state = CH_DATA_LF;
            i++;
            break;
        case CH_DATA_LF:
            if (c != '\n')
                return bad(p, "expected LF after chunk data", i, used);
            p->ch_state = CH_SIZE;
            i++;
            if (cb && cb->on_chunk_complete && cb->on_chunk_complete(p->arg)) {
                *used = i;
                return BG_HTTP_PAUSED;
            }
            break;
        case CH_TRAILER_START:
            if (c == '\r') {
                p->ch_state = CH_END_LF;
            } else if (c == ' ' || c == '\t' || c == ':' || is_ctl((unsigned char)c)) {
                return bad(p, "invalid trailer field", i, used); /* obs-fold, empty name */
            } else {
                p->ch_state = CH_TRAILER;
                p->ch_line = 1;
            }
            i++;
            break;
        case CH_TRAILER:
            if (c == '\r') {
                p->ch_state = CH_TRAILER_LF;
            } else if (is_ctl((unsigned char)c) || ++p->ch_line > MAX_LINE) {
                return bad(p, "invalid trailer field", i, used);
            }
            i++;
            break;
        case CH_TRAILER_LF:
            if (c != '\n')
                return bad(p, "expected LF after trailer field", i, used);
            p->ch_state = CH_TRAILER_START;
            i++;
            break;
        case CH_END_LF:
            if (c != '\n')
                return bad(p, "expected LF after trailers", i, used);
            i++;
            p->ch_state = CH_DONE;
            if (cb && cb->on_message_complete)
                cb->on_message_complete(p->arg);
            *used = i;
            return BG_HTTP_DONE;
        default:
            *used = i;
            return BG_HTTP_DONE;
        }
    }
    *used = i;
    if (p->ch_state == CH_DONE)
        return BG_HTTP_DONE;
    return BG_HTTP_NEED_MORE;
}
