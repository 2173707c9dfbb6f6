/* PRE_SCALE_UP of a docker revision: the image is pulled through the engine (POST
 * /images/create, with the registry login from config.json as X-Registry-Auth) and its tag
 * pinned to the digest the engine reports ("Digest: sha256:..." in the pull stream), so
 * that every container of the revision, a rollback and a re-adopted slot run exactly that
 * image even after the tag moves. The stream's per-layer lines become progress (layers and
 * bytes) for `deploy --wait`. Failures carry the engine's or registry's own words. When
 * config.json names a credential helper for the registry, it is asked first (docker_cred.c)
 * and the pull waits for its answer.
 */
#include "driver/docker_internal.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/base.h"
#include "base/compat.h"

#define PROGRESS_EVERY_MS 100
#define MAX_LAYERS 128
#define PULL_TIMEOUT_MS (10L * 60 * 1000)
#define HELPER_TIMEOUT_MS 30000

typedef struct layer {
    char id[32];
    uint64_t current, total;
    bool done;
} layer_t;

struct dk_pull {
    bg_list_t link;
    dk_driver_t *drv;
    dk_req_t *req;
    dk_cred_t *cred; /* the credential helper asked before the pull */
    char *path;      /* the pull's request path, kept while the helper answers */
    bg_image_ref_t ref;
    char image[512]; /* as asked */
    char who[96];    /* whose login was sent, for messages */
    bg_driver_progress_cb progress;
    bg_driver_resolve_cb cb;
    void *arg;
    bg_buf_t line; /* partial JSON line of the stream */
    layer_t layers[MAX_LAYERS];
    size_t n_layers;
    char digest[72];
    char error[512];
    char status[128];
    uint64_t last_progress_ms;
};

static layer_t *layer_of(dk_pull_t *p, const char *id)
{
    for (size_t i = 0; i < p->n_layers; i++)
        if (strcmp(p->layers[i].id, id) == 0)
            return &p->layers[i];
    if (p->n_layers == MAX_LAYERS)
        return NULL;
    layer_t *l = &p->layers[p->n_layers++];
    memset(l, 0, sizeof(*l));
    snprintf(l->id, sizeof(l->id), "%s", id);
    return l;
}

static void report(dk_pull_t *p, bool force)
{
    bg_driver_progress_t pr = {.status = p->status[0] ? p->status : NULL};
    uint64_t now = bg_now_ms();

    if (p->progress == NULL || (!force && now - p->last_progress_ms < PROGRESS_EVERY_MS))
        return;
    p->last_progress_ms = now;
    for (size_t i = 0; i < p->n_layers; i++) {
        const layer_t *l = &p->layers[i];
        pr.layers_total++;
        pr.layers_done += l->done;
        pr.bytes_total += l->total;
        pr.bytes_done += l->done ? l->total : l->current;
    }
    p->progress(p->arg, &pr);
}

/* One JSON line of the pull stream. */
static void on_line(dk_pull_t *p, const char *s, size_t n)
{
    json_t *j = json_loadb(s, n, 0, NULL);
    const char *status = json_string_value(json_object_get(j, "status"));
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *error = json_string_value(json_object_get(j, "error"));
    const char *message = json_string_value(json_object_get(j, "message"));
    json_t *detail = json_object_get(j, "progressDetail");
    layer_t *l;

    if (error != NULL || (message != NULL && status == NULL))
        snprintf(p->error, sizeof(p->error), "%s", error != NULL ? error : message);
    if (status == NULL)
        goto out;
    if (strncmp(status, "Digest: ", 8) == 0)
        snprintf(p->digest, sizeof(p->digest), "%.71s", status + 8);
    snprintf(p->status, sizeof(p->status), "%s", status);
    /* Layer lines have a short hex id; "Pulling from ..." has the tag as its id. */
    if (id == NULL || strlen(id) != 12 || (l = layer_of(p, id)) == NULL)
        goto out;
    if (strcmp(status, "Pull complete") == 0 || strcmp(status, "Already exists") == 0 ||
        strcmp(status, "Download complete") == 0) {
        l->done = strcmp(status, "Download complete") != 0 || l->done;
        if (l->total > 0)
            l->current = l->total;
    } else if (strcmp(status, "Downloading") == 0) {
        l->current = (uint64_t)json_integer_value(json_object_get(detail, "current"));
        l->total = (uint64_t)json_integer_value(json_object_get(detail, "total"));
    }
    report(p, false);
out:
    json_decref(j);
}

static void on_data(dk_req_t *r, const char *data, size_t n, void *arg)
{
    dk_pull_t *p = arg;
    size_t start = 0;

    (void)r;
    bg_buf_append(&p->line, data, n);
    for (size_t i = 0; i < p->line.len; i++) {
        if (p->line.data[i] != '\n')
            continue;
        on_line(p, p->line.data + start, i - start);
        start = i + 1;
    }
    bg_buf_consume(&p->line, start);
}

static void pull_free(dk_pull_t *p)
{
    dk_cred_cancel(p->cred);
    free(p->path);
    bg_list_remove(&p->link);
    bg_buf_fini(&p->line);
    free(p);
}

static void on_done(dk_req_t *r, const dk_result_t *res, void *arg)
{
    dk_pull_t *p = arg;
    char msg[1400], pinned[600], why[512];
    bg_driver_resolve_cb cb = p->cb;
    void *cb_arg = p->arg;

    (void)r;
    p->req = NULL;
    if (p->line.len > 0)
        on_line(p, p->line.data, p->line.len);
    if (res->transport_error != NULL || res->http_status != 200 || p->error[0]) {
        const char *engine = p->error[0] ? p->error : dk_message(res, why, sizeof(why));
        snprintf(msg, sizeof(msg), "pulling %s%s%s%s: %s", p->image, p->who[0] ? " (login: " : "",
                 p->who, p->who[0] ? ")" : "", engine);
        bg_log(BG_LOG_WARN, "driver", "docker pull failed image=%s msg=\"%s\"", p->image, engine);
        pull_free(p);
        cb(cb_arg, res->transport_error != NULL ? BG_EUNAVAIL : BG_ENOTFOUND, NULL, msg);
        return;
    }
    report(p, true);
    if (p->ref.digest[0] == '\0' && p->digest[0] == '\0') {
        snprintf(msg, sizeof(msg), "pulling %s: the engine reported no digest to pin it to",
                 p->image);
        pull_free(p);
        cb(cb_arg, BG_EPROTO, NULL, msg);
        return;
    }
    if (p->ref.digest[0] == '\0')
        snprintf(p->ref.digest, sizeof(p->ref.digest), "%.71s", p->digest);
    bg_image_ref_format(&p->ref, true, pinned, sizeof(pinned));
    bg_log(BG_LOG_INFO, "driver", "docker pulled image=%s pinned=%s", p->image, pinned);
    pull_free(p);
    cb(cb_arg, 0, pinned, NULL);
}

static void send_pull(dk_pull_t *p, const char *auth)
{
    p->req = dk_request(dk_driver_client(p->drv), "POST", p->path, NULL, auth, PULL_TIMEOUT_MS,
                        on_data, on_done, p);
}

/* The helper's answer: pull with its login (or anonymously when it has none), or fail the
 * resolve with its words. */
static void on_credentials(void *arg, int status, const char *header, const char *who,
                           const char *msg)
{
    dk_pull_t *p = arg;
    bg_driver_resolve_cb cb = p->cb;
    void *cb_arg = p->arg;
    char text[1000];

    p->cred = NULL; /* it frees itself */
    if (status != 0) {
        snprintf(text, sizeof(text), "pulling %s: %s", p->image, msg);
        bg_log(BG_LOG_WARN, "driver", "docker credential helper failed image=%s msg=\"%s\"",
               p->image, msg);
        pull_free(p);
        cb(cb_arg, status, NULL, text);
        return;
    }
    snprintf(p->who, sizeof(p->who), "%s", who != NULL ? who : "");
    send_pull(p, header);
}

/* The callback of resolve() never comes from inside it: a failure known at once (no
 * engine client) still goes through the loop as a failed request would. */
void dk_pull_start(dk_driver_t *drv, bg_list_t *pulls, const char *service,
                   const bg_revision_config_t *rev, bg_driver_progress_cb progress,
                   bg_driver_resolve_cb cb, void *arg)
{
    dk_pull_t *p = BG_NEW(dk_pull_t);
    char name[600], helper[128], server[512], *from, *tag, *auth;
    const char *why = NULL;
    bool ok;

    (void)service;
    p->drv = drv;
    p->progress = progress;
    p->cb = cb;
    p->arg = arg;
    bg_buf_init(&p->line);
    snprintf(p->image, sizeof(p->image), "%s", rev->image ? rev->image : "");
    bg_list_insert_tail(pulls, &p->link);
    /* validate() ran before: the reference is well formed. */
    ok = bg_image_ref_parse(p->image, &p->ref, &why);
    BG_ASSERT(ok);
    snprintf(name, sizeof(name), "%s%s%s", p->ref.registry, p->ref.registry[0] ? "/" : "",
             p->ref.name);
    from = dk_urlencode(name);
    /* By digest when pinned already (a rollback, a re-deploy of a stored revision). */
    tag = dk_urlencode(p->ref.digest[0] ? p->ref.digest : p->ref.tag[0] ? p->ref.tag : "latest");
    p->path = bg_asprintf("/images/create?fromImage=%s&tag=%s", from, tag);
    free(tag);
    free(from);
    /* A credential helper named for the registry wins over `auths`, as in the docker CLI. */
    if (dk_registry_helper(p->ref.registry, helper, sizeof(helper), server, sizeof(server))) {
        p->cred = dk_cred_start(dk_driver_loop(drv), helper, server, HELPER_TIMEOUT_MS,
                                on_credentials, p);
        return;
    }
    auth = dk_registry_auth(p->ref.registry, p->who, sizeof(p->who));
    send_pull(p, auth);
    free(auth);
}

void dk_pull_cancel(bg_list_t *pulls, void *arg)
{
    bg_list_t *pos, *tmp;

    bg_list_foreach_safe(pos, tmp, pulls)
    {
        dk_pull_t *p = BG_CONTAINER_OF(pos, dk_pull_t, link);
        if (p->arg != arg)
            continue;
        dk_cancel(p->req);
        pull_free(p);
    }
}

void dk_pull_abandon_all(bg_list_t *pulls)
{
    bg_list_t *pos, *tmp;

    bg_list_foreach_safe(pos, tmp, pulls)
    {
        dk_pull_t *p = BG_CONTAINER_OF(pos, dk_pull_t, link);
        bg_driver_resolve_cb cb = p->cb;
        void *arg = p->arg;
        dk_cancel(p->req);
        pull_free(p);
        cb(arg, BG_EUNAVAIL, NULL, "the docker driver closed (bluegreen is stopping)");
    }
}
