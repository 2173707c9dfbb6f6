/* What runs that the store does not claim (issue 9): at boot, before anything starts, the
 * drivers list every instance still running from this state_dir (each carries a marker:
 * the state_dir and the id of the store it was started from).
 *   - An instance marked with another store's id means the database was deleted or
 *     replaced under live instances: the boot is refused with a clear message instead of a
 *     first boot that would orphan them and lose the history.
 *   - After recovery re-adopted what the store claims, every other instance found is an
 *     orphan (bluegreen died between a start and the commit of its row, or its service was
 *     removed from the config): it is stopped, never routed, and the audit trail says so.
 * Stored targets of services no longer in the config are marked stopped.
 */
#include "deploy/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

static int collect(void *arg, const bg_driver_found_t *f)
{
    dp_found_t *c = arg;

    c->v = bg_xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
    c->v[c->n++] = *f;
    return 0;
}

int dp_orphans_scan(bg_deployer_t *d, dp_found_t *out, bg_err_t *err)
{
    const char *ours = bg_store_id(d->store);
    char pids[256] = "", other[40] = "";
    size_t foreign = 0, len = 0;

    memset(out, 0, sizeof(*out));
    if (d->host.scan == NULL)
        return 0;
    d->host.scan(d->host.ctx, collect, out);
    for (size_t i = 0; i < out->n; i++) {
        const bg_driver_found_t *f = &out->v[i];
        if (f->store_id[0] == '\0' || strcmp(f->store_id, ours) == 0)
            continue;
        foreign++;
        snprintf(other, sizeof(other), "%s", f->store_id);
        /* A process is named by its pid, a container (pid 0) by its id. */
        if (len + 24 < sizeof(pids))
            len += f->pid > 0 ? (size_t)snprintf(pids + len, sizeof(pids) - len, "%spid %d",
                                                 len ? ", " : "", f->pid)
                              : (size_t)snprintf(pids + len, sizeof(pids) - len,
                                                 "%scontainer %.12s", len ? ", " : "", f->handle);
    }
    if (foreign == 0)
        return 0;
    return bg_err_set(err, BG_ECONFLICT,
                      "state store %s/bluegreen.db is missing or was replaced (its id is %s): "
                      "%zu instance(s) started from this state_dir with state store %s still "
                      "run (%s); refusing to start, which would orphan them. Restore the "
                      "database file, or stop them (kill -TERM -PID for a pid, docker rm -f "
                      "ID for a container) and start again",
                      d->cfg->state_dir ? d->cfg->state_dir : "./state", ours, foreign, other,
                      pids);
}

static bool claimed(bg_deployer_t *d, const char *handle)
{
    for (size_t i = 0; i < d->n_services; i++)
        for (int sl = 0; sl < BG_SLOT_COUNT; sl++)
            for (size_t k = 0; k < d->services[i].slot[sl].n_insts; k++)
                if (strcmp(d->services[i].slot[sl].insts[k].handle, handle) == 0)
                    return true;
    return false;
}

void dp_orphans_reap(bg_deployer_t *d, dp_found_t *found)
{
    for (size_t i = 0; i < found->n; i++) {
        const bg_driver_found_t *f = &found->v[i];
        bool configured = dp_service_find(d, f->service) != NULL;
        if (claimed(d, f->handle) || d->host.reap == NULL)
            continue;
        dp_event(d, f->service, 0, "target.orphan", NULL, "recovery",
                 "%s (%s, handle %s) runs but %s: stopping it", f->address,
                 bg_slot_str((bg_slot_t)f->slot), f->handle,
                 configured ? "no stored target claims it (a start the store never recorded)"
                            : "its service is no longer in the config");
        dp_flush(d, NULL); /* recorded before it acts */
        d->host.reap(d->host.ctx, f);
    }
    free(found->v);
    found->v = NULL;
    found->n = 0;
}

typedef struct removed {
    bg_deployer_t *d;
    int64_t *ids;
    size_t n;
} removed_t;

static int collect_removed(void *arg, const bg_store_target_t *t)
{
    removed_t *r = arg;

    if (dp_service_find(r->d, t->service) != NULL)
        return 0;
    r->ids = bg_xrealloc(r->ids, (r->n + 1) * sizeof(*r->ids));
    r->ids[r->n++] = t->id;
    dp_event(r->d, t->service, 0, "target.removed", NULL, "recovery",
             "%s (%s, handle %s): service %s is no longer in the config; its instance is "
             "stopped",
             t->address, bg_slot_str((bg_slot_t)t->slot), t->handle, t->service);
    return 0;
}

void dp_orphans_forget_removed(bg_deployer_t *d)
{
    removed_t r = {.d = d};

    bg_store_target_each(d->store, NULL, collect_removed, &r, NULL);
    dp_tx(d);
    for (size_t i = 0; i < r.n; i++)
        bg_store_target_set_state(d->store, r.ids[i], "stopped", NULL);
    free(r.ids);
}
