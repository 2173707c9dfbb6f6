/* Private cross-file helpers of the aws module (libuv's internal.h convention). */
#ifndef BG_AWS_INTERNAL_H
#define BG_AWS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>
#include <uv.h>

#include "aws/aws.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/list.h"

/* ---- sigv4.c helpers ---- */
void bg_aws_hex(const unsigned char *in, size_t n, char *out);
void bg_aws_sha256_hex(const void *data, size_t len, char out[65]);
/* Appends s[0..len) percent-encoded (unreserved set kept; '/' kept if <keep_slash>). */
void bg_aws_uri_encode(bg_buf_t *b, const char *s, size_t len, bool keep_slash);

/* ---- http.c: libcurl multi on a libuv loop ---- */
typedef struct bg_aws_http bg_aws_http_t;
typedef struct bg_aws_http_req bg_aws_http_req_t;
typedef void (*bg_aws_http_cb)(void *arg, bg_aws_http_req_t *req);

struct bg_aws_http_req {
    bg_aws_http_t *http;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    bg_buf_t resp;      /* response body */
    bg_buf_t resp_head; /* raw response headers */
    long status;        /* HTTP status, 0 if none */
    CURLcode result;
    char errbuf[CURL_ERROR_SIZE];
    bg_aws_http_cb cb;
    void *arg;
    bg_list_t link;
};

bg_aws_http_t *bg_aws_http_new(uv_loop_t *loop);
/* Starts <method> <url> with <headers> (taken), <body> (copied; NULL for none), bounded by
 * <timeout_ms>. <cb> runs on completion (any outcome) and must free the request with
 * bg_aws_http_req_free. Never calls <cb> from inside this function. */
bg_aws_http_req_t *bg_aws_http_start(bg_aws_http_t *http, const char *method, const char *url,
                                     struct curl_slist *headers, const void *body, size_t body_len,
                                     uint64_t timeout_ms, bg_aws_http_cb cb, void *arg);
/* Frees a finished request, or aborts and frees one in flight (its callback never runs). */
void bg_aws_http_req_free(bg_aws_http_req_t *req);
/* Value of response header <name> into <out>; false if absent. */
bool bg_aws_http_header(const bg_aws_http_req_t *req, const char *name, char *out, size_t size);
/* Closes the handles (no request may be in flight) and frees <http>; then <cb>(<arg>). */
void bg_aws_http_close(bg_aws_http_t *http, void (*cb)(void *), void *arg);

/* ---- ini.c: AWS shared config/credentials files ---- */
/* Value of <key> in section <section> of the INI file at <path> (copy; caller frees), or
 * NULL if the file, section or key is absent. */
char *bg_aws_ini_get(const char *path, const char *section, const char *key);
/* True if <path> has section <section>. */
bool bg_aws_ini_has_section(const char *path, const char *section);

/* ---- protocol.c ---- */
/* Flattens a JSON object into query form parameters (AWS query protocol serialisation). */
void bg_aws_query_flatten(bg_buf_t *out, const json_t *params);
/* Parses a query-protocol XML response. On success, *<result> is the <OpResult> content as
 * JSON (new reference). On an <ErrorResponse>, fills <code>/<msg> and returns 1. Returns
 * -1 for unparseable XML. <request_id> receives the RequestId when present. */
int bg_aws_xml_parse(const char *xml, size_t len, const char *op, json_t **result, char *code,
                     size_t code_size, char *msg, size_t msg_size, char *request_id,
                     size_t rid_size);
/* Reads a JSON 1.1 error body: "__type" (prefix before '#' removed) and "message"/"Message". */
void bg_aws_json_error(const json_t *body, char *code, size_t code_size, char *msg,
                       size_t msg_size);
/* ISO 8601 "2026-12-04T15:00:00Z" (fraction and offset accepted) to Unix seconds; false on
 * bad input. */
bool bg_aws_parse_time(const char *s, int64_t *out);
/* A random v4 UUID into <out> (37 bytes). */
void bg_aws_uuid(char out[37]);

/* ---- client.c ---- */
/* bg_aws_call() whose first attempt waits <delay_ms> (polling without a timer of one's
 * own, so bg_aws_close() cancels the wait too). */
int bg_aws_call_delayed(bg_aws_t *aws, uint64_t delay_ms, const bg_aws_service_t *svc,
                        const char *op, json_t *params, bg_aws_cb cb, void *arg);

/* ---- creds.c (state lives in the client) ---- */
typedef struct bg_aws_credsrc bg_aws_credsrc_t;
bg_aws_credsrc_t *bg_aws_credsrc_new(bg_aws_http_t *http, const char *profile,
                                     uint64_t refresh_window_ms, bg_aws_stats_t *stats);
int bg_aws_credsrc_get(bg_aws_credsrc_t *src, bg_aws_creds_cb cb, void *arg);
/* Marks the cached credentials stale (the service said they expired): the next get
 * fetches again. */
void bg_aws_credsrc_invalidate(bg_aws_credsrc_t *src);
/* Fails pending waiters with UV_ECANCELED, aborts fetches, frees <src>. */
void bg_aws_credsrc_free(bg_aws_credsrc_t *src);
/* Path of the shared credentials / config file (env override or ~/.aws/...). Caller frees;
 * NULL if no home directory is known. */
char *bg_aws_credentials_path(void);
char *bg_aws_config_path(void);

#endif
