/* Private to the docker driver (docker.c, docker_pull.c, docker_auth.c, docker_api.c). */
#ifndef BG_DRIVER_DOCKER_INTERNAL_H
#define BG_DRIVER_DOCKER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "driver/docker_api.h"
#include "driver/driver.h"

/* The X-Registry-Auth header line for <registry> ("" = Docker Hub) from the docker CLI's
 * config.json, or NULL when it holds no login for it (caller frees). <who> gets a short
 * description for messages ("user ci"). */
char *dk_registry_auth(const char *registry, char *who, size_t who_size);

/* The driver's client, shared by the files of the driver. */
typedef struct dk_driver dk_driver_t;
dk_client_t *dk_driver_client(dk_driver_t *drv);
const char *dk_driver_engine(const dk_driver_t *drv); /* "unix:///var/run/docker.sock" */

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
