/* Unit: the verb option parser (src/cli/opts.c) and the time helpers of out.c. */
#include <criterion/criterion.h>

#include "base/base.h"
#include "cli/internal.h"

static bg_cli_t quiet_cli(void)
{
    bg_cli_t cli = {0};
    cli.out = fopen("/dev/null", "w");
    cli.err = cli.out;
    return cli;
}

Test(cli_opts, values_flags_lists_and_positionals_in_order)
{
    bg_cli_t cli = quiet_cli();
    const char *version = NULL, *file = NULL;
    bool wait = false;
    bg_cli_list_t labels = {0};
    const bg_cli_opt_t opts[] = {
        {"--version", NULL, BG_OPT_VALUE, &version},
        {"--file", "-f", BG_OPT_VALUE, &file},
        {"--wait", NULL, BG_OPT_FLAG, &wait},
        {"--label", NULL, BG_OPT_LIST, &labels},
    };
    char *argv[] = {"orders", "--version=2.0.0", "--label",     "a=1", "-f",
                    "r.yaml", "--wait",          "--label=b=2", "--",  "--not-an-option"};
    char *pos[16];
    int n_pos = 0;

    cr_assert_eq(bg_cli_parse_opts(&cli, "deploy", BG_ARRAY_LEN(argv), argv, opts,
                                   BG_ARRAY_LEN(opts), pos, &n_pos),
                 BG_EXIT_OK);
    cr_assert_str_eq(version, "2.0.0");
    cr_assert_str_eq(file, "r.yaml");
    cr_assert(wait);
    cr_assert_eq(labels.n, 2);
    cr_assert_str_eq(labels.v[0], "a=1");
    cr_assert_str_eq(labels.v[1], "b=2");
    cr_assert_eq(n_pos, 2);
    cr_assert_str_eq(pos[0], "orders");
    cr_assert_str_eq(pos[1], "--not-an-option");
    free(labels.v);
    fclose(cli.out);
}

Test(cli_opts, unknown_options_and_missing_values_are_usage_errors)
{
    bg_cli_t cli = quiet_cli();
    const char *v = NULL;
    bool flag = false;
    const bg_cli_opt_t opts[] = {{"--version", NULL, BG_OPT_VALUE, &v},
                                 {"--wait", NULL, BG_OPT_FLAG, &flag}};
    char *pos[4];
    int n = 0;
    char *a1[] = {"x", "--versio", "1"};
    char *a2[] = {"x", "--version"};
    char *a3[] = {"x", "--wait=yes"};

    cr_assert_eq(bg_cli_parse_opts(&cli, "deploy", 3, a1, opts, 2, pos, &n), BG_EXIT_USAGE);
    cr_assert_eq(bg_cli_parse_opts(&cli, "deploy", 2, a2, opts, 2, pos, &n), BG_EXIT_USAGE);
    cr_assert_eq(bg_cli_parse_opts(&cli, "deploy", 2, a3, opts, 2, pos, &n), BG_EXIT_USAGE);
    cr_assert(bg_cli_check_kv(&cli, "deploy", "--env", "K=V"));
    cr_assert(bg_cli_check_kv(&cli, "deploy", "--env", "K="));
    cr_assert_not(bg_cli_check_kv(&cli, "deploy", "--env", "=V"));
    cr_assert_not(bg_cli_check_kv(&cli, "deploy", "--env", "K V=1"));
    cr_assert_not(bg_cli_check_kv(&cli, "deploy", "--env", "KV"));
    fclose(cli.out);
}

Test(cli_opts, rfc3339_times_and_durations)
{
    uint64_t ms;

    cr_assert(bg_cli_time_parse("1970-01-01T00:00:00Z", &ms));
    cr_assert_eq(ms, 0);
    cr_assert(bg_cli_time_parse("2026-11-27T13:00:00.250Z", &ms));
    cr_assert_eq(ms, 1795784400250ULL);
    cr_assert(bg_cli_time_parse("2024-02-29T23:59:59.5Z", &ms));
    cr_assert_eq(ms, 1709251199500ULL);
    cr_assert_not(bg_cli_time_parse("2026-11-27 13:00:00", &ms));
    cr_assert_not(bg_cli_time_parse("yesterday", &ms));
    cr_assert_not(bg_cli_time_parse(NULL, &ms));

    char b[32];
    cr_assert_str_eq(bg_cli_duration_str(850, b, sizeof(b)), "850ms");
    cr_assert_str_eq(bg_cli_duration_str(12345, b, sizeof(b)), "12.3s");
    cr_assert_str_eq(bg_cli_duration_str(245000, b, sizeof(b)), "4m05s");
    cr_assert_str_eq(bg_cli_duration_str(7380000, b, sizeof(b)), "2h03m");
}
