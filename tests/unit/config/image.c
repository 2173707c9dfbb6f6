/* Image references: what the engine accepts is accepted, anything else is refused with a
 * reason; config `image:` and `resources:` keys. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"

Test(image_ref, parses_registry_name_tag_digest)
{
    bg_image_ref_t r;
    const char *why = NULL;
    char out[512];
    const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char full[256];

    cr_assert(bg_image_ref_parse("127.0.0.1:5000/sample-app:v1", &r, &why), "%s", why);
    cr_expect_str_eq(r.registry, "127.0.0.1:5000");
    cr_expect_str_eq(r.name, "sample-app");
    cr_expect_str_eq(r.tag, "v1");
    cr_expect_str_eq(r.digest, "");
    snprintf(full, sizeof(full), "ghcr.io/org/team/app_x.y-z:1.2.3-rc.1@%s", d);
    cr_assert(bg_image_ref_parse(full, &r, &why), "%s", why);
    cr_expect_str_eq(r.registry, "ghcr.io");
    cr_expect_str_eq(r.name, "org/team/app_x.y-z");
    cr_expect_str_eq(r.tag, "1.2.3-rc.1");
    cr_expect_str_eq(r.digest, d);
    bg_image_ref_format(&r, false, out, sizeof(out));
    snprintf(full, sizeof(full), "ghcr.io/org/team/app_x.y-z@%s", d);
    cr_expect_str_eq(out, full);
    cr_assert(bg_image_ref_parse("nginx", &r, &why));
    cr_expect_str_eq(r.registry, "");
    cr_expect_str_eq(r.tag, "");
    cr_assert(bg_image_ref_parse("library/nginx:latest", &r, &why));
    cr_expect_str_eq(r.registry, "");
    cr_expect_str_eq(r.name, "library/nginx");
    cr_assert(bg_image_ref_parse("localhost/app", &r, &why));
    cr_expect_str_eq(r.registry, "localhost");
    cr_assert(bg_image_ref_parse("localhost:5000/a__b/c---d", &r, &why), "%s", why);
}

Test(image_ref, refuses_what_an_engine_refuses)
{
    static const char *const bad[] = {
        "",        "App:1",          "app:",         "app:-x",      "app:v1 ",
        "/app",    "app/",           "a//b",         "app@sha256:abc",
        "app@md5:0123", "reg:99999999/app", "-reg.io/app", "app:t@",   "a..b",
        "a_-b",    "http://reg/app",
    };
    bg_image_ref_t r;
    const char *why;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        cr_expect(!bg_image_ref_parse(bad[i], &r, &why), "accepted \"%s\"", bad[i]);
        cr_expect_not_null(why, "no reason for \"%s\"", bad[i]);
    }
}

Test(image_ref, config_names_a_bad_image_and_reads_resources)
{
    bg_err_t err;
    const char *ok = "services:\n  a:\n    driver: docker\n    image: reg.io/app:v1\n"
                     "    resources: {memory: 256Mi, cpus: 0.5}\n";
    const char *bad = "services:\n  a:\n    driver: docker\n    image: Reg.io/App:v1\n";
    bg_config_t *cfg = bg_config_parse(ok, strlen(ok), "t.yaml", &err);

    cr_assert_not_null(cfg, "%s", err.msg);
    cr_expect_eq(cfg->services[0].rev.memory_bytes, 256u * 1024 * 1024);
    cr_expect_eq(cfg->services[0].rev.cpu_millis, 500);
    bg_config_free(cfg);
    cr_expect_null(bg_config_parse(bad, strlen(bad), "t.yaml", &err));
    cr_expect(strstr(err.msg, "\"Reg.io/App:v1\"") != NULL, "%s", err.msg);
    cr_expect_eq(err.line, 4);
}
