/* The static driver (docs/design.md §8 `static`): targets that something else runs. It starts,
 * stops and adopts nothing (no BG_DRIVER_CAP_STARTS): a static service's targets are listed
 * per slot in the config or registered through the admin API, as one registers targets in
 * an ALB target group, and traffic between the slots moves by hand (`bluegreen traffic`).
 * The controller learns all of that from the capability flags, never from the kind.
 */
#include "driver/driver.h"

#include <stdlib.h>

#include "base/base.h"
#include "base/compat.h"

static int st_validate(const bg_driver_t *d, const char *service, const bg_revision_config_t *rev,
                       bg_err_t *err)
{
    (void)d;
    (void)rev;
    return bg_err_set(err, BG_EINVAL,
                      "service %s uses the static driver, which runs nothing: register its "
                      "targets through the admin API and move traffic with `bluegreen traffic`",
                      service);
}

static int st_start(bg_driver_t *d, const bg_instance_spec_t *spec, bg_instance_cb cb, void *arg,
                    bg_instance_t **out, bg_err_t *err)
{
    (void)d;
    (void)cb;
    (void)arg;
    (void)out;
    return st_validate(d, spec->service, spec->rev, err);
}

static void st_stop(bg_driver_t *d, bg_instance_t *inst, bg_instance_cb cb, void *arg)
{
    (void)d;
    if (cb != NULL)
        cb(arg, inst, 0);
}

static int st_adopt(bg_driver_t *d, const bg_instance_spec_t *spec, const char *address,
                    const char *handle, bg_instance_t **out, bg_err_t *err)
{
    (void)d;
    (void)address;
    (void)out;
    return bg_err_set(err, BG_ENOTFOUND, "service %s: the static driver adopts nothing (%s)",
                      spec->service, handle);
}

static int st_logs(bg_driver_t *d, bg_instance_t *inst, size_t max_bytes, bg_buf_t *out)
{
    (void)d;
    (void)inst;
    (void)max_bytes;
    (void)out;
    return 0;
}

static void st_free_instance(bg_driver_t *d, bg_instance_t *inst)
{
    (void)d;
    (void)inst; /* it never makes one */
}

static void st_close(bg_driver_t *d, void (*cb)(void *arg), void *arg)
{
    free(d);
    if (cb != NULL)
        cb(arg);
}

static const bg_driver_vtable_t static_vtable = {
    .name = "static",
    .caps = 0,
    .validate = st_validate,
    .start = st_start,
    .stop = st_stop,
    .adopt = st_adopt,
    .logs = st_logs,
    .free_instance = st_free_instance,
    .close = st_close,
};

bg_driver_t *bg_static_driver_new(uv_loop_t *loop, bg_err_t *err)
{
    bg_driver_t *d = BG_NEW(bg_driver_t);

    (void)err;
    d->vt = &static_vtable;
    d->loop = loop;
    return d;
}
