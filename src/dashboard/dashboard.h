/* The web dashboard's server-side pieces that do not depend on HTTP plumbing
 * (docs/internals/dashboard.md): the pages embedded into the binary at build time
 * (cmake/embed_assets.cmake), their content types and the security headers every answer
 * carries, and the authentication state of one listener — one-time login tokens,
 * sessions and their CSRF tokens. src/admin/dashboard.c serves them over HTTP; the admin
 * listener of `serve` and `bluegreen dashboard` each hold one bg_dash_auth_t.
 * Nothing here blocks or touches the network.
 */
#ifndef BG_DASHBOARD_DASHBOARD_H
#define BG_DASHBOARD_DASHBOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One embedded file. Everything points into the binary's read-only data. */
typedef struct bg_dash_asset {
    const char *path;          /* relative to src/dashboard/assets/: "index.html" */
    const unsigned char *data; /* <len> bytes (followed by a NUL not counted in <len>) */
    size_t len;
    const char *etag; /* quoted: "\"0123abcd...\"" */
} bg_dash_asset_t;

/* The embedded file at <path> (relative, no leading '/'), or NULL. Thread: any. */
const bg_dash_asset_t *bg_dash_asset_find(const char *path);
/* Number of embedded files, and the <i>th (sorted by path). Thread: any. */
size_t bg_dash_asset_count(void);
const bg_dash_asset_t *bg_dash_asset_at(size_t i);

/* Content-Type for <path> by its extension (docs/internals/dashboard.md). Thread: any. */
const char *bg_dash_content_type(const char *path);

/* The header lines (each ending in \r\n) that every answer of a listener serving the
 * dashboard carries: Content-Security-Policy, X-Content-Type-Options, Referrer-Policy,
 * X-Frame-Options, Cross-Origin-Opener-Policy. Static string. Thread: any. */
const char *bg_dash_security_headers(void);

/* ---- authentication state of one listener ---- */

#define BG_DASH_TOKEN_HEX 64              /* login tokens, session ids, CSRF tokens */
#define BG_DASH_MAX_SESSIONS 64           /* the least recently used goes first */
#define BG_DASH_MAX_LOGIN_TOKENS 16       /* unredeemed one-time tokens kept */
#define BG_DASH_SESSION_IDLE_MS (12u * 3600u * 1000u)
#define BG_DASH_LOGIN_TOKEN_TTL_MS (5u * 60u * 1000u)

typedef struct bg_dash_auth bg_dash_auth_t;

/* Creates an empty store. Caller owns it (bg_dash_auth_free). Thread: any; afterwards the
 * store is used from one thread (the loop of its listener). */
bg_dash_auth_t *bg_dash_auth_new(void);
void bg_dash_auth_free(bg_dash_auth_t *a);

/* Makes a one-time login token valid for <ttl_ms> (0: BG_DASH_LOGIN_TOKEN_TTL_MS) and
 * writes it (BG_DASH_TOKEN_HEX hex digits + NUL) to <out> of <size> bytes. Returns 0 or a
 * negative code (no randomness, <size> too small). <now_ms> is monotonic; *<expires_ms>
 * (may be NULL) gets the monotonic expiry. */
int bg_dash_auth_mint(bg_dash_auth_t *a, uint64_t now_ms, uint64_t ttl_ms, char *out, size_t size,
                      uint64_t *expires_ms);

/* True once for a one-time token minted here and not yet expired; it is forgotten. */
bool bg_dash_auth_redeem(bg_dash_auth_t *a, uint64_t now_ms, const char *token);

/* Opens a session: its id and CSRF token (BG_DASH_TOKEN_HEX + NUL each) into <sid> and
 * <csrf> (each at least BG_DASH_TOKEN_HEX + 1 bytes). Drops the least recently used
 * session past BG_DASH_MAX_SESSIONS. Returns 0 or a negative code. */
int bg_dash_auth_open(bg_dash_auth_t *a, uint64_t now_ms, char *sid, char *csrf);

/* The session <sid> if it exists and is not idle past BG_DASH_SESSION_IDLE_MS: true, its
 * CSRF token copied to <csrf> (may be NULL; BG_DASH_TOKEN_HEX + 1 bytes) and its idle
 * clock restarted. Compared in constant time. */
bool bg_dash_auth_check(bg_dash_auth_t *a, uint64_t now_ms, const char *sid, char *csrf);

/* Forgets session <sid> (no-op if unknown). */
void bg_dash_auth_close(bg_dash_auth_t *a, const char *sid);

/* Number of live sessions (tests). */
size_t bg_dash_auth_sessions(const bg_dash_auth_t *a);

/* ---- small helpers (Thread: any) ---- */

/* BG_DASH_TOKEN_HEX random hex digits (getrandom) + NUL into <out> of <size> bytes.
 * Returns 0 or a negative code. */
int bg_dash_random_token(char *out, size_t size);

/* True if <a> and <b> are equal, in time independent of where they differ (the length of
 * <b> only is walked). */
bool bg_dash_secret_eq(const char *a, const char *b);

/* Value of cookie <name> in a Cookie header <header> (RFC 6265 §5.4: "a=1; b=2") into
 * <out>; false if absent or longer than <size> - 1. */
bool bg_dash_cookie(const char *header, const char *name, char *out, size_t size);

/* Value of <key> in an application/x-www-form-urlencoded string or URL query <query>,
 * percent- and '+'-decoded into <out>; false if absent, malformed or too long. */
bool bg_dash_form_value(const char *query, size_t len, const char *key, char *out, size_t size);

#endif
