/* The docker driver without an engine: validation, registry logins read from
 * DOCKER_CONFIG as X-Registry-Auth, and an engine that is down (a pull fails with the
 * transport's words, from the loop, never from inside resolve). The engine itself is
 * exercised end to end by tests/e2e/docker_deploy.sh. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "driver/docker_internal.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/bg-docker-unit-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

TestSuite(docker, .init = setup, .timeout = 30);

static void write_config(const char *json)
{
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/config.json", dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(json, f);
    fclose(f);
    setenv("DOCKER_CONFIG", dir, 1);
}

Test(docker, registry_auth_from_docker_config)
{
    char who[64];
    /* "ci:s3cret" */
    write_config("{\"auths\":{\"https://reg.example:5000/v2/\":{\"auth\":\"Y2k6czNjcmV0\"},"
                 "\"other.io\":{\"identitytoken\":\"tok\"}}}");
    char *h = dk_registry_auth("reg.example:5000", who, sizeof(who));
    cr_assert_not_null(h);
    cr_expect(strncmp(h, "X-Registry-Auth: ", 17) == 0, "%s", h);
    cr_expect_str_eq(who, "user ci");
    /* base64url of {"username":"ci","password":"s3cret","serveraddress":"reg.example:5000"} */
    cr_expect_str_eq(h + 17, "eyJ1c2VybmFtZSI6ImNpIiwicGFzc3dvcmQiOiJzM2NyZXQiLCJzZXJ2ZXJhZGRyZXNz"
                             "IjoicmVnLmV4YW1wbGU6NTAwMCJ9");
    free(h);
    h = dk_registry_auth("other.io", who, sizeof(who));
    cr_assert_not_null(h);
    cr_expect_str_eq(who, "identity token");
    free(h);
    cr_expect_null(dk_registry_auth("unknown.io", who, sizeof(who)));
    cr_expect_null(dk_registry_auth("", who, sizeof(who)), "no Docker Hub login configured");
}

static int resolved_status = 1;
static char resolved_msg[600];

static void on_resolved(void *arg, int status, const char *artifact, const char *msg)
{
    resolved_status = status;
    snprintf(resolved_msg, sizeof(resolved_msg), "%s", msg ? msg : "");
}

Test(docker, engine_down_fails_the_pull_with_its_reason)
{
    uv_loop_t loop;
    bg_err_t err;
    char host[160];
    bg_revision_config_t rev = {.image = "127.0.0.1:5000/app:v1", .version = "1.0.0"};

    write_config("{}");
    snprintf(host, sizeof(host), "unix://%s/no-engine.sock", dir);
    setenv("DOCKER_HOST", host, 1);
    cr_assert_eq(uv_loop_init(&loop), 0);
    bg_driver_t *d = bg_driver_new(BG_DRIVER_DOCKER, &loop, dir, NULL, &err);
    cr_assert_not_null(d, "%s", err.msg);
    cr_expect(bg_driver_starts(d));
    cr_assert(bg_driver_resolve(d, "orders", &rev, NULL, on_resolved, NULL));
    cr_expect_eq(resolved_status, 1, "the callback came from inside resolve()");
    uint64_t end = bg_now_ms() + 10000;
    while (resolved_status == 1 && bg_now_ms() < end)
        uv_run(&loop, UV_RUN_ONCE);
    cr_expect_eq(resolved_status, BG_EUNAVAIL);
    cr_expect(strstr(resolved_msg, "cannot reach the engine") != NULL, "%s", resolved_msg);
    cr_expect(strstr(resolved_msg, "127.0.0.1:5000/app:v1") != NULL, "%s", resolved_msg);
    bg_driver_close(d, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0, "handles left open");
}

Test(docker, validates_images_and_docker_host)
{
    uv_loop_t loop;
    bg_err_t err;
    bg_revision_config_t rev = {.image = "Bad Image", .version = "1.0.0"};

    setenv("DOCKER_HOST", "tcp://127.0.0.1:2375", 1);
    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_expect_null(bg_driver_new(BG_DRIVER_DOCKER, &loop, dir, NULL, &err));
    cr_expect(strstr(err.msg, "Unix socket only") != NULL, "%s", err.msg);
    setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock", 1);
    bg_driver_t *d = bg_driver_new(BG_DRIVER_DOCKER, &loop, dir, NULL, &err);
    cr_assert_not_null(d);
    cr_expect_eq(bg_driver_validate(d, "orders", &rev, &err), BG_EINVAL);
    cr_expect(strstr(err.msg, "\"Bad Image\" is not an image reference") != NULL, "%s", err.msg);
    rev.image = NULL;
    cr_expect_eq(bg_driver_validate(d, "orders", &rev, &err), BG_EINVAL);
    rev.image = "ghcr.io/org/app:1.2.3";
    cr_expect_eq(bg_driver_validate(d, "orders", &rev, &err), 0);
    bg_driver_close(d, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0);
}
