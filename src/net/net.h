/* Network plumbing for the data plane: address parsing ("host:port", "[::1]:port"),
 * listening sockets with SO_REUSEPORT (one per worker on the same address) and the socket
 * options every proxied connection gets. Never resolves names on a worker: only the
 * control thread calls the functions that may (bg_net_addr_parse with a host name).
 */
#ifndef BG_NET_NET_H
#define BG_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#include "base/err.h"

/* Parses "127.0.0.1:8080", "[::1]:8080", "localhost:8080" or ":8080" (= 0.0.0.0) into
 * <out>/<out_len>. Port 0 is allowed (ephemeral). Returns 0 or BG_EINVAL with <err>.
 * Thread: control (may resolve a host name). */
int bg_net_addr_parse(const char *s, struct sockaddr_storage *out, socklen_t *out_len,
                      bg_err_t *err);

/* Formats <sa> as "a.b.c.d" or "x::y" (no port) into <out> of <size> bytes; returns the
 * length written (0 on failure). Thread: any. */
size_t bg_net_ip_format(const struct sockaddr *sa, char *out, size_t size);

/* Port of a bound socket <fd>, or a negative code. Thread: any. */
int bg_net_local_port(int fd);

/* Creates a non-blocking, close-on-exec TCP listening socket on <addr> with SO_REUSEADDR
 * and SO_REUSEPORT (so each worker binds its own socket on the same address and the kernel
 * spreads connections). Returns the fd (caller owns it) or a negative code with <err>
 * naming <name> (the address as the user wrote it). Thread: control. */
int bg_net_listen(const struct sockaddr *addr, socklen_t addr_len, int backlog,
                  const char *name, bg_err_t *err);

/* Fails with UV_EADDRINUSE (and <err> naming <name>) if something already listens on
 * <addr>. SO_REUSEPORT would otherwise let a second bluegreen bind the same port and
 * silently share its traffic; call this before bg_net_listen() for a fixed port.
 * Thread: control. */
int bg_net_check_free(const struct sockaddr *addr, socklen_t addr_len, const char *name,
                      bg_err_t *err);

/* Sets TCP_NODELAY on <fd> (every proxied connection: heads and small bodies must not wait
 * for Nagle). Thread: any. */
void bg_net_nodelay(int fd);

/* ---- hand-over of listening sockets between processes (handover.c) ---- */

#define BG_NET_MAX_FDS 250 /* descriptors in one hand-over message (SCM_MAX_FD is 253) */

/* Sends <len> bytes of <data> on the connected Unix socket <sock> with <n_fds> descriptors
 * <fds> attached (SCM_RIGHTS) to the first bytes; the receiver gets its own copies, ours
 * stay open (the caller closes them). Waits at most <timeout_ms> for buffer space.
 * Returns 0 or a negative code (BG_ETIMEDOUT, BG_EINVAL for n_fds > BG_NET_MAX_FDS).
 * Thread: control (blocks up to <timeout_ms>). */
int bg_net_send_fds(int sock, const void *data, size_t len, const int *fds, size_t n_fds,
                    uint32_t timeout_ms);

/* Receives up to <size> bytes into <buf> from <sock>, waiting at most <timeout_ms>;
 * descriptors that came with them are appended to <fds> (close-on-exec; *<n_fds> counts
 * them; beyond <max_fds> they are closed). Returns the byte count (0 at EOF) or a negative
 * code (UV_E2BIG when the kernel truncated the descriptors). The caller owns the
 * descriptors. Thread: control (blocks up to <timeout_ms>). */
ssize_t bg_net_recv_fds(int sock, void *buf, size_t size, int *fds, size_t max_fds, size_t *n_fds,
                        uint32_t timeout_ms);

/* Connects a blocking, close-on-exec stream socket to the Unix socket <path>. Returns the
 * fd (caller owns it) or a negative code with <err>. Thread: control. */
int bg_net_unix_connect(const char *path, bg_err_t *err);

/* True when <fd> is a listening TCP socket bound to the address of <want> and to its port
 * (any port when <want>'s is 0). Thread: any. */
bool bg_net_listener_matches(int fd, const struct sockaddr *want);

#endif
