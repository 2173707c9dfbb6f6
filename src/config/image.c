/* Image references as the Docker Engine and registries read them (distribution/reference):
 *   [DOMAIN[:PORT]/]PATH[/PATH...][:TAG][@sha256:HEX64]
 * checked here so that a bad `image:` in a config, a revision file or `deploy --image` is a
 * usage error naming it, before anything is stored or sent to an engine.
 */
#include "config/config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "base/compat.h"

#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)*; separator := [_.] | __ | -+ */
static bool path_component_ok(const char *s, size_t n)
{
    size_t i = 0;

    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    while (i < n) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !is_lower_alnum(s[j]))
            j++;
        size_t len = j - i;
        bool ok = (len == 1 && (s[i] == '.' || s[i] == '_' || s[i] == '-')) ||
                  (len == 2 && s[i] == '_' && s[i + 1] == '_');
        for (size_t k = i; !ok && k < j && s[k] == '-'; k++)
            ok = k == j - 1;
        if (!ok)
            return false;
        i = j;
    }
    return true;
}

/* domain := label ('.' label)* [':' port]; label := [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])? */
static bool domain_ok(const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    size_t host = colon ? (size_t)(colon - s) : n;
    size_t start = 0;

    if (host == 0)
        return false;
    for (size_t i = 0; i <= host; i++) {
        if (i < host && s[i] != '.')
            continue;
        if (i == start || !isalnum((unsigned char)s[start]) || !isalnum((unsigned char)s[i - 1]))
            return false;
        for (size_t k = start; k < i; k++)
            if (!isalnum((unsigned char)s[k]) && s[k] != '-')
                return false;
        start = i + 1;
    }
    if (colon != NULL) {
        size_t plen = n - host - 1;
        if (plen == 0 || plen > 5)
            return false;
        for (size_t k = host + 1; k < n; k++)
            if (!isdigit((unsigned char)s[k]))
                return false;
    }
    return true;
}

static bool tag_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > TAG_MAX_LEN || !(isalnum((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return false;
    return true;
}

static bool digest_ok(const char *s)
{
    if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
        return false;
    for (const char *p = s + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

static bool fail(const char **why, const char *msg)
{
    if (why != NULL)
        *why = msg;
    return false;
}

bool bg_image_ref_parse(const char *s, bg_image_ref_t *out, const char **why)
{
    char buf[NAME_MAX_LEN + TAG_MAX_LEN + 80];
    char *at, *name, *slash, *last, *colon;
    size_t first_len;

    memset(out, 0, sizeof(*out));
    if (s == NULL || s[0] == '\0')
        return fail(why, "it is empty");
    if (strlen(s) >= sizeof(buf))
        return fail(why, "it is too long");
    snprintf(buf, sizeof(buf), "%s", s);
    if ((at = strchr(buf, '@')) != NULL) {
        *at = '\0';
        if (!digest_ok(at + 1))
            return fail(why, "the digest must be sha256: and 64 lowercase hex digits");
        snprintf(out->digest, sizeof(out->digest), "%s", at + 1);
    }
    name = buf;
    /* A tag is after the last ':' that follows the last '/' (a ':' before it is a port). */
    last = strrchr(name, '/');
    colon = strrchr(last != NULL ? last : name, ':');
    if (colon != NULL) {
        *colon = '\0';
        if (!tag_ok(colon + 1))
            return fail(why, "the tag must be 1-128 of [A-Za-z0-9_.-], not starting with . or -");
        snprintf(out->tag, sizeof(out->tag), "%s", colon + 1);
    }
    if (strlen(name) == 0 || strlen(name) > NAME_MAX_LEN)
        return fail(why, "the name must be 1-255 characters");
    slash = strchr(name, '/');
    first_len = slash != NULL ? (size_t)(slash - name) : strlen(name);
    /* The first component is a registry when it looks like a host (has '.' or ':', is
     * localhost, or has upper case). */
    if (slash != NULL && (memchr(name, '.', first_len) || memchr(name, ':', first_len) ||
                          (first_len == 9 && strncmp(name, "localhost", 9) == 0) ||
                          strcspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") < first_len)) {
        if (!domain_ok(name, first_len))
            return fail(why, "the registry must be HOST or HOST:PORT");
        snprintf(out->registry, sizeof(out->registry), "%.*s", (int)first_len, name);
        name = slash + 1;
    }
    snprintf(out->name, sizeof(out->name), "%s", name);
    for (char *p = name;;) {
        char *e = strchr(p, '/');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        if (!path_component_ok(p, n))
            return fail(why, "name components must be lowercase letters and digits, "
                             "separated by '.', '_', '__' or '-'");
        if (e == NULL)
            break;
        p = e + 1;
    }
    return true;
}

void bg_image_ref_format(const bg_image_ref_t *ref, bool with_tag, char *out, size_t size)
{
    snprintf(out, size, "%s%s%s%s%s%s%s", ref->registry, ref->registry[0] ? "/" : "", ref->name,
             with_tag && ref->tag[0] ? ":" : "", with_tag ? ref->tag : "",
             ref->digest[0] ? "@" : "", ref->digest);
}
