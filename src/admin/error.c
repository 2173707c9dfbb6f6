/* The one table from our negative codes to HTTP statuses and the JSON error codes of
 * docs/admin-api.md, and the respond_* helpers every answer goes through.
 */
#include "admin/admin.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/internal.h"
#include "base/base.h"
#include "base/compat.h"

static const struct {
    int code;
    int status;
    const char *name;
} error_table[] = {
    {BG_EINVAL, 400, "bad_request"},   {BG_EPROTO, 400, "bad_request"}, /* unparsable HTTP */
    {UV_EACCES, 401, "unauthorized"}, /* missing or wrong bearer token */
    {UV_EPERM, 403, "forbidden"},     /* a dashboard session's change without its CSRF token */
    {BG_ENOTFOUND, 404, "not_found"},  {UV_ENOTSUP, 405, "method_not_allowed"},
    {BG_EEXIST, 409, "conflict"},      {BG_ECONFLICT, 409, "conflict"},
    {BG_EREFUSED, 409, "conflict"},    {UV_E2BIG, 413, "too_large"}, /* body */
    {UV_EMSGSIZE, 431, "too_large"},                                 /* request head */
    {BG_EUNAVAIL, 503, "unavailable"},                               /* shutting down */
    {BG_ETIMEDOUT, 504, "timeout"}, /* a switch was not confirmed in time */
};

int bg_admin_error_status(int code, const char **json_code)
{
    for (size_t i = 0; i < BG_ARRAY_LEN(error_table); i++) {
        if (error_table[i].code == code) {
            if (json_code != NULL)
                *json_code = error_table[i].name;
            return error_table[i].status;
        }
    }
    if (json_code != NULL)
        *json_code = "internal";
    return 500;
}

json_t *bg_admin_error_json(int code, const char *msg)
{
    const char *name;

    bg_admin_error_status(code, &name);
    return json_pack("{s:{s:s,s:s}}", "error", "code", name, "message",
                     msg != NULL && *msg != '\0' ? msg : bg_strerror(code));
}

void bg_admin_respond_json(bg_admin_req_t *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    size_t len;

    BG_ASSERT(text != NULL);
    json_decref(body);
    len = strlen(text);
    /* A trailing newline keeps `curl` output and line-oriented tools tidy. */
    text = bg_xrealloc(text, len + 2);
    text[len++] = '\n';
    text[len] = '\0';
    admin_req_write(req, status, "application/json", text, len);
}

void bg_admin_respond_text(bg_admin_req_t *req, int status, const char *content_type,
                           const char *body, size_t len)
{
    admin_req_write(req, status, content_type, bg_strndup(body != NULL ? body : "", len), len);
}

void bg_admin_stream_begin(bg_admin_req_t *req, int status, const char *content_type)
{
    admin_req_stream_head(req, status, content_type);
}

bool bg_admin_stream_write(bg_admin_req_t *req, const char *data, size_t len)
{
    return admin_req_stream_write(req, data, len);
}

void bg_admin_stream_end(bg_admin_req_t *req)
{
    admin_req_stream_end(req);
}

const char *bg_admin_req_header(const bg_admin_req_t *req, const char *name)
{
    const admin_conn_t *c = req->conn;
    const char *p, *end;

    if (c == NULL || c->headers.len == 0)
        return NULL;
    p = c->headers.data;
    end = p + c->headers.len;
    while (p < end) {
        const char *value = p + strlen(p) + 1;
        if (strcasecmp(p, name) == 0)
            return value;
        p = value + strlen(value) + 1;
    }
    return NULL;
}

void bg_admin_respond_error(bg_admin_req_t *req, const bg_err_t *err)
{
    int code = err != NULL && err->code != 0 ? err->code : BG_EIO;
    int status = bg_admin_error_status(code, NULL);

    char text[BG_ERR_MSG_MAX + 2 * BG_ERR_PATH_MAX + 64];
    json_t *body, *pos;

    if (err == NULL || (err->file[0] == '\0' && err->line == 0)) {
        bg_admin_respond_json(req, status,
                              bg_admin_error_json(code, err != NULL ? err->msg : NULL));
        return;
    }
    /* an error in a file the client sent (a revision or release file): its position, in
     * the message as the config loader prints it (FILE:LINE:COLUMN: KEY: ...) and apart */
    body = bg_admin_error_json(code, bg_err_format(err, text, sizeof(text)));
    pos = json_pack("{s:s,s:i,s:i,s:s}", "file", err->file, "line", (int)err->line, "column",
                    (int)err->column, "key", err->key);
    json_object_update(json_object_get(body, "error"), pos);
    json_decref(pos);
    bg_admin_respond_json(req, status, body);
}

void bg_admin_respond_errorf(bg_admin_req_t *req, int code, const char *fmt, ...)
{
    bg_err_t err;
    va_list ap;

    bg_err_clear(&err);
    err.code = code;
    va_start(ap, fmt);
    vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
    va_end(ap);
    bg_admin_respond_error(req, &err);
}
