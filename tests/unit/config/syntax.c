/* Syntactic helpers: semver, addresses, service names, the command splitter. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "config/internal.h"

Test(syntax, semver)
{
    static const char *const good[] = {"0.0.0",
                                       "1.2.3",
                                       "10.20.30",
                                       "1.0.0-alpha",
                                       "1.0.0-alpha.1",
                                       "1.0.0-0.3.7",
                                       "1.0.0-x-y.z",
                                       "1.0.0+20130313144700",
                                       "1.0.0-beta+exp.sha.5114f85",
                                       "1.0.0+001"};
    static const char *const bad[] = {
        "",       "1",      "1.2",      "1.2.3.4",    "01.2.3", "1.02.3", "1.2.03", "v1.2.3",
        "1.2.3-", "1.2.3+", "1.2.3-01", "1.2.3-a..b", "1.2.x",  " 1.2.3", "1.2.3 ", "^1.2.3"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert(cfg_semver_ok(good[i]), "%s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(cfg_semver_ok(bad[i]), "%s", bad[i]);
}

Test(syntax, addresses)
{
    cr_assert(cfg_addr_ok("127.0.0.1:8080", false));
    cr_assert(cfg_addr_ok("localhost:1", false));
    cr_assert(cfg_addr_ok("my-host.example_1.com:65535", false));
    cr_assert(cfg_addr_ok("[::1]:80", false));
    cr_assert(cfg_addr_ok("0.0.0.0:0", true));
    cr_assert_not(cfg_addr_ok("0.0.0.0:0", false));
    cr_assert_not(cfg_addr_ok("127.0.0.1:65536", false));
    cr_assert_not(cfg_addr_ok("127.0.0.1:", false));
    cr_assert_not(cfg_addr_ok(":80", false));
    cr_assert_not(cfg_addr_ok("127.0.0.1", false));
    cr_assert_not(cfg_addr_ok("::1:80", false));
    cr_assert_not(cfg_addr_ok("[::1]80", false));
    cr_assert_not(cfg_addr_ok("[zz]:80", false));
    cr_assert_not(cfg_addr_ok("256.0.0.1:80", false));
    cr_assert_not(cfg_addr_ok("host name:80", false));
    cr_assert_not(cfg_addr_ok("host:8o", false));
    cr_assert_not(cfg_addr_ok("host:+80", false));
}

Test(syntax, service_names)
{
    cr_assert(cfg_service_name_ok("orders"));
    cr_assert(cfg_service_name_ok("0rders-v2_x"));
    cr_assert_not(cfg_service_name_ok(""));
    cr_assert_not(cfg_service_name_ok("_x"));
    cr_assert_not(cfg_service_name_ok("Orders"));
    cr_assert_not(cfg_service_name_ok("a.b"));
    cr_assert_not(cfg_service_name_ok("a b"));
    cr_assert(
        cfg_service_name_ok("a23456789012345678901234567890123456789012345678901234567890123" + 1));
    cr_assert_not(
        cfg_service_name_ok("a234567890123456789012345678901234567890123456789012345678901234"));
}

Test(syntax, split_command)
{
    const char *why = NULL;
    char **v = cfg_split_command("  a\t'b c'  \"d \\\"e\\\" \\n\" f\\ g h'i'\"j\" ", &why);

    cr_assert_not_null(v, "%s", why);
    cr_assert_str_eq(v[0], "a");
    cr_assert_str_eq(v[1], "b c");
    cr_assert_str_eq(v[2], "d \"e\" \\n");
    cr_assert_str_eq(v[3], "f g");
    cr_assert_str_eq(v[4], "hij");
    cr_assert_null(v[5]);
    cfg_strv_free(v, SIZE_MAX);

    cr_assert_null(cfg_split_command("a \"b", &why));
    cr_assert_str_eq(why, "unterminated double quote");
    cr_assert_null(cfg_split_command("a b\\", &why));
    cr_assert_str_eq(why, "trailing backslash");
    cr_assert_null(cfg_split_command("   ", &why));
    cr_assert_str_eq(why, "empty command");
}

Test(syntax, public_split_command)
{
    bg_err_t err;
    char buf[256];
    char **v = bg_config_split_command("./build/sample-app --service 'or ders'", &err);

    cr_assert_not_null(v);
    cr_assert_str_eq(v[2], "or ders");
    cr_assert_null(v[3]);
    bg_config_argv_free(v);
    bg_config_argv_free(NULL);
    cr_assert_null(bg_config_split_command("a 'b", &err));
    cr_assert_str_eq(bg_err_format(&err, buf, sizeof(buf)),
                     "cannot split command \"a 'b\": unterminated single quote");
}
