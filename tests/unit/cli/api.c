/* Unit: admin endpoint parsing and request paths of the CLI's API client (src/cli/api.c). */
#include <criterion/criterion.h>

#include "base/base.h"
#include "cli/internal.h"

Test(cli_api, unix_endpoint)
{
    bg_cli_endpoint_t ep;
    char why[128];

    cr_assert_eq(bg_cli_endpoint_parse("unix:./state/bluegreen.sock", &ep, why, sizeof(why)), 0);
    cr_assert_str_eq(ep.unix_path, "./state/bluegreen.sock");
    cr_assert_str_eq(ep.base_url, "http://localhost");
    cr_assert_str_eq(ep.spec, "unix:./state/bluegreen.sock");
    bg_cli_endpoint_fini(&ep);
    cr_assert_null(ep.spec);
}

Test(cli_api, http_endpoint_drops_trailing_slashes)
{
    bg_cli_endpoint_t ep;
    char why[128];

    cr_assert_eq(bg_cli_endpoint_parse("http://127.0.0.1:9900//", &ep, why, sizeof(why)), 0);
    cr_assert_null(ep.unix_path);
    cr_assert_str_eq(ep.base_url, "http://127.0.0.1:9900");
    bg_cli_endpoint_fini(&ep);
}

Test(cli_api, bad_endpoints)
{
    static const char *const bad[] = {"unix:",           "http://",        "http:///v1",
                                      "tcp://1.2.3.4:5", "127.0.0.1:9900", ""};
    for (size_t i = 0; i < BG_ARRAY_LEN(bad); i++) {
        bg_cli_endpoint_t ep;
        char why[128] = "";
        cr_assert_eq(bg_cli_endpoint_parse(bad[i], &ep, why, sizeof(why)), BG_EINVAL, "%s", bad[i]);
        cr_assert_neq(why[0], '\0');
        bg_cli_endpoint_fini(&ep);
    }
}

Test(cli_api, service_paths_are_percent_encoded)
{
    char *p = bg_cli_service_path("orders", "/traffic");
    cr_assert_str_eq(p, "/v1/services/orders/traffic");
    free(p);
    p = bg_cli_service_path("a b/c?d%e_f.g~h-i", "");
    cr_assert_str_eq(p, "/v1/services/a%20b%2Fc%3Fd%25e_f.g~h-i");
    free(p);
}
