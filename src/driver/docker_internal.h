/* Private to the docker driver (docker.c, docker_pull.c, docker_auth.c, docker_api.c). */
#ifndef BG_DRIVER_DOCKER_INTERNAL_H
#define BG_DRIVER_DOCKER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "driver/docker_api.h"
#include "driver/driver.h"

/* The X-Registry-Auth header line for <registry> ("" = Docker Hub) from the docker CLI's
 * config.json, or NULL when it holds no login for it (caller frees). <who> gets a short
 * description for messages ("user ci"). */
char *dk_registry_auth(const char *registry, char *who, size_t who_size);
/* Whether config.json names a credential helper for <registry> (`credHelpers` entry, else
 * `credsStore`): true with its name ("ecr-login" for docker-credential-ecr-login) in
 * <helper> and the server address to ask it about in <server>. */
bool dk_registry_helper(const char *registry, char *helper, size_t helper_size, char *server,
                        size_t server_size);
/* The X-Registry-Auth header line from a helper's `get` answer <out>
 * ({"ServerURL","Username","Secret"}; Username "<token>" = an identity token) for <server>,
 * or NULL when <out> is not such an answer (caller frees). <who> as for dk_registry_auth. */
char *dk_helper_auth(const char *out, size_t len, const char *server, char *who, size_t who_size);

/* docker_cred.c: runs `docker-credential-<helper> get` with <server> on stdin (the docker
 * credential-helper protocol) on <loop>, bounded by <timeout_ms>. <cb>(arg, status, header,
 * who, msg) comes once, never from inside dk_cred_start(): 0 and the X-Registry-Auth line
 * (NULL: the helper has no login for it: the pull goes anonymous, as the docker CLI does),
 * or a negative code and <msg> (the helper's own words, or why it could not run). All
 * borrowed for the call. Thread: control. */
typedef struct dk_cred dk_cred_t;
typedef void (*dk_cred_cb)(void *arg, int status, const char *header, const char *who,
                           const char *msg);
dk_cred_t *dk_cred_start(uv_loop_t *loop, const char *helper, const char *server,
                         uint64_t timeout_ms, dk_cred_cb cb, void *arg);
/* No callback after this; the helper is killed if it still runs. NULL is a no-op. */
void dk_cred_cancel(dk_cred_t *c);

/* The driver's client, shared by the files of the driver. */
typedef struct dk_driver dk_driver_t;
dk_client_t *dk_driver_client(dk_driver_t *drv);
const char *dk_driver_engine(const dk_driver_t *drv); /* "unix:///var/run/docker.sock" */
uv_loop_t *dk_driver_loop(dk_driver_t *drv);

/* docker_pull.c: PRE_SCALE_UP for docker revisions (bg_driver_vtable_t.resolve and
 * cancel_resolve), and the cancelling of every pull at close. */
typedef struct dk_pull dk_pull_t;
void dk_pull_start(dk_driver_t *drv, bg_list_t *pulls, const char *service,
                   const bg_revision_config_t *rev, bg_driver_progress_cb progress,
                   bg_driver_resolve_cb cb, void *arg);
void dk_pull_cancel(bg_list_t *pulls, void *arg);
/* Answers every pending pull with BG_EUNAVAIL (close). */
void dk_pull_abandon_all(bg_list_t *pulls);

#endif
