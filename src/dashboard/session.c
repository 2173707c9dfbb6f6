/* Authentication state of one dashboard listener: one-time login tokens (minted by
 * `bluegreen dashboard` or POST /v1/dashboard/login-token, redeemed once at
 * /dashboard/login), and sessions — a random id carried by the HttpOnly cookie plus a
 * CSRF token the page must echo in X-CSRF-Token on every change. Secrets are 32 bytes from
 * getrandom(2) as hex and are compared in constant time. Small fixed tables: the number of
 * people looking at one daemon's dashboard is small, and a full table drops its least
 * recently used entry rather than growing.
 */
#include "dashboard/dashboard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/base.h"
#include "base/compat.h"

typedef struct login_token {
    char token[BG_DASH_TOKEN_HEX + 1]; /* "" = free */
    uint64_t expires_ms;
} login_token_t;

typedef struct session {
    char sid[BG_DASH_TOKEN_HEX + 1]; /* "" = free */
    char csrf[BG_DASH_TOKEN_HEX + 1];
    uint64_t used_ms; /* monotonic, last request */
} session_t;

struct bg_dash_auth {
    login_token_t logins[BG_DASH_MAX_LOGIN_TOKENS];
    session_t sessions[BG_DASH_MAX_SESSIONS];
};

bg_dash_auth_t *bg_dash_auth_new(void)
{
    return BG_NEW(bg_dash_auth_t);
}

void bg_dash_auth_free(bg_dash_auth_t *a)
{
    if (a == NULL)
        return;
    /* Secrets do not linger in freed memory. */
    explicit_bzero(a, sizeof(*a));
    free(a);
}

/* 32 random bytes as 64 lowercase hex digits + NUL into <out>. */
static int random_hex(char *out)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char raw[BG_DASH_TOKEN_HEX / 2];
    size_t got = 0;

    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[BG_DASH_TOKEN_HEX] = '\0';
    explicit_bzero(raw, sizeof(raw));
    return 0;
}

int bg_dash_random_token(char *out, size_t size)
{
    if (size < BG_DASH_TOKEN_HEX + 1)
        return BG_EINVAL;
    return random_hex(out);
}

bool bg_dash_secret_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);

    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)((i < la ? a[i] : 0) ^ b[i]);
    return diff == 0;
}

int bg_dash_auth_mint(bg_dash_auth_t *a, uint64_t now_ms, uint64_t ttl_ms, char *out, size_t size,
                      uint64_t *expires_ms)
{
    login_token_t *slot = &a->logins[0];
    int rc;

    if (size < BG_DASH_TOKEN_HEX + 1)
        return BG_EINVAL;
    /* A free or expired slot, else the one expiring first. */
    for (size_t i = 0; i < BG_DASH_MAX_LOGIN_TOKENS; i++) {
        login_token_t *t = &a->logins[i];
        if (t->token[0] == '\0' || t->expires_ms <= now_ms) {
            slot = t;
            break;
        }
        if (t->expires_ms < slot->expires_ms)
            slot = t;
    }
    if ((rc = random_hex(slot->token)) != 0) {
        slot->token[0] = '\0';
        return rc;
    }
    slot->expires_ms = now_ms + (ttl_ms ? ttl_ms : BG_DASH_LOGIN_TOKEN_TTL_MS);
    snprintf(out, size, "%s", slot->token);
    if (expires_ms != NULL)
        *expires_ms = slot->expires_ms;
    return 0;
}

bool bg_dash_auth_redeem(bg_dash_auth_t *a, uint64_t now_ms, const char *token)
{
    bool found = false;

    if (token == NULL || strlen(token) != BG_DASH_TOKEN_HEX)
        return false;
    /* Every slot is compared (no early exit): the time does not tell which one matched. */
    for (size_t i = 0; i < BG_DASH_MAX_LOGIN_TOKENS; i++) {
        login_token_t *t = &a->logins[i];
        if (t->token[0] == '\0')
            continue;
        if (bg_dash_secret_eq(t->token, token) && !found) {
            found = t->expires_ms > now_ms;
            explicit_bzero(t, sizeof(*t)); /* once, even when it had expired */
        }
    }
    return found;
}

int bg_dash_auth_open(bg_dash_auth_t *a, uint64_t now_ms, char *sid, char *csrf)
{
    session_t *slot = &a->sessions[0];
    int rc;

    for (size_t i = 0; i < BG_DASH_MAX_SESSIONS; i++) {
        session_t *s = &a->sessions[i];
        if (s->sid[0] == '\0' || now_ms - s->used_ms > BG_DASH_SESSION_IDLE_MS) {
            slot = s;
            break;
        }
        if (s->used_ms < slot->used_ms)
            slot = s;
    }
    if ((rc = random_hex(slot->sid)) != 0 || (rc = random_hex(slot->csrf)) != 0) {
        explicit_bzero(slot, sizeof(*slot));
        return rc;
    }
    slot->used_ms = now_ms;
    memcpy(sid, slot->sid, BG_DASH_TOKEN_HEX + 1);
    memcpy(csrf, slot->csrf, BG_DASH_TOKEN_HEX + 1);
    return 0;
}

static session_t *session_find(bg_dash_auth_t *a, const char *sid)
{
    session_t *found = NULL;

    if (sid == NULL || strlen(sid) != BG_DASH_TOKEN_HEX)
        return NULL;
    for (size_t i = 0; i < BG_DASH_MAX_SESSIONS; i++) {
        session_t *s = &a->sessions[i];
        if (s->sid[0] != '\0' && bg_dash_secret_eq(s->sid, sid) && found == NULL)
            found = s;
    }
    return found;
}

bool bg_dash_auth_check(bg_dash_auth_t *a, uint64_t now_ms, const char *sid, char *csrf)
{
    session_t *s = session_find(a, sid);

    if (s == NULL)
        return false;
    if (now_ms - s->used_ms > BG_DASH_SESSION_IDLE_MS) {
        explicit_bzero(s, sizeof(*s));
        return false;
    }
    s->used_ms = now_ms;
    if (csrf != NULL)
        memcpy(csrf, s->csrf, BG_DASH_TOKEN_HEX + 1);
    return true;
}

void bg_dash_auth_close(bg_dash_auth_t *a, const char *sid)
{
    session_t *s = session_find(a, sid);

    if (s != NULL)
        explicit_bzero(s, sizeof(*s));
}

size_t bg_dash_auth_sessions(const bg_dash_auth_t *a)
{
    size_t n = 0;

    for (size_t i = 0; i < BG_DASH_MAX_SESSIONS; i++)
        n += a->sessions[i].sid[0] != '\0';
    return n;
}

bool bg_dash_cookie(const char *header, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);

    for (const char *p = header; p != NULL && *p != '\0';) {
        const char *end = strchr(p, ';');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t vlen = len - nlen - 1;
            while (vlen > 0 && (p[nlen + vlen] == ' ' || p[nlen + vlen] == '\t'))
                vlen--;
            if (vlen >= size)
                return false;
            memcpy(out, p + nlen + 1, vlen);
            out[vlen] = '\0';
            return true;
        }
        p = end != NULL ? end + 1 : NULL;
    }
    return false;
}

/* Decodes <len> bytes of <in> (%XX and '+') into <out>; false if malformed or too long. */
static bool form_decode(const char *in, size_t len, char *out, size_t size)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return false;
            hi = bg_hex_digit(in[i + 1]);
            lo = bg_hex_digit(in[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == '\0' || n + 1 >= size)
            return false;
        out[n++] = c;
    }
    out[n] = '\0';
    return true;
}

bool bg_dash_form_value(const char *query, size_t len, const char *key, char *out, size_t size)
{
    size_t klen = strlen(key);
    const char *p = query, *end = query + len;

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp != NULL ? amp : end;
        if ((size_t)(pe - p) > klen && strncmp(p, key, klen) == 0 && p[klen] == '=')
            return form_decode(p + klen + 1, (size_t)(pe - p - klen - 1), out, size);
        p = pe + 1;
    }
    return false;
}
