/* Unit: the argument checks shared by the CLI verbs (src/cli/out.c). */
#include <criterion/criterion.h>

#include "base/base.h"
#include "cli/internal.h"

static int parse(uint32_t w[BG_SLOT_COUNT], char *why, const char *a, const char *b)
{
    char *argv[] = {(char *)a, (char *)b, NULL};
    return bg_cli_parse_traffic(b != NULL ? 2 : 1, argv, w, why, 256);
}

Test(cli_out, traffic_in_either_order)
{
    uint32_t w[BG_SLOT_COUNT];
    char why[256];

    cr_assert_eq(parse(w, why, "blue=30", "green=70"), 0, "%s", why);
    cr_assert_eq(w[BG_SLOT_BLUE], 30);
    cr_assert_eq(w[BG_SLOT_GREEN], 70);
    cr_assert_eq(parse(w, why, "green=0", "blue=100"), 0, "%s", why);
    cr_assert_eq(w[BG_SLOT_BLUE], 100);
    cr_assert_eq(w[BG_SLOT_GREEN], 0);
}

Test(cli_out, traffic_refusals_say_why)
{
    static const struct {
        const char *a, *b, *why;
    } cases[] = {
        {"blue=30", "green=60", "blue=30 green=60 add up to 90; they must add up to 100"},
        {"blue=100", NULL, "missing green=N (both weights are needed)"},
        {"blue=", "green=100", "'blue=': the weight must be an integer from 0 to 100"},
        {"blue=+5", "green=95", "'blue=+5': the weight must be an integer from 0 to 100"},
        {"blue=1e2", "green=0", "'blue=1e2': the weight must be an integer from 0 to 100"},
        {"blue=99999999999999999999", "green=0", "the weight must be an integer from 0 to 100"},
        {"Blue=50", "green=50", "'Blue=50': the slot must be blue or green"},
        {"green=50", "green=50", "green is given twice"},
        {"blue", "green=50", "'blue' is not blue=N or green=N"},
        {"averyveryverylongslotname=5", "green=95", "is not blue=N or green=N"},
    };
    for (size_t i = 0; i < BG_ARRAY_LEN(cases); i++) {
        uint32_t w[BG_SLOT_COUNT];
        char why[256] = "";
        cr_assert_eq(parse(w, why, cases[i].a, cases[i].b), BG_EINVAL, "case %zu", i);
        cr_assert_not_null(strstr(why, cases[i].why), "case %zu: %s", i, why);
    }
}

Test(cli_out, weights)
{
    uint32_t v;
    cr_assert(bg_cli_parse_weight("0", &v) && v == 0);
    cr_assert(bg_cli_parse_weight("100", &v) && v == 100);
    cr_assert_not(bg_cli_parse_weight("101", &v));
    cr_assert_not(bg_cli_parse_weight("-1", &v));
    cr_assert_not(bg_cli_parse_weight(" 5", &v));
    cr_assert_not(bg_cli_parse_weight("", &v));
}

Test(cli_out, addresses)
{
    cr_assert(bg_cli_address_is_valid("127.0.0.1:9001"));
    cr_assert(bg_cli_address_is_valid("localhost:1"));
    cr_assert(bg_cli_address_is_valid("[::1]:65535"));
    cr_assert_not(bg_cli_address_is_valid("127.0.0.1"));
    cr_assert_not(bg_cli_address_is_valid(":80"));
    cr_assert_not(bg_cli_address_is_valid("127.0.0.1:0"));
    cr_assert_not(bg_cli_address_is_valid("127.0.0.1:65536"));
    cr_assert_not(bg_cli_address_is_valid("127.0.0.1:80x"));
    cr_assert_not(bg_cli_address_is_valid("http://127.0.0.1:80"));
    cr_assert_not(bg_cli_address_is_valid("[::1:80"));
}
