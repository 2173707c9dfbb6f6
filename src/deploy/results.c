/* A deployment's result is never lost silently (issue 9): dp_result_store() writes it and
 * commits at once; when the commit fails (disk full past the store's reserve, an I/O
 * error) the result is kept in memory, reported by the API as not stored ("stored":
 * false on the deployment) and written again every RETRY_MS until it lands. Logged at
 * error level on the first failure and at info once stored.
 */
#include "deploy/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

#define RETRY_MS 1000

struct dp_unstored {
    bg_list_t link; /* in bg_deployer.unstored */
    int64_t id;
    char phase[32];
    char result[16];
    char reason[512];
    char *record; /* owned; may be NULL (kept) */
    uint32_t weight[2];
    unsigned tries;
};

static void unstored_free(dp_unstored_t *u)
{
    bg_list_remove(&u->link);
    free(u->record);
    free(u);
}

static dp_unstored_t *unstored_find(bg_deployer_t *d, int64_t id)
{
    bg_list_t *pos;

    bg_list_foreach(pos, &d->unstored)
    {
        dp_unstored_t *u = BG_CONTAINER_OF(pos, dp_unstored_t, link);
        if (u->id == id)
            return u;
    }
    return NULL;
}

/* The rows of one result, in the batch transaction, then committed. */
static int write_result(bg_deployer_t *d, const dp_unstored_t *u, bg_err_t *err)
{
    int rc;

    dp_tx(d);
    /* The row's weights say how routing stands as it ends (after a rollback: the old
     * slot's 100%, not the split of the step that was rolled back). */
    rc = bg_store_deployment_set_weights(d->store, u->id, u->weight, err);
    /* A rollback within the termination wait ends a deployment that already succeeded. */
    if (rc == 0 && (rc = bg_store_deployment_finish(d->store, u->id, u->result, u->reason,
                                                    u->record, err)) == BG_ENOTFOUND)
        rc = bg_store_deployment_amend(d->store, u->id, u->phase, u->result, u->reason, u->record,
                                       err);
    if (rc == 0)
        return dp_flush(d, err);
    if (bg_store_in_tx(d->store))
        bg_store_rollback(d->store);
    return rc;
}

static void on_retry(uv_timer_t *t)
{
    bg_deployer_t *d = t->data;
    bg_list_t *pos, *tmp;

    bg_list_foreach_safe(pos, tmp, &d->unstored)
    {
        dp_unstored_t *u = BG_CONTAINER_OF(pos, dp_unstored_t, link);
        bg_err_t err;
        bg_err_clear(&err);
        u->tries++;
        if (write_result(d, u, &err) != 0)
            continue;
        bg_log(BG_LOG_INFO, "deploy", "deployment=%" PRId64 " msg=\"result stored\" tries=%u",
               u->id, u->tries);
        unstored_free(u);
    }
    if (!bg_list_is_empty(&d->unstored) && !d->closing)
        uv_timer_start(&d->retry_timer, on_retry, RETRY_MS, 0);
}

void dp_result_store(bg_deployer_t *d, int64_t id, const char *phase, const char *result,
                     const char *reason, const char *record, const uint32_t weight[2])
{
    dp_unstored_t *u = unstored_find(d, id);
    bg_err_t err;

    if (u == NULL) {
        u = BG_NEW(dp_unstored_t);
        u->id = id;
        bg_list_insert_tail(&d->unstored, &u->link);
    }
    snprintf(u->phase, sizeof(u->phase), "%s", phase);
    snprintf(u->result, sizeof(u->result), "%s", result);
    snprintf(u->reason, sizeof(u->reason), "%s", reason ? reason : "");
    free(u->record);
    u->record = record != NULL ? bg_strdup(record) : NULL;
    u->weight[0] = weight[0];
    u->weight[1] = weight[1];
    /* A second try at once: a commit that failed on a full disk released the store's
     * reserve, and SQLite may have rolled the transaction back. */
    bg_err_clear(&err);
    if (write_result(d, u, &err) == 0 || write_result(d, u, &err) == 0) {
        unstored_free(u);
        return;
    }
    bg_log(BG_LOG_ERROR, "deploy",
           "deployment=%" PRId64 " result=%s msg=\"result not stored; retrying every %d ms\" "
           "err=\"%s\"",
           id, result, RETRY_MS, err.msg);
    if (!d->closing && !uv_is_active((uv_handle_t *)&d->retry_timer))
        uv_timer_start(&d->retry_timer, on_retry, RETRY_MS, 0);
}

void dp_result_overlay(bg_deployer_t *d, int64_t id, json_t *j)
{
    dp_unstored_t *u = unstored_find(d, id);

    if (u == NULL || j == NULL)
        return;
    json_object_set_new(j, "phase", json_string(u->phase));
    json_object_set_new(j, "result", json_string(u->result));
    json_object_set_new(j, "reason", json_string(u->reason));
    json_object_set_new(j, "stored", json_false());
}

void dp_results_close(bg_deployer_t *d)
{
    bg_list_t *pos, *tmp;

    uv_timer_stop(&d->retry_timer);
    on_retry(&d->retry_timer); /* a last try; what is left is lost, and says so */
    bg_list_foreach_safe(pos, tmp, &d->unstored)
    {
        dp_unstored_t *u = BG_CONTAINER_OF(pos, dp_unstored_t, link);
        bg_log(BG_LOG_ERROR, "deploy",
               "deployment=%" PRId64 " result=%s msg=\"result lost at shutdown: never stored\"",
               u->id, u->result);
        unstored_free(u);
    }
}
