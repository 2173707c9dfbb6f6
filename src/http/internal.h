/* Private helpers of the http module. */
#ifndef BG_HTTP_INTERNAL_H
#define BG_HTTP_INTERNAL_H

#include "http/http.h"

/* Decodes a chunked body (RFC 9112 §7.1) after the head, calling the body callbacks;
 * used instead of llhttp's chunk parser (llhttp 8.1 refuses valid extension lists such
 * as "5;a=b;c"). Same contract as bg_http_parser_execute(). */
bg_http_result_t bg_http_chunked_execute(bg_http_parser_t *p, const char *data, size_t len,
                                         size_t *used);

#endif
