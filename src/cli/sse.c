/* A Server-Sent Events client for the CLI (GET /v1/events/stream): a libcurl multi
 * transfer that the caller pumps with a timeout, so one loop can follow the stream, poll
 * the daemon and notice Ctrl-C. The parser follows the WHATWG HTML "event stream
 * interpretation": lines end in CRLF, LF or CR; a blank line dispatches; a line starting
 * with ':' is a comment (the daemon's keep-alives); "field: value" loses one leading space.
 */
#include "cli/internal.h"

#include <curl/curl.h>

#include "base/base.h"

/* Ceiling for one event's data: a DEPLOYMENT with log tails fits with room to spare. */
#define MAX_EVENT_BYTES (4u << 20)

struct bg_cli_sse {
    bg_cli_client_t *c; /* borrowed */
    CURLM *multi;       /* NULL for a parser alone */
    CURL *h;
    struct curl_slist *hdrs;
    char *url;
    char errbuf[CURL_ERROR_SIZE];
    bg_cli_sse_fn fn;
    void *arg;
    bg_buf_t line; /* the line being read */
    bool cr;       /* the last byte was CR: a following LF belongs to it */
    bg_buf_t data; /* data lines of the event being read */
    bool has_data;
    char event[64];
    char id[64];             /* the event's id field as read */
    char last_id[64];        /* last event id: survives events without an id */
    long status;             /* 0 until the head is in */
    bg_cli_answer_t refused; /* a non-2xx answer's body */
    bool done;
    int result; /* pump's answer once done */
    char error[256];
};

static void dispatch(bg_cli_sse_t *s)
{
    /* The spec sets the last event id on dispatch even when no data came. */
    snprintf(s->last_id, sizeof(s->last_id), "%s", s->id);
    if (s->has_data) {
        bg_buf_append(&s->data, "", 0);
        s->fn(s->arg, s->last_id, s->event[0] ? s->event : "message", s->data.data);
    }
    bg_buf_reset(&s->data);
    s->has_data = false;
    s->event[0] = '\0';
}

static void field(bg_cli_sse_t *s, const char *name, const char *value)
{
    if (strcmp(name, "data") == 0) {
        if (s->has_data)
            bg_buf_append(&s->data, "\n", 1);
        if (s->data.len < MAX_EVENT_BYTES)
            bg_buf_puts(&s->data, value);
        s->has_data = true;
    } else if (strcmp(name, "event") == 0) {
        snprintf(s->event, sizeof(s->event), "%s", value);
    } else if (strcmp(name, "id") == 0) {
        snprintf(s->id, sizeof(s->id), "%s", value);
    }
    /* "retry" and unknown fields are ignored, as the spec says. */
}

static void line_done(bg_cli_sse_t *s)
{
    char *l, *colon, *value;

    bg_buf_append(&s->line, "", 0);
    l = s->line.data;
    if (s->line.len == 0 || l[0] == '\0') {
        dispatch(s);
    } else if (l[0] != ':') {
        colon = strchr(l, ':');
        value = colon != NULL ? colon + 1 : l + strlen(l);
        if (colon != NULL)
            *colon = '\0';
        if (*value == ' ')
            value++;
        field(s, l, value);
    }
    bg_buf_reset(&s->line);
}

void bg_cli_sse_feed(bg_cli_sse_t *s, const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char ch = p[i];
        if (ch == '\n' && s->cr) {
            s->cr = false;
            continue;
        }
        s->cr = ch == '\r';
        if (ch == '\r' || ch == '\n')
            line_done(s);
        else if (s->line.len < MAX_EVENT_BYTES)
            bg_buf_append(&s->line, &ch, 1);
    }
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    bg_cli_sse_t *s = arg;

    if (s->status == 0)
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status >= 200 && s->status <= 299)
        bg_cli_sse_feed(s, p, size * n);
    else if (s->line.len < 65536)
        bg_buf_append(&s->line, p, size * n); /* the refusal's body, read in finish() */
    return size * n;
}

bg_cli_sse_t *bg_cli_sse_parser_new(bg_cli_sse_fn fn, void *arg)
{
    bg_cli_sse_t *s = bg_xcalloc(1, sizeof(*s));

    s->fn = fn;
    s->arg = arg;
    bg_buf_init(&s->line);
    bg_buf_init(&s->data);
    return s;
}

bg_cli_sse_t *bg_cli_sse_open(bg_cli_client_t *c, const char *path, const char *last_id,
                              bg_cli_sse_fn fn, void *arg)
{
    bg_cli_sse_t *s = bg_cli_sse_parser_new(fn, arg);

    s->c = c;
    s->url = bg_asprintf("%s%s", c->ep.base_url, path);
    snprintf(s->refused.path, sizeof(s->refused.path), "GET %.*s", (int)strcspn(path, "?"), path);
    s->hdrs = bg_cli_client_headers(c, "Accept: text/event-stream", false);
    if (last_id != NULL && last_id[0] != '\0') {
        char *h = bg_asprintf("Last-Event-ID: %s", last_id);
        s->hdrs = curl_slist_append(s->hdrs, h);
        free(h);
        snprintf(s->last_id, sizeof(s->last_id), "%s", last_id);
        snprintf(s->id, sizeof(s->id), "%s", last_id);
    }
    s->multi = curl_multi_init();
    s->h = curl_easy_init();
    if (s->multi == NULL || s->h == NULL) {
        snprintf(s->error, sizeof(s->error), "cannot initialise libcurl");
        s->done = true;
        s->result = -1;
        return s;
    }
    bg_cli_client_setup(c, s->h, s->url);
    curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdrs);
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->h, CURLOPT_ERRORBUFFER, s->errbuf);
    /* No overall timeout: the stream lasts as long as we follow it. The daemon sends a
     * keep-alive comment every 15 s; a connection silent for a minute is dead. */
    curl_easy_setopt(s->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(s->h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_multi_add_handle(s->multi, s->h);
    return s;
}

/* The transfer ended with <cr>: record how. */
static void finish(bg_cli_sse_t *s, CURLcode cr)
{
    s->done = true;
    if (cr != CURLE_OK) {
        bg_cli_client_transport(s->c, s->h, cr, s->errbuf);
        snprintf(s->error, sizeof(s->error), "%s", s->c->error);
        s->result = -1;
        return;
    }
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status >= 200 && s->status <= 299) {
        s->result = 0;
        return;
    }
    /* on_data kept the refusal's body in s->line. */
    s->refused.status = s->status;
    bg_buf_append(&s->line, "", 0);
    s->refused.len = s->line.len;
    s->refused.text = bg_buf_steal(&s->line);
    s->refused.json = json_loadb(s->refused.text, s->refused.len, 0, NULL);
    s->result = -1;
}

int bg_cli_sse_pump(bg_cli_sse_t *s, int timeout_ms)
{
    int running = 0, left = 0;
    CURLMsg *m;

    if (s->done)
        return s->result;
    curl_multi_perform(s->multi, &running);
    if (running > 0) {
        curl_multi_poll(s->multi, NULL, 0, timeout_ms, NULL);
        curl_multi_perform(s->multi, &running);
    }
    while ((m = curl_multi_info_read(s->multi, &left)) != NULL)
        if (m->msg == CURLMSG_DONE)
            finish(s, m->data.result);
    if (s->done)
        return s->result;
    return 1;
}

const bg_cli_answer_t *bg_cli_sse_answer(const bg_cli_sse_t *s)
{
    return s->refused.status != 0 ? &s->refused : NULL;
}

const char *bg_cli_sse_error(const bg_cli_sse_t *s)
{
    return s->error;
}

const char *bg_cli_sse_last_id(const bg_cli_sse_t *s)
{
    return s->last_id;
}

void bg_cli_sse_free(bg_cli_sse_t *s)
{
    if (s == NULL)
        return;
    if (s->multi != NULL && s->h != NULL)
        curl_multi_remove_handle(s->multi, s->h);
    if (s->h != NULL)
        curl_easy_cleanup(s->h);
    if (s->multi != NULL)
        curl_multi_cleanup(s->multi);
    curl_slist_free_all(s->hdrs);
    free(s->url);
    bg_cli_answer_fini(&s->refused);
    bg_buf_fini(&s->line);
    bg_buf_fini(&s->data);
    free(s);
}
