/* Syntactic checks of config values (semver, host:port, service names), the shell-like
 * command splitter for `run.command: "app --flag 'a b'"`, and string-vector helpers.
 * These look at text only: no DNS, no filesystem, no environment.
 */
#include "config/internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "compat/semver.h"
#include "base/compat.h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Strict SemVer 2.0.0, by the same parser the compatibility gate uses. */
bool cfg_semver_ok(const char *s)
{
    bg_semver_t v;

    if (bg_semver_parse(s, &v, NULL) != 0)
        return false;
    bg_semver_fini(&v);
    return true;
}

static bool port_ok(const char *s, bool zero_ok)
{
    uint64_t v;
    size_t n = strlen(s);

    if (n == 0 || n > 5 || !bg_str_to_u64(bg_str(s), 65535, &v))
        return false;
    return v > 0 || zero_ok;
}

static bool hostname_ok(const char *h, size_t len)
{
    bool dotted_digits = true;
    char v4[16];

    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = h[i];
        if (!(is_alnum(c) || c == '.' || c == '-' || c == '_'))
            return false;
        dotted_digits = dotted_digits && (is_digit(c) || c == '.');
    }
    if (!dotted_digits)
        return true;
    /* all digits and dots: must be a real IPv4 address (999.1.1.1 is not a name) */
    if (len >= sizeof(v4))
        return false;
    memcpy(v4, h, len);
    v4[len] = '\0';
    unsigned char buf[4];
    return inet_pton(AF_INET, v4, buf) == 1;
}

bool cfg_addr_ok(const char *s, bool port_zero_ok)
{
    const char *colon;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        char v6[64];
        unsigned char buf[16];
        size_t n;

        if (close == NULL || close[1] != ':')
            return false;
        n = (size_t)(close - s - 1);
        if (n == 0 || n >= sizeof(v6))
            return false;
        memcpy(v6, s + 1, n);
        v6[n] = '\0';
        return inet_pton(AF_INET6, v6, buf) == 1 && port_ok(close + 2, port_zero_ok);
    }
    colon = strrchr(s, ':');
    if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
        return false;
    return hostname_ok(s, (size_t)(colon - s)) && port_ok(colon + 1, port_zero_ok);
}

bool cfg_service_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 63)
        return false;
    if (!(is_digit(s[0]) || (s[0] >= 'a' && s[0] <= 'z')))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(is_digit(s[i]) || (s[i] >= 'a' && s[i] <= 'z') || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

typedef struct argv_acc {
    char **v;
    size_t n;
} argv_acc_t;

static void argv_push(argv_acc_t *a, bg_buf_t *word)
{
    a->v = bg_xrealloc(a->v, (a->n + 2) * sizeof(char *));
    a->v[a->n++] = word->data != NULL ? bg_buf_steal(word) : bg_strdup("");
    a->v[a->n] = NULL;
}

/* Inside "...": POSIX keeps a backslash except before $ ` " \ and newline. */
static const char *split_dquote(const char *p, bg_buf_t *w)
{
    for (; *p != '\0' && *p != '"'; p++) {
        if (p[0] == '\\' && p[1] != '\0' && strchr("$`\"\\\n", p[1]) != NULL)
            p++;
        bg_buf_append(w, p, 1);
    }
    return *p == '"' ? p + 1 : NULL;
}

char **cfg_split_command(const char *s, const char **why)
{
    argv_acc_t a = {NULL, 0};
    bg_buf_t w;
    const char *p = s;
    bool in_word = false;

    bg_buf_init(&w);
    while (*p != '\0') {
        if (is_space(*p)) {
            if (in_word)
                argv_push(&a, &w);
            in_word = false;
            p++;
            continue;
        }
        in_word = true;
        if (*p == '\'') {
            const char *end = strchr(p + 1, '\'');
            if (end == NULL) {
                *why = "unterminated single quote";
                goto fail;
            }
            bg_buf_append(&w, p + 1, (size_t)(end - p - 1));
            p = end + 1;
        } else if (*p == '"') {
            p = split_dquote(p + 1, &w);
            if (p == NULL) {
                *why = "unterminated double quote";
                goto fail;
            }
        } else if (*p == '\\') {
            if (p[1] == '\0') {
                *why = "trailing backslash";
                goto fail;
            }
            bg_buf_append(&w, p + 1, 1);
            p += 2;
        } else {
            bg_buf_append(&w, p++, 1);
        }
    }
    if (in_word)
        argv_push(&a, &w);
    if (a.n == 0) {
        *why = "empty command";
        goto fail;
    }
    bg_buf_fini(&w);
    return a.v;
fail:
    bg_buf_fini(&w);
    cfg_strv_free(a.v, a.n);
    return NULL;
}

char **bg_config_split_command(const char *s, bg_err_t *err)
{
    const char *why = NULL;
    char **argv;

    bg_err_clear(err);
    argv = cfg_split_command(s, &why);
    if (argv == NULL)
        bg_err_set(err, BG_EINVAL, "cannot split command \"%.64s\": %s", s, why);
    return argv;
}

void bg_config_argv_free(char **argv)
{
    cfg_strv_free(argv, SIZE_MAX);
}

void cfg_strv_free(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n && (n != SIZE_MAX || v[i] != NULL); i++)
        free(v[i]);
    free(v);
}

char **cfg_strv_dup(char *const *v, size_t n)
{
    char **out;

    if (v == NULL)
        return NULL;
    if (n == SIZE_MAX)
        for (n = 0; v[n] != NULL; n++)
            ;
    out = bg_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        out[i] = bg_strdup(v[i]);
    return out;
}

void cfg_kv_free(bg_kv_t *kv, size_t n)
{
    if (kv == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

bg_kv_t *cfg_kv_dup(const bg_kv_t *kv, size_t n)
{
    bg_kv_t *out;

    if (kv == NULL || n == 0)
        return NULL;
    out = bg_xcalloc(n, sizeof(bg_kv_t));
    for (size_t i = 0; i < n; i++) {
        out[i].key = bg_strdup(kv[i].key);
        out[i].value = bg_strdup(kv[i].value);
    }
    return out;
}
