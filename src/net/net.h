/* Network plumbing for the data plane: address parsing ("host:port", "[::1]:port"),
 * listening sockets with SO_REUSEPORT (one per worker on the same address) and the socket
 * options every proxied connection gets. Never resolves names on a worker: only the
 * control thread calls the functions that may (bg_net_addr_parse with a host name).
 */
#ifndef BG_NET_NET_H
#define BG_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
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

#endif
