/* Health tests: a tiny HTTP server on the test's own libuv loop (the same loop the checker
 * runs on, so a server that "hangs" costs nothing and no thread is involved), plus
 * helpers to run that loop until a condition holds or a deadline passes.
 * Thread: the test thread.
 */
#ifndef BG_TESTS_HEALTH_LOOPSRV_H
#define BG_TESTS_HEALTH_LOOPSRV_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "base/list.h"

typedef struct loopsrv loopsrv_t;

/* Returns the raw response for a request to <path>, or NULL to never answer (the
 * connection stays open until the client closes it or the server stops). The string is
 * borrowed until written. */
typedef const char *(*loopsrv_handler_t)(loopsrv_t *s, const char *path);

struct loopsrv {
    uv_tcp_t listener;
    int port;
    loopsrv_handler_t handler;
    const char *response;        /* used when handler is NULL; NULL = hang */
    bool close_without_answer;   /* read the request, then close (no handler call) */
    bool keep_open;              /* after writing the answer, leave the connection open */
    unsigned connections;
    unsigned requests;
    char last_head[4096];
    char paths[64][128];         /* first 64 request paths, in order */
    void *user;
    bg_list_t conns;
    bool stopped;
};

/* Starts listening on 127.0.0.1:<port> (0: pick) on <loop>. */
void loopsrv_start(loopsrv_t *s, uv_loop_t *loop, int port);
/* Closes the listener and every open connection (close callbacks run on the loop). */
void loopsrv_stop(loopsrv_t *s);

/* Runs <loop> until <cond>(<arg>) is true or <timeout_ms> passes; returns the last value of
 * <cond>. A heartbeat timer keeps iterations short; it is closed before returning. */
bool run_until(uv_loop_t *loop, bool (*cond)(void *arg), void *arg, int timeout_ms);
/* Runs <loop> for <ms> regardless (to show that something does NOT happen). */
void run_for(uv_loop_t *loop, int ms);
/* Runs <loop> until it has no more active handles, then uv_loop_close(); returns its
 * result (0 when nothing was left open). */
int loop_finish(uv_loop_t *loop);

/* Under AddressSanitizer: runs LeakSanitizer now and returns the number of leaked
 * allocations found (0 without ASan). Criterion's workers never reach LSan's exit-time
 * check, so tests call this at the end. */
int leak_check(void);

/* Builds "HTTP/1.1 <status> X\r\nContent-Type: <ctype>\r\nContent-Length: N\r\n\r\n<body>"
 * in a static rotating buffer (8 slots). */
const char *http_response(int status, const char *ctype, const char *body);

#endif
