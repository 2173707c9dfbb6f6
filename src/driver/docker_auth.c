/* Registry credentials for the docker driver, read as the docker CLI reads them:
 * $DOCKER_CONFIG/config.json (default ~/.docker/config.json), `auths` keyed by registry
 * host (with or without https:// and a path; Docker Hub is https://index.docker.io/v1/),
 * each with `auth` = base64("user:password") or an `identitytoken`. The engine takes them
 * per request as X-Registry-Auth: base64url of {"username","password","serveraddress"}.
 * A credential helper named by `credHelpers` (per registry) or `credsStore` (for all) takes
 * precedence over `auths`, as in the docker CLI: dk_registry_helper() names it, docker_cred.c
 * runs it, dk_helper_auth() turns its answer into the same header.
 */
#include "driver/docker_internal.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/base.h"
#include "base/compat.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const unsigned char *in, size_t n, bool url)
{
    char *out = bg_xmalloc((n + 2) / 3 * 4 + 1), *o = out;

    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        *o++ = b64[(v >> 18) & 63];
        *o++ = b64[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *o = '\0';
    for (o = out; url && *o; o++) {
        if (*o == '+')
            *o = '-';
        else if (*o == '/')
            *o = '_';
    }
    return out;
}

/* Decodes standard base64 (padding optional); NULL when malformed. */
static char *unbase64(const char *in)
{
    size_t n = strlen(in);
    char *out = bg_xmalloc(n / 4 * 3 + 4);
    size_t o = 0;
    unsigned v = 0, bits = 0;

    for (size_t i = 0; i < n && in[i] != '='; i++) {
        const char *p = strchr(b64, in[i]);
        if (p == NULL || in[i] == '\0') {
            free(out);
            return NULL;
        }
        v = (v << 6) | (unsigned)(p - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((v >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return out;
}

static char *config_path(void)
{
    const char *dir = getenv("DOCKER_CONFIG");
    const char *home = getenv("HOME");

    if (dir != NULL && dir[0] != '\0')
        return bg_asprintf("%s/config.json", dir);
    if (home != NULL && home[0] != '\0')
        return bg_asprintf("%s/.docker/config.json", home);
    return NULL;
}

/* "https://127.0.0.1:5000/v2/" -> "127.0.0.1:5000" */
static bool key_matches(const char *key, const char *registry)
{
    size_t n;

    if (strncmp(key, "https://", 8) == 0)
        key += 8;
    else if (strncmp(key, "http://", 7) == 0)
        key += 7;
    n = strcspn(key, "/");
    return strlen(registry) == n && strncmp(key, registry, n) == 0;
}

/* "X-Registry-Auth: <base64url of body>"; takes <body>. */
static char *auth_header(json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT), *enc, *hdr;

    json_decref(body);
    enc = base64((const unsigned char *)text, strlen(text), true);
    hdr = bg_asprintf("X-Registry-Auth: %s", enc);
    free(enc);
    free(text);
    return hdr;
}

/* The server address a helper and the engine know a registry by: the host ("" is Docker
 * Hub, whose address is its v1 URL, as `docker login` stores it). */
static const char *server_of(const char *registry)
{
    return registry[0] ? registry : "https://index.docker.io/v1/";
}

bool dk_registry_helper(const char *registry, char *helper, size_t helper_size, char *server,
                        size_t server_size)
{
    const char *host = registry[0] ? registry : "index.docker.io";
    char *path = config_path();
    json_t *cfg = path != NULL ? json_load_file(path, 0, NULL) : NULL, *v;
    const char *key, *name = NULL;
    bool found;

    json_object_foreach(json_object_get(cfg, "credHelpers"), key, v)
    {
        if (key_matches(key, host) && json_string_value(v) != NULL) {
            name = json_string_value(v);
            break;
        }
    }
    if (name == NULL)
        name = json_string_value(json_object_get(cfg, "credsStore"));
    found = name != NULL && name[0] != '\0';
    if (found) {
        snprintf(helper, helper_size, "%s", name);
        snprintf(server, server_size, "%s", server_of(registry));
    }
    json_decref(cfg);
    free(path);
    return found;
}

char *dk_helper_auth(const char *out, size_t len, const char *server, char *who, size_t who_size)
{
    json_t *j = json_loadb(out, len, 0, NULL), *body;
    const char *user = json_string_value(json_object_get(j, "Username"));
    const char *secret = json_string_value(json_object_get(j, "Secret"));
    char *hdr = NULL;

    if (user == NULL || secret == NULL)
        goto out;
    /* The protocol's way of saying "an identity token, no user" (docker-credential-helpers). */
    if (strcmp(user, "<token>") == 0) {
        body = json_pack("{s:s,s:s}", "identitytoken", secret, "serveraddress", server);
        snprintf(who, who_size, "identity token");
    } else {
        body = json_pack("{s:s,s:s,s:s}", "username", user, "password", secret, "serveraddress",
                         server);
        snprintf(who, who_size, "user %s", user);
    }
    hdr = auth_header(body);
out:
    json_decref(j);
    return hdr;
}

char *dk_registry_auth(const char *registry, char *who, size_t who_size)
{
    const char *host = registry[0] ? registry : "index.docker.io";
    char *path = config_path(), *plain = NULL, *colon, *hdr = NULL;
    json_t *cfg = path != NULL ? json_load_file(path, 0, NULL) : NULL;
    json_t *auths = json_object_get(cfg, "auths"), *entry = NULL, *v, *body;
    const char *key;

    if (who_size > 0)
        who[0] = '\0';
    json_object_foreach(auths, key, v)
    {
        if (key_matches(key, host)) {
            entry = v;
            break;
        }
    }
    if (entry == NULL)
        goto out;
    if (json_string_value(json_object_get(entry, "identitytoken")) != NULL) {
        body = json_pack("{s:s,s:s}", "identitytoken",
                         json_string_value(json_object_get(entry, "identitytoken")),
                         "serveraddress", host);
        snprintf(who, who_size, "identity token");
    } else {
        const char *a = json_string_value(json_object_get(entry, "auth"));
        plain = a != NULL ? unbase64(a) : NULL;
        colon = plain != NULL ? strchr(plain, ':') : NULL;
        if (colon == NULL)
            goto out;
        *colon = '\0';
        body = json_pack("{s:s,s:s,s:s}", "username", plain, "password", colon + 1,
                         "serveraddress", host);
        snprintf(who, who_size, "user %s", plain);
    }
    hdr = auth_header(body);
out:
    free(plain);
    json_decref(cfg);
    free(path);
    return hdr;
}
