/* The fake admin endpoint of the CLI e2e tests (cli_fake.h). */
#include "e2e/cli_fake.h"

#include <pthread.h>
#include <time.h>

#include "base/base.h"
#include "support/support.h"

struct fake_admin {
    bgt_backend_t *b;
    char *url;
    fake_route_t *routes;
    unsigned *hits;
    size_t n;
    pthread_mutex_t mu;
};

static const char no_route[] = "{\"error\":{\"code\":\"not_found\",\"message\":\"no such "
                               "endpoint\"}}";

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 409:
        return "Conflict";
    case 503:
        return "Service Unavailable";
    default:
        return "Whatever";
    }
}

static char *answer(void *arg, const bgt_backend_req_t *req)
{
    fake_admin_t *f = arg;
    const fake_route_t *r = NULL;
    const char *body = no_route;
    unsigned n = 0;

    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n && r == NULL; i++) {
        if (strcmp(f->routes[i].method, req->method) == 0 &&
            strncmp(req->path, f->routes[i].path, strlen(f->routes[i].path)) == 0) {
            r = &f->routes[i];
            n = f->hits[i]++;
        }
    }
    pthread_mutex_unlock(&f->mu);
    if (r != NULL && r->after_route > 0) {
        /* Runs on the connection's thread: waiting here holds only this answer. */
        uint64_t deadline = bg_now_ms() + 10000;
        while (fake_admin_hits(f, r->after_route - 1) == 0 && bg_now_ms() < deadline) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (r == NULL)
        return bg_asprintf("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                           "Content-Length: %zu\r\n\r\n%s",
                           strlen(body), body);
    size_t last = 0;
    while (last + 1 < FAKE_MAX_ANSWERS && r->bodies[last + 1] != NULL)
        last++;
    size_t at = n < last ? n : last;
    body = r->bodies[at];
    if (body == NULL)
        body = "";
    int status = r->statuses[at] ? r->statuses[at] : r->status ? r->status : 200;
    const char *type = r->type ? r->type : "application/json";
    if (strcmp(type, "text/event-stream") == 0)
        return bg_asprintf("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nCache-Control: no-cache\r\n"
                           "%s\r\n%s",
                           status, reason(status), type, r->hold ? "" : "Connection: close\r\n",
                           body);
    return bg_asprintf("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
                       status, reason(status), type, strlen(body), body);
}

fake_admin_t *fake_admin_start(const fake_route_t *routes, size_t n)
{
    return fake_admin_start_on(routes, n, 0);
}

fake_admin_t *fake_admin_start_on(const fake_route_t *routes, size_t n, int port)
{
    fake_admin_t *f = bg_xcalloc(1, sizeof(*f));

    f->routes = bg_xcalloc(n + 1, sizeof(*f->routes));
    memcpy(f->routes, routes, n * sizeof(*routes));
    f->hits = bg_xcalloc(n + 1, sizeof(*f->hits));
    f->n = n;
    pthread_mutex_init(&f->mu, NULL);
    f->b = bgt_backend_start("admin", port);
    bgt_backend_set_handler(f->b, answer, f);
    f->url = bg_asprintf("http://127.0.0.1:%d", bgt_backend_port(f->b));
    return f;
}

const char *fake_admin_url(const fake_admin_t *f)
{
    return f->url;
}

unsigned fake_admin_hits(fake_admin_t *f, size_t i)
{
    pthread_mutex_lock(&f->mu);
    unsigned n = f->hits[i];
    pthread_mutex_unlock(&f->mu);
    return n;
}

char *fake_admin_received(fake_admin_t *f)
{
    return bgt_backend_received(f->b, NULL);
}

char *fake_admin_body_of(fake_admin_t *f, const char *line_prefix)
{
    char *all = fake_admin_received(f), *out = NULL;
    const char *p = all;

    while ((p = strstr(p, line_prefix)) != NULL) {
        if (p != all && p[-1] != '\n') {
            p++;
            continue;
        }
        const char *end = strstr(p, "\r\n\r\n");
        char cl[32];
        if (end == NULL)
            break;
        char *head = bg_strndup(p, (size_t)(end - p) + 2);
        size_t len = bgt_head_header(head, "Content-Length", cl, sizeof(cl))
                         ? (size_t)strtoul(cl, NULL, 10)
                         : 0;
        free(head);
        out = bg_strndup(end + 4, len);
        break;
    }
    free(all);
    return out;
}

void fake_admin_stop(fake_admin_t *f)
{
    if (f == NULL)
        return;
    bgt_backend_stop(f->b);
    pthread_mutex_destroy(&f->mu);
    free(f->url);
    free(f->hits);
    free(f->routes);
    free(f);
}
