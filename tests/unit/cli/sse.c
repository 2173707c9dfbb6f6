/* Unit: the Server-Sent Events parser of the CLI (src/cli/sse.c), fed byte streams as the
 * WHATWG "event stream interpretation" describes them: CRLF/LF/CR line ends, comments,
 * multi-line data, id persistence, events split across reads. */
#include <criterion/criterion.h>

#include "base/base.h"
#include "cli/internal.h"

typedef struct seen {
    char log[2048];
    int n;
} seen_t;

static void on_event(void *arg, const char *id, const char *event, const char *data)
{
    seen_t *s = arg;
    size_t len = strlen(s->log);
    snprintf(s->log + len, sizeof(s->log) - len, "[%s|%s|%s]", id, event, data);
    s->n++;
}

static void feed_all(const char *text, size_t chunk, seen_t *s)
{
    bg_cli_sse_t *p = bg_cli_sse_parser_new(on_event, s);
    size_t len = strlen(text);
    for (size_t i = 0; i < len; i += chunk)
        bg_cli_sse_feed(p, text + i, len - i < chunk ? len - i : chunk);
    bg_cli_sse_free(p);
}

Test(cli_sse, events_fields_and_comments)
{
    static const char text[] = ": keep-alive\n\n"
                               "id: 1\nevent: deploy.phase\ndata: {\"a\":1}\n\n"
                               "data: line one\ndata:line two\n\n"
                               "retry: 10\nid: 7\r\nevent: traffic\r\ndata: x\r\n\r\n"
                               "data: cr only\r\rdata: unfinished";
    /* Any split of the stream gives the same events. */
    for (size_t chunk = 1; chunk <= sizeof(text); chunk++) {
        seen_t s = {{0}, 0};
        feed_all(text, chunk, &s);
        cr_assert_eq(s.n, 4, "chunk %zu: %s", chunk, s.log);
        cr_assert_str_eq(s.log,
                         "[1|deploy.phase|{\"a\":1}][1|message|line one\nline two]"
                         "[7|traffic|x][7|message|cr only]",
                         "chunk %zu", chunk);
    }
}

Test(cli_sse, blank_events_and_fields_without_value)
{
    seen_t s = {{0}, 0};
    /* No data: nothing dispatched, but the id sticks. "data" alone is an empty line. */
    feed_all("id: 5\n\nevent: x\n\ndata\n\ndata:  two spaces\n\n", 3, &s);
    cr_assert_str_eq(s.log, "[5|message|][5|message| two spaces]");
}
