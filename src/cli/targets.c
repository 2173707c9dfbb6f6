/* `bluegreen targets SERVICE [list] | add SLOT ADDRESS | remove ID`: the targets of a
 * service's slots, registered and deregistered by hand as in an ALB target group
 * (POST /v1/services/NAME/targets, DELETE .../targets/ID). A new target gets traffic
 * once it passes its health checks; a removed one drains, then is dropped.
 */
#include "cli/internal.h"

#include "base/base.h"

static int list_targets(bg_cli_t *cli, const char *service)
{
    static const char *const slots[] = {"blue", "green"};
    char *path = bg_cli_service_path(service, "");
    json_t *doc = NULL;
    int rc = bg_cli_api(cli, "GET", path, NULL, &doc);

    free(path);
    if (rc != BG_EXIT_OK)
        return rc;
    if (cli->json) {
        bg_cli_print_json(cli, json_object_get(doc, "slots"));
        goto out;
    }
    bg_cli_print_target_header(cli);
    for (size_t s = 0; s < BG_ARRAY_LEN(slots); s++) {
        const json_t *slot = json_object_get(json_object_get(doc, "slots"), slots[s]);
        const json_t *targets = json_object_get(slot, "targets");
        for (size_t i = 0; i < json_array_size(targets); i++)
            bg_cli_print_target(cli, service, json_array_get(targets, i));
    }
out:
    json_decref(doc);
    return BG_EXIT_OK;
}

static void print_changed(bg_cli_t *cli, const char *service, const char *what, const json_t *t)
{
    if (cli->json) {
        bg_cli_print_json(cli, t);
        return;
    }
    if (!cli->tty) {
        fprintf(cli->out, "%s service=%s id=%lld slot=%s address=%s\n", what, service,
                (long long)bg_cli_jint(t, "id", 0), bg_cli_jstr(t, "slot", "?"),
                bg_cli_jstr(t, "address", "?"));
        return;
    }
    fprintf(cli->out, "%s: %s target %lld (%s %s)%s\n", service, what,
            (long long)bg_cli_jint(t, "id", 0), bg_cli_jstr(t, "slot", "?"),
            bg_cli_jstr(t, "address", "?"),
            strcmp(what, "registered") == 0 ? "; it gets traffic once it passes its health checks"
                                            : "; it drains, then is dropped");
}

static int add_target(bg_cli_t *cli, const char *service, const char *slot_s, const char *addr)
{
    json_t *body = NULL, *doc = NULL;
    char *path = NULL;
    bg_slot_t slot;
    int rc;

    if (!bg_slot_parse(slot_s, &slot))
        return bg_cli_usage(cli, "targets", "slot '%s' must be blue or green", slot_s);
    if (!bg_cli_address_is_valid(addr))
        return bg_cli_usage(cli, "targets", "address '%s' must be HOST:PORT (port 1-65535)", addr);
    body = json_pack("{s:s, s:s}", "slot", bg_slot_str(slot), "address", addr);
    path = bg_cli_service_path(service, "/targets");
    rc = bg_cli_api(cli, "POST", path, body, &doc);
    if (rc == BG_EXIT_OK)
        print_changed(cli, service, "registered", doc);
    json_decref(doc);
    json_decref(body);
    free(path);
    return rc;
}

static int remove_target(bg_cli_t *cli, const char *service, const char *id_s)
{
    json_t *doc = NULL;
    char *path = NULL, *suffix = NULL;
    uint64_t id;
    int rc;

    if (!bg_str_to_u64(bg_str(id_s), INT64_MAX, &id))
        return bg_cli_usage(cli, "targets",
                            "target id '%s' must be a number (see bluegreen "
                            "status)",
                            id_s);
    suffix = bg_asprintf("/targets/%llu", (unsigned long long)id);
    path = bg_cli_service_path(service, suffix);
    rc = bg_cli_api(cli, "DELETE", path, NULL, &doc);
    if (rc == BG_EXIT_OK)
        print_changed(cli, service, "deregistered", json_object_get(doc, "deregistered"));
    json_decref(doc);
    free(suffix);
    free(path);
    return rc;
}

int bg_cli_targets(bg_cli_t *cli, int argc, char **argv)
{
    const char *op = argc >= 2 ? argv[1] : "list";

    if (argc < 1)
        return bg_cli_usage(cli, "targets", "missing SERVICE");
    if (strcmp(op, "list") == 0 && argc <= 2)
        return list_targets(cli, argv[0]);
    if (strcmp(op, "add") == 0 && argc == 4)
        return add_target(cli, argv[0], argv[2], argv[3]);
    if (strcmp(op, "remove") == 0 && argc == 3)
        return remove_target(cli, argv[0], argv[2]);
    if (strcmp(op, "add") == 0)
        return bg_cli_usage(cli, "targets", "add needs SLOT and ADDRESS");
    if (strcmp(op, "remove") == 0)
        return bg_cli_usage(cli, "targets", "remove needs exactly one ID");
    if (strcmp(op, "list") == 0)
        return bg_cli_usage(cli, "targets", "unexpected argument '%s'", argv[2]);
    return bg_cli_usage(cli, "targets", "unknown operation '%s' (add, remove or list)", op);
}
