/* Sessions, one-time login tokens and the small parsers of src/dashboard/session.c, with
 * the clock passed in: expiry and eviction are checked without waiting.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "dashboard/dashboard.h"

#define HOUR_MS (3600u * 1000u)

Test(dash_session, login_token_is_redeemed_once_and_expires)
{
    bg_dash_auth_t *a = bg_dash_auth_new();
    char t1[BG_DASH_TOKEN_HEX + 1], t2[BG_DASH_TOKEN_HEX + 1];
    uint64_t exp = 0;

    cr_assert_eq(bg_dash_auth_mint(a, 1000, 0, t1, sizeof(t1), &exp), 0);
    cr_assert_eq(exp, 1000 + BG_DASH_LOGIN_TOKEN_TTL_MS);
    cr_assert_eq(strlen(t1), BG_DASH_TOKEN_HEX);
    cr_assert_eq(strspn(t1, "0123456789abcdef"), BG_DASH_TOKEN_HEX);
    cr_assert_eq(bg_dash_auth_mint(a, 1000, 500, t2, sizeof(t2), NULL), 0);
    cr_assert_str_neq(t1, t2);
    cr_assert_eq(bg_dash_auth_mint(a, 1000, 0, t2, 10, NULL) < 0, true, "short buffer");

    cr_assert_not(bg_dash_auth_redeem(a, 1001, "nope"));
    cr_assert(bg_dash_auth_redeem(a, 1001, t1));
    cr_assert_not(bg_dash_auth_redeem(a, 1002, t1), "a one-time token works once");
    cr_assert_not(bg_dash_auth_redeem(a, 1000 + 500, t2), "expired");
    bg_dash_auth_free(a);
}

Test(dash_session, sessions_check_expire_close_and_evict)
{
    bg_dash_auth_t *a = bg_dash_auth_new();
    char sid[BG_DASH_TOKEN_HEX + 1], csrf[BG_DASH_TOKEN_HEX + 1], got[BG_DASH_TOKEN_HEX + 1];
    char first[BG_DASH_TOKEN_HEX + 1];

    cr_assert_eq(bg_dash_auth_open(a, 10, sid, csrf), 0);
    cr_assert_str_neq(sid, csrf);
    cr_assert(bg_dash_auth_check(a, 20, sid, got));
    cr_assert_str_eq(got, csrf);
    cr_assert_not(bg_dash_auth_check(a, 20, csrf, NULL), "the CSRF token is no session id");
    cr_assert_not(bg_dash_auth_check(a, 20, "", NULL));
    /* Idle past the limit: gone. */
    cr_assert_not(bg_dash_auth_check(a, 20 + BG_DASH_SESSION_IDLE_MS + 1, sid, NULL));
    cr_assert_eq(bg_dash_auth_sessions(a), 0);

    cr_assert_eq(bg_dash_auth_open(a, HOUR_MS, first, csrf), 0);
    for (unsigned i = 1; i < BG_DASH_MAX_SESSIONS; i++)
        cr_assert_eq(bg_dash_auth_open(a, HOUR_MS + i, sid, csrf), 0);
    cr_assert_eq(bg_dash_auth_sessions(a), BG_DASH_MAX_SESSIONS);
    cr_assert(bg_dash_auth_check(a, HOUR_MS + 100, first, NULL), "used: now the newest");
    /* One more: the least recently used (the second one opened) goes, not <first>. */
    cr_assert_eq(bg_dash_auth_open(a, HOUR_MS + 200, sid, csrf), 0);
    cr_assert_eq(bg_dash_auth_sessions(a), BG_DASH_MAX_SESSIONS);
    cr_assert(bg_dash_auth_check(a, HOUR_MS + 201, first, NULL));
    bg_dash_auth_close(a, first);
    cr_assert_not(bg_dash_auth_check(a, HOUR_MS + 202, first, NULL));
    cr_assert(bg_dash_auth_check(a, HOUR_MS + 202, sid, NULL));
    bg_dash_auth_free(a);
}

Test(dash_session, cookie_and_form_parsing)
{
    char out[80];

    cr_assert(bg_dash_cookie("a=1; bluegreen_session_80=abc; b=2", "bluegreen_session_80", out,
                             sizeof(out)));
    cr_assert_str_eq(out, "abc");
    cr_assert(bg_dash_cookie("bluegreen_session_80=x", "bluegreen_session_80", out, sizeof(out)));
    cr_assert_str_eq(out, "x");
    cr_assert_not(bg_dash_cookie("xbluegreen_session_80=x", "bluegreen_session_80", out, 80));
    cr_assert_not(bg_dash_cookie("bluegreen_session_8=x", "bluegreen_session_80", out, 80));
    cr_assert_not(bg_dash_cookie("a=1", "bluegreen_session_80", out, sizeof(out)));
    cr_assert_not(bg_dash_cookie("k=toolong", "k", out, 4));

    cr_assert(bg_dash_form_value("a=1&token=ab%2Fc+d", 18, "token", out, sizeof(out)));
    cr_assert_str_eq(out, "ab/c d");
    cr_assert_not(bg_dash_form_value("xtoken=1", 8, "token", out, sizeof(out)));
    cr_assert_not(bg_dash_form_value("token=%4", 8, "token", out, sizeof(out)));
    cr_assert_not(bg_dash_form_value("token=%zz", 9, "token", out, sizeof(out)));
    cr_assert_not(bg_dash_form_value("token=%00", 9, "token", out, sizeof(out)));
    cr_assert(bg_dash_form_value("token=", 6, "token", out, sizeof(out)) == false ||
              out[0] == '\0');
}

Test(dash_session, secrets_compare_whole)
{
    cr_assert(bg_dash_secret_eq("abc", "abc"));
    cr_assert_not(bg_dash_secret_eq("abc", "abd"));
    cr_assert_not(bg_dash_secret_eq("abc", "ab"));
    cr_assert_not(bg_dash_secret_eq("ab", "abc"));
    cr_assert_not(bg_dash_secret_eq("", "a"));
}

Test(dash_assets, content_types)
{
    cr_assert_str_eq(bg_dash_content_type("index.html"), "text/html; charset=utf-8");
    cr_assert_str_eq(bg_dash_content_type("js/app.js"), "text/javascript; charset=utf-8");
    cr_assert_str_eq(bg_dash_content_type("vendor/uplot/uPlot.min.css"), "text/css; charset=utf-8");
    cr_assert_str_eq(bg_dash_content_type("vendor/uplot/LICENSE"), "text/plain; charset=utf-8");
    cr_assert_str_eq(bg_dash_content_type("a.svg"), "image/svg+xml");
    cr_assert_str_eq(bg_dash_content_type("blob"), "application/octet-stream");
    cr_assert_not_null(bg_dash_asset_find("index.html"));
    cr_assert_null(bg_dash_asset_find("/index.html"));
    cr_assert_null(bg_dash_asset_find("nope"));
}
