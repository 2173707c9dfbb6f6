/* The docker driver without an engine: validation, registry logins read from
 * DOCKER_CONFIG as X-Registry-Auth (auths, and credential helpers run for real by the
 * protocol), and an engine that is down (a pull fails with the transport's words, from the
 * loop, never from inside resolve; a scan finds nothing and lets the boot go on). The
 * engine itself is exercised end to end by tests/e2e/docker_deploy.sh. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    bg_driver_t *d = bg_driver_new(BG_DRIVER_DOCKER, &loop, dir, NULL, NULL, &err);
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
    cr_expect_null(bg_driver_new(BG_DRIVER_DOCKER, &loop, dir, NULL, NULL, &err));
    cr_expect(strstr(err.msg, "Unix socket only") != NULL, "%s", err.msg);
    setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock", 1);
    bg_driver_t *d = bg_driver_new(BG_DRIVER_DOCKER, &loop, dir, NULL, NULL, &err);
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

Test(docker, credential_helper_chosen_as_the_docker_cli_does)
{
    char helper[64], server[128], who[96];

    write_config("{\"auths\":{\"reg.example:5000\":{\"auth\":\"Y2k6czNjcmV0\"}},"
                 "\"credHelpers\":{\"https://reg.example:5000\":\"ecr-login\"},"
                 "\"credsStore\":\"pass\"}");
    cr_assert(dk_registry_helper("reg.example:5000", helper, sizeof(helper), server,
                                 sizeof(server)));
    cr_expect_str_eq(helper, "ecr-login", "credHelpers wins for its registry");
    cr_expect_str_eq(server, "reg.example:5000");
    cr_assert(dk_registry_helper("other.io", helper, sizeof(helper), server, sizeof(server)));
    cr_expect_str_eq(helper, "pass", "credsStore for every other registry");
    cr_assert(dk_registry_helper("", helper, sizeof(helper), server, sizeof(server)));
    cr_expect_str_eq(server, "https://index.docker.io/v1/", "Docker Hub's server address");
    write_config("{\"auths\":{\"reg.example:5000\":{\"auth\":\"Y2k6czNjcmV0\"}}}");
    cr_expect_not(dk_registry_helper("reg.example:5000", helper, sizeof(helper), server,
                                     sizeof(server)),
                  "no helper named: auths is used");

    const char *answer = "{\"ServerURL\":\"reg.example:5000\",\"Username\":\"ci\","
                         "\"Secret\":\"s3cret\"}\n";
    char *h = dk_helper_auth(answer, strlen(answer), "reg.example:5000", who, sizeof(who));
    cr_assert_not_null(h);
    cr_expect_str_eq(who, "user ci");
    /* the same header as the auths entry of the same login */
    cr_expect_str_eq(h + 17, "eyJ1c2VybmFtZSI6ImNpIiwicGFzc3dvcmQiOiJzM2NyZXQiLCJzZXJ2ZXJhZGRyZXNz"
                             "IjoicmVnLmV4YW1wbGU6NTAwMCJ9");
    free(h);
    answer = "{\"ServerURL\":\"r\",\"Username\":\"<token>\",\"Secret\":\"refresh\"}";
    h = dk_helper_auth(answer, strlen(answer), "r", who, sizeof(who));
    cr_assert_not_null(h);
    cr_expect_str_eq(who, "identity token");
    free(h);
    cr_expect_null(dk_helper_auth("not json", 8, "r", who, sizeof(who)));
    cr_expect_null(dk_helper_auth("{\"Username\":\"u\"}", 16, "r", who, sizeof(who)));
}

static int cred_status = 1;
static char cred_header[600], cred_who[200], cred_msg[600];

static void on_cred(void *arg, int status, const char *header, const char *who, const char *msg)
{
    (void)arg;
    cred_status = status;
    snprintf(cred_header, sizeof(cred_header), "%s", header ? header : "");
    snprintf(cred_who, sizeof(cred_who), "%s", who ? who : "");
    snprintf(cred_msg, sizeof(cred_msg), "%s", msg ? msg : "");
}

static void write_helper(const char *name, const char *body)
{
    char path[160];
    FILE *f;

    snprintf(path, sizeof(path), "%s/docker-credential-%s", dir, name);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    cr_assert_eq(chmod(path, 0755), 0);
}

/* Runs helper <name> for <server> to its answer; the loop must end with no handle left. */
static void run_helper(const char *name, const char *server, uint64_t timeout_ms)
{
    uv_loop_t loop;
    char path[4096];

    snprintf(path, sizeof(path), "%s:%s", dir, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    setenv("PATH", path, 1);
    cred_status = 1;
    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_not_null(dk_cred_start(&loop, name, server, timeout_ms, on_cred, NULL));
    cr_expect_eq(cred_status, 1, "the callback came from inside dk_cred_start()");
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_neq(cred_status, 1, "no answer");
    cr_expect_eq(uv_loop_close(&loop), 0, "handles left open");
}

Test(docker, credential_helper_protocol)
{
    /* As in serve (server.c): a helper that exits without reading its stdin makes the
     * write fail with EPIPE, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    /* get, the server on stdin, JSON on stdout */
    write_helper("t-ok", "[ \"$1\" = get ] || exit 3\nread -r s\n"
                         "printf '{\"ServerURL\":\"%s\",\"Username\":\"u-%s\",\"Secret\":\"p\"}' "
                         "\"$s\" \"$s\"");
    run_helper("t-ok", "reg.example:5000", 10000);
    cr_expect_eq(cred_status, 0, "%s", cred_msg);
    cr_expect_str_eq(cred_who, "user u-reg.example:5000 via docker-credential-t-ok");
    cr_expect(strncmp(cred_header, "X-Registry-Auth: ", 17) == 0, "%s", cred_header);

    write_helper("t-none", "echo 'credentials not found in native keychain'; exit 1");
    run_helper("t-none", "reg.example:5000", 10000);
    cr_expect_eq(cred_status, 0, "not found is no login, not an error: %s", cred_msg);
    cr_expect_str_eq(cred_header, "");
    cr_expect_str_eq(cred_who, "no login from docker-credential-t-none");

    write_helper("t-fail", "echo 'keychain locked' >&2; exit 4");
    run_helper("t-fail", "r", 10000);
    cr_expect_eq(cred_status, BG_EREFUSED);
    cr_expect(strstr(cred_msg, "docker-credential-t-fail failed (exit 4): keychain locked"),
              "%s", cred_msg);

    write_helper("t-junk", "echo hello");
    run_helper("t-junk", "r", 10000);
    cr_expect_eq(cred_status, BG_EPROTO);
    cr_expect(strstr(cred_msg, "answered no Username/Secret JSON") != NULL, "%s", cred_msg);

    /* a helper that never answers is killed at the timeout (and reaped: no handle left) */
    write_helper("t-slow", "exec sleep 30");
    uint64_t t0 = bg_now_ms();
    run_helper("t-slow", "r", 300);
    cr_expect_eq(cred_status, BG_ETIMEDOUT, "%s", cred_msg);
    cr_expect_lt(bg_now_ms() - t0, 10000, "the timeout did not end the wait");

    run_helper("t-not-installed", "r", 10000);
    cr_expect_eq(cred_status, BG_EREFUSED);
    cr_expect(strstr(cred_msg, "cannot run credential helper docker-credential-t-not-installed"),
              "%s", cred_msg);

    run_helper("../../bin/sh", "r", 10000);
    cr_expect_eq(cred_status, BG_EREFUSED);
    cr_expect(strstr(cred_msg, "not a helper name") != NULL, "%s", cred_msg);
}

static int count_found(void *arg, const bg_driver_found_t *f)
{
    (void)f;
    (*(int *)arg)++;
    return 0;
}

Test(docker, scan_without_an_engine_finds_nothing)
{
    uv_loop_t loop;
    bg_err_t err;
    char host[160];
    int found = 0;

    snprintf(host, sizeof(host), "unix://%s/no-engine.sock", dir);
    setenv("DOCKER_HOST", host, 1);
    cr_assert_eq(uv_loop_init(&loop), 0);
    bg_driver_t *d = bg_driver_new(BG_DRIVER_DOCKER, &loop, dir, NULL, NULL, &err);
    cr_assert_not_null(d, "%s", err.msg);
    cr_expect_eq(bg_driver_scan(d, count_found, &found), 0, "the boot goes on");
    cr_expect_eq(found, 0);
    bg_driver_close(d, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0);
}
