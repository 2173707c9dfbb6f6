/* `bluegreen deployment ID [--json]` and `bluegreen status SERVICE --watch`: follow one
 * deployment to its result, as `deploy --wait` does (follow.c), from another shell or
 * after the fact.
 *
 * `deployment ID` shows GET /v1/deployments/ID; while it runs it is followed, then its
 * result is printed. `status SERVICE --watch` follows the service's running deployment
 * (the newest of GET /v1/services/NAME/deployments?limit=1 when it has no result yet), or
 * says that none runs. Exit codes are the deployment's (bg_cli_result_exit: 0 succeeded or
 * none running, 1 rolled back/failed/aborted, 3 refused), 4 daemon unreachable, 130 when
 * interrupted (the deployment runs on).
 */
#include "cli/internal.h"

#include "base/base.h"

/* Follows <d> (borrowed) if it runs, then prints its result. Returns the exit code. */
static int follow_and_report(bg_cli_client_t *c, const json_t *d)
{
    bg_cli_t *cli = c->cli;
    json_t *final = NULL;
    int rc;

    if (bg_cli_jstr(d, "result", "")[0] == '\0') {
        if (!cli->json)
            bg_cli_print_deployment(cli, "following", d);
        rc = bg_cli_follow(c, d, &final);
        if (rc != BG_EXIT_OK)
            return rc;
        d = final;
    }
    if (cli->json) {
        bg_cli_print_json(cli, d);
        rc = bg_cli_result_exit(bg_cli_jstr(d, "result", ""));
    } else {
        rc = bg_cli_print_result(cli, d);
    }
    json_decref(final);
    return rc;
}

int bg_cli_deployment(bg_cli_t *cli, int argc, char **argv)
{
    bg_cli_client_t c;
    json_t *d = NULL;
    uint64_t id;
    char path[64];
    int rc;

    if (argc == 0)
        return bg_cli_usage(cli, "deployment", "missing ID");
    if (argc > 1)
        return bg_cli_usage(cli, "deployment", "unexpected argument '%s'", argv[1]);
    if (!bg_str_to_u64(bg_str(argv[0]), INT64_MAX, &id) || id == 0)
        return bg_cli_usage(cli, "deployment", "ID '%s' must be a positive integer", argv[0]);
    snprintf(path, sizeof(path), "/v1/deployments/%llu", (unsigned long long)id);
    rc = bg_cli_client_init(&c, cli);
    if (rc == BG_EXIT_OK)
        rc = bg_cli_client_call(&c, "GET", path, NULL, &d);
    if (rc == BG_EXIT_OK)
        rc = follow_and_report(&c, d);
    json_decref(d);
    bg_cli_client_fini(&c);
    return rc;
}

int bg_cli_status_watch(bg_cli_t *cli, const char *service)
{
    bg_cli_client_t c;
    json_t *list = NULL;
    char *path = bg_cli_service_path(service, "/deployments?limit=1");
    const json_t *d;
    int rc;

    rc = bg_cli_client_init(&c, cli);
    if (rc == BG_EXIT_OK)
        rc = bg_cli_client_call(&c, "GET", path, NULL, &list);
    if (rc != BG_EXIT_OK)
        goto out;
    d = json_array_get(json_object_get(list, "deployments"), 0);
    if (d == NULL || bg_cli_jstr(d, "result", "")[0] != '\0') {
        if (cli->json) {
            json_t *none = json_pack("{s:s,s:n}", "service", service, "running");
            bg_cli_print_json(cli, none);
            json_decref(none);
        } else if (cli->tty)
            fprintf(cli->out, "%s: no deployment is running\n", service);
        else
            fprintf(cli->out, "watch service=%s running=none\n", service);
        goto out;
    }
    rc = follow_and_report(&c, d);
out:
    json_decref(list);
    bg_cli_client_fini(&c);
    free(path);
    return rc;
}
