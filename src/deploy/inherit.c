/* Which API declarations a requested revision carries (docs/design.md §6, issue 9 item 6).
 *
 * A revision given on the command line (`deploy --cmd/--image`, a request without a
 * revision file) says nothing about its API unless told: judged as declaring nothing, an
 * incompatible version passed the gate. So such a revision inherits the live revision's
 * `api.provides` and `api.requires`, each kind separately unless the request's `api` gives
 * it (the CLI's --provides/--requires). When inherited provides carry the service's own
 * API at exactly the live revision's version (`orders` provides `orders: 2.3.0` at 2.3.0),
 * that version follows the new revision's (`--version 3.0.0` provides `orders: 3.0.0`):
 * the service versions its own API with its releases. Any other provided version is kept.
 * A revision file declares its API itself (docs/design.md §10): nothing is inherited from it.
 */
#include "deploy/internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

/* The own-API rule above; true when a version was replaced. */
static bool follow_version(bg_api_config_t *api, const char *service, const char *live_version,
                           const char *version)
{
    for (size_t i = 0; i < api->n_provides; i++) {
        bg_api_provide_t *p = &api->provides[i];

        if (strcmp(p->api, service) != 0 || p->n_versions != 1 || live_version == NULL ||
            strcmp(p->versions[0], live_version) != 0 || strcmp(version, live_version) == 0)
            continue;
        free(p->versions[0]);
        p->versions[0] = bg_strdup(version);
        return true;
    }
    return false;
}

static void take_provides(bg_api_config_t *dst, bg_api_config_t *src)
{
    bg_api_config_t old = {.provides = dst->provides, .n_provides = dst->n_provides};

    bg_api_config_fini(&old);
    dst->provides = src->provides;
    dst->n_provides = src->n_provides;
    src->provides = NULL;
    src->n_provides = 0;
}

static void take_requires(bg_api_config_t *dst, bg_api_config_t *src)
{
    bg_api_config_t old = {.requires = dst->requires, .n_requires = dst->n_requires};

    bg_api_config_fini(&old);
    dst->requires = src->requires;
    dst->n_requires = src->n_requires;
    src->requires = NULL;
    src->n_requires = 0;
}

json_t *dp_request_api(const json_t *body, const dp_service_t *svc, bg_revision_config_t *rev)
{
    const json_t *file = json_object_get(body, "revision_file");
    const json_t *api = json_object_get(body, "api");
    bool own_prov = json_object_get(api, "provides") != NULL;
    bool own_req = json_object_get(api, "requires") != NULL;
    const dp_slot_t *live = &svc->slot[svc->live];
    const bg_revision_config_t *from = live->revno > 0 ? &live->rev : &svc->cfg->rev;
    const char *from_version = from->version != NULL ? from->version : "0.0.0";
    bg_api_config_t inherited;
    bool follows = false;

    if (json_is_object(file)) {
        const char *name = json_string_value(json_object_get(file, "name"));
        return json_pack("{s:s,s:s,s:s}", "provides", "file", "requires", "file", "file",
                         name != NULL ? name : "revision.yaml");
    }
    if (own_prov && own_req)
        return json_pack("{s:s,s:s}", "provides", "request", "requires", "request");
    bg_api_config_copy(&inherited, &from->api);
    if (!own_prov) {
        follows = follow_version(&inherited, svc->cfg->name, from_version,
                                 rev->version != NULL ? rev->version : "0.0.0");
        take_provides(&rev->api, &inherited);
    }
    if (!own_req)
        take_requires(&rev->api, &inherited);
    bg_api_config_fini(&inherited);
    return json_pack("{s:s,s:s,s:s,s:I,s:s,s:b}", "provides", own_prov ? "request" : "inherited",
                     "requires", own_req ? "request" : "inherited", "service", svc->cfg->name,
                     "revision", (json_int_t)live->revno, "version", from_version,
                     "follows_version", follows);
}
