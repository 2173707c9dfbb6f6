/* The static driver and the factory: what the controller learns from capabilities. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/base.h"
#include "driver/driver.h"

Test(static_driver, runs_nothing_and_says_so)
{
    uv_loop_t loop;
    bg_err_t err;
    bg_revision_config_t rev = {0};
    bg_instance_spec_t spec = {.service = "legacy", .rev = &rev};
    bg_instance_t *inst = NULL;

    cr_assert_eq(uv_loop_init(&loop), 0);
    bg_driver_t *d = bg_driver_new(BG_DRIVER_STATIC, &loop, "/tmp", NULL, NULL, &err);
    cr_assert_not_null(d);
    cr_expect_str_eq(d->vt->name, "static");
    cr_expect(!bg_driver_starts(d));
    bg_err_clear(&err);
    cr_expect_eq(bg_driver_validate(d, "legacy", &rev, &err), BG_EINVAL);
    cr_expect(strstr(err.msg, "runs nothing") != NULL, "%s", err.msg);
    cr_expect_eq(bg_driver_start(d, &spec, NULL, NULL, &inst, &err), BG_EINVAL);
    cr_expect_null(inst);
    cr_expect_eq(bg_driver_adopt(d, &spec, "127.0.0.1:1", "x", &inst, &err), BG_ENOTFOUND);
    cr_expect(!bg_driver_resolve(d, "legacy", &rev, NULL, NULL, NULL));
    bg_driver_close(d, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0);
}

Test(static_driver, process_driver_starts_and_validates_its_command)
{
    uv_loop_t loop;
    bg_err_t err;
    bg_revision_config_t rev = {0};
    char *argv[] = {"/bin/true", NULL};

    cr_assert_eq(uv_loop_init(&loop), 0);
    char dir[] = "/tmp/bg-static-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    bg_driver_t *d = bg_driver_new(BG_DRIVER_PROCESS, &loop, dir, NULL, NULL, &err);
    cr_assert_not_null(d);
    cr_expect(bg_driver_starts(d));
    cr_expect_eq(bg_driver_validate(d, "orders", &rev, &err), BG_EINVAL);
    cr_expect(strstr(err.msg, "run.command") != NULL, "%s", err.msg);
    rev.command = argv;
    cr_expect_eq(bg_driver_validate(d, "orders", &rev, &err), 0);
    bg_driver_close(d, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0);
}
