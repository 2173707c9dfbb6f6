/* `bluegreen tls` (the TLS state of the listeners: certificates, names, expiry, reloads,
 * ACME state, handshakes; GET /v1/tls), `bluegreen tls renew` (forced ACME renewal, POST
 * /v1/tls/renew, answered once the new certificate is in use) and `bluegreen reload-certs` (reads the certificate and key
 * files again without dropping a connection; POST /v1/tls/reload). A bad file keeps the
 * old certificates and the daemon's answer says why (exit 2).
 */
#include "cli/internal.h"

#include <string.h>

#include "base/base.h"

static void print_acme(bg_cli_t *cli, json_t *a)
{
    json_t *last = json_object_get(a, "last_renewal"), *h;
    size_t i;

    if (a == NULL)
        return;
    fprintf(cli->out, "  acme=%s serving=%s serial=%s account=%s next_renewal=%s%s hosts=",
            json_string_value(json_object_get(a, "directory")),
            json_string_value(json_object_get(a, "serving")) ?: "-",
            json_string_value(json_object_get(a, "serial")) ?: "-",
            json_string_value(json_object_get(a, "account")) ?: "-",
            json_string_value(json_object_get(a, "next_renewal_at")) ?: "-",
            json_is_true(json_object_get(a, "running")) ? " (order running)" : "");
    json_array_foreach(json_object_get(a, "hosts"), i, h)
        fprintf(cli->out, "%s%s", i ? "," : "", json_string_value(h));
    fputc('\n', cli->out);
    if (json_string_value(json_object_get(last, "at")) != NULL)
        fprintf(cli->out, "  acme_last_renewal=%s last_renewal_ok=%s why=%s\n",
                json_string_value(json_object_get(last, "at")),
                json_is_true(json_object_get(last, "ok")) ? "yes" : "no",
                json_string_value(json_object_get(last, "why")) ?: "-");
    if (json_string_value(json_object_get(last, "error")) != NULL)
        fprintf(cli->out, "  acme_error=\"%s\"\n",
                json_string_value(json_object_get(last, "error")));
}

static void print_listener(bg_cli_t *cli, json_t *l)
{
    json_t *last = json_object_get(l, "last_reload"), *c;
    size_t i;

    fprintf(cli->out, "listener=%s policy=%s tickets=%s reloads=%" JSON_INTEGER_FORMAT
                      " last_reload=%s last_reload_ok=%s\n",
            json_string_value(json_object_get(l, "listener")),
            json_string_value(json_object_get(l, "policy")),
            json_is_true(json_object_get(l, "tickets")) ? "on" : "off",
            json_integer_value(json_object_get(l, "reloads")),
            json_string_value(json_object_get(last, "at")) ?: "-",
            json_is_true(json_object_get(last, "ok")) ? "yes" : "no");
    if (json_string_value(json_object_get(last, "error")))
        fprintf(cli->out, "  last_error=\"%s\"\n", json_string_value(json_object_get(last, "error")));
    json_array_foreach(json_object_get(l, "certificates"), i, c) {
        json_t *names = json_object_get(c, "names"), *n;
        size_t j;

        fprintf(cli->out, "  cert=%s not_after=%s expires_in_days=%" JSON_INTEGER_FORMAT "%s names=",
                json_string_value(json_object_get(c, "cert")),
                json_string_value(json_object_get(c, "not_after")) ?: "-",
                json_integer_value(json_object_get(c, "expires_in_s")) / 86400,
                json_is_true(json_object_get(c, "default")) ? " default" : "");
        json_array_foreach(names, j, n)
            fprintf(cli->out, "%s%s", j ? "," : "", json_string_value(n));
        fputc('\n', cli->out);
    }
    print_acme(cli, json_object_get(l, "acme"));
}

/* <wait>: no client deadline (a renewal answers when its order ended; the daemon bounds an
 * order to 5 minutes), else the usual 2 minutes. */
static int show(bg_cli_t *cli, const char *method, const char *path, bool wait)
{
    json_t *doc = NULL, *l;
    size_t i;
    bg_cli_client_t c;
    int rc = bg_cli_client_init(&c, cli);

    c.no_timeout = wait;
    if (rc == BG_EXIT_OK)
        rc = bg_cli_client_call(&c, method, path, NULL, &doc);
    bg_cli_client_fini(&c);

    if (rc != BG_EXIT_OK)
        return rc;
    if (cli->json)
        bg_cli_print_json(cli, doc);
    else
        json_array_foreach(json_object_get(doc, "listeners"), i, l)
            print_listener(cli, l);
    json_decref(doc);
    return rc;
}

int bg_cli_tls(bg_cli_t *cli, int argc, char **argv)
{
    if (argc > 0 && strcmp(argv[0], "renew") == 0) {
        if (argc > 1)
            return bg_cli_usage(cli, "tls", "unexpected argument '%s'", argv[1]);
        return show(cli, "POST", "/v1/tls/renew", true);
    }
    if (argc > 0)
        return bg_cli_usage(cli, "tls", "unexpected argument '%s'", argv[0]);
    return show(cli, "GET", "/v1/tls", false);
}

int bg_cli_reload_certs(bg_cli_t *cli, int argc, char **argv)
{
    if (argc > 0)
        return bg_cli_usage(cli, "reload-certs", "unexpected argument '%s'", argv[0]);
    return show(cli, "POST", "/v1/tls/reload", false);
}
