/* The embedded pages: lookup in the table cmake/embed_assets.cmake generated, content
 * types by extension, and the security headers (docs/internals/dashboard.md "Headers").
 * The CSP allows scripts, styles, fetches and images from the listener itself only: no
 * inline script or style, no eval, no framing — an event message or a target's answer that
 * holds markup can never run as code even if a page forgot to escape it.
 */
#include "dashboard/dashboard.h"

#include <string.h>
#include <strings.h>

#include "dashboard/internal.h"
#include "base/compat.h"

const bg_dash_asset_t *bg_dash_asset_find(const char *path)
{
    /* A few dozen files: a scan is as fast as anything and needs no sorted-order promise. */
    for (size_t i = 0; i < bg_dash_n_assets; i++) {
        if (strcmp(bg_dash_assets[i].path, path) == 0)
            return &bg_dash_assets[i];
    }
    return NULL;
}

size_t bg_dash_asset_count(void)
{
    return bg_dash_n_assets;
}

const bg_dash_asset_t *bg_dash_asset_at(size_t i)
{
    return i < bg_dash_n_assets ? &bg_dash_assets[i] : NULL;
}

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
    {".md", "text/plain; charset=utf-8"},
};

const char *bg_dash_content_type(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    const char *dot = strrchr(base, '.');

    if (strncmp(base, "LICENSE", 7) == 0 || strncmp(base, "LICENCE", 7) == 0)
        return "text/plain; charset=utf-8";
    for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcasecmp(dot, types[i].ext) == 0)
            return types[i].type;
    }
    return "application/octet-stream";
}

const char *bg_dash_security_headers(void)
{
    return "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; "
           "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
           "base-uri 'none'; form-action 'self'; frame-ancestors 'none'\r\n"
           "X-Content-Type-Options: nosniff\r\n"
           "Referrer-Policy: no-referrer\r\n"
           "X-Frame-Options: DENY\r\n"
           "Cross-Origin-Opener-Policy: same-origin\r\n";
}
