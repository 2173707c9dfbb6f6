/* bg_actuator_judge on every body of tests/data/actuator (verdicts from
 * manifest.json) and on the README's suggested negative inputs. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "health/health.h"
#include "health/internal.h"

#define DATA_DIR "tests/data/actuator/"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static bg_actuator_verdict_t judge_str(int status, const char *body, char *reason)
{
    return bg_actuator_judge(status, body, strlen(body), reason, 256);
}

/* "healthy" -> true; "unhealthy" and "unhealthy (recommended)" -> false. */
static bool expected_healthy(const char *verdict)
{
    if (strcmp(verdict, "healthy") == 0)
        return true;
    cr_assert(strncmp(verdict, "unhealthy", 9) == 0, "unexpected verdict '%s'", verdict);
    return false;
}

Test(actuator, manifest_bodies)
{
    json_error_t jerr;
    json_t *m = json_load_file(DATA_DIR "manifest.json", 0, &jerr);
    cr_assert_not_null(m, "manifest: %s", jerr.text);
    json_t *cases = json_object_get(m, "cases");
    cr_assert_eq(json_array_size(cases), 16);
    size_t i, n_healthy = 0;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *body_path = json_string_value(json_object_get(c, "body"));
        int status = (int)json_integer_value(json_object_get(c, "http_status"));
        const char *field = json_string_value(json_object_get(c, "status_field"));
        bool want =
            expected_healthy(json_string_value(json_object_get(c, "health_checker_verdict")));
        char path[512];
        snprintf(path, sizeof(path), DATA_DIR "%s", body_path);
        size_t len;
        char *body = read_file(path, &len);
        char reason[256];
        bg_actuator_verdict_t v = bg_actuator_judge(status, body, len, reason, sizeof(reason));
        cr_expect_eq(v, want ? BG_ACTUATOR_HEALTHY : BG_ACTUATOR_UNHEALTHY,
                     "%s: verdict %d reason '%s'", body_path, v, reason);
        cr_expect(strncmp(reason, field, strlen(field)) == 0, "%s: reason '%s' lacks '%s'",
                  body_path, reason, field);
        n_healthy += want;
        free(body);
    }
    cr_expect_eq(n_healthy, 9);
    json_decref(m);
}

Test(actuator, names_failing_component)
{
    char reason[256];
    size_t len;
    char *body = read_file(DATA_DIR "bodies/13-overall-down-one-component-down.json", &len);
    cr_assert_eq(bg_actuator_judge(503, body, len, reason, sizeof(reason)), BG_ACTUATOR_UNHEALTHY);
    cr_expect_str_eq(reason, "DOWN (charlie: DOWN)");
    free(body);

    body = read_file(DATA_DIR "bodies/16-health-with-exception-detail.json", &len);
    cr_assert_eq(bg_actuator_judge(503, body, len, reason, sizeof(reason)), BG_ACTUATOR_UNHEALTHY);
    cr_expect_str_eq(reason, "DOWN (db: DOWN)");
    free(body);
}

Test(actuator, nested_components_named_by_path)
{
    char reason[256];
    const char *body = "{\"status\":\"DOWN\",\"components\":{"
                       "\"broker\":{\"status\":\"DOWN\",\"components\":{"
                       "\"us1\":{\"status\":\"DOWN\",\"details\":{\"version\":\"1.0.2\"}},"
                       "\"us2\":{\"status\":\"UP\"}}},"
                       "\"db\":{\"status\":\"OUT_OF_SERVICE\"},"
                       "\"diskSpace\":{\"status\":\"UP\",\"details\":{\"total\":1}}}}";
    cr_assert_eq(judge_str(503, body, reason), BG_ACTUATOR_UNHEALTHY);
    cr_expect_str_eq(reason, "DOWN (broker/us1: DOWN, db: OUT_OF_SERVICE)");
}

Test(actuator, composite_down_with_healthy_children_is_named)
{
    char reason[256];
    const char *body = "{\"status\":\"DOWN\",\"components\":{\"broker\":{\"status\":\"DOWN\","
                       "\"components\":{\"us1\":{\"status\":\"UP\"}}}}}";
    cr_assert_eq(judge_str(503, body, reason), BG_ACTUATOR_UNHEALTHY);
    cr_expect_str_eq(reason, "DOWN (broker: DOWN)");
}

Test(actuator, v2_details_nesting)
{
    char reason[256];
    const char *body = "{\"status\":\"DOWN\",\"details\":{\"db\":{\"status\":\"DOWN\","
                       "\"details\":{\"error\":\"boom\"}},\"disk\":{\"status\":\"UP\"}}}";
    cr_assert_eq(judge_str(503, body, reason), BG_ACTUATOR_UNHEALTHY);
    cr_expect_str_eq(reason, "DOWN (db: DOWN)");
}

Test(actuator, top_level_status_only_decides)
{
    char reason[256];
    /* case 05: components disagree with the top level; the top level wins. */
    cr_expect_eq(judge_str(200,
                           "{\"status\":\"UP\",\"components\":{\"db2\":{\"status\":\"DOWN\"}}}",
                           reason),
                 BG_ACTUATOR_HEALTHY);
    cr_expect_str_eq(reason, "UP");
    /* and all-UP components do not rescue a DOWN top level. */
    cr_expect_eq(
        judge_str(503, "{\"status\":\"DOWN\",\"components\":{\"db\":{\"status\":\"UP\"}}}", reason),
        BG_ACTUATOR_UNHEALTHY);
    cr_expect_str_eq(reason, "DOWN");
}

Test(actuator, http_status_matters)
{
    char reason[256];
    cr_expect_eq(judge_str(503, "{\"status\":\"UP\"}", reason), BG_ACTUATOR_UNHEALTHY);
    cr_expect_str_eq(reason, "UP but HTTP 503");
    cr_expect_eq(judge_str(204, "{\"status\":\"UP\"}", reason), BG_ACTUATOR_HEALTHY);
    cr_expect_eq(judge_str(200, "{\"status\":\"UNKNOWN\"}", reason), BG_ACTUATOR_UNHEALTHY);
    cr_expect_str_eq(reason, "UNKNOWN");
    cr_expect_eq(judge_str(200, "{\"status\":\"FATAL\"}", reason), BG_ACTUATOR_UNHEALTHY);
    cr_expect_eq(judge_str(302, "{\"status\":\"UP\"}", reason), BG_ACTUATOR_UNHEALTHY);
}

Test(actuator, negative_inputs)
{
    char reason[256];
    cr_expect_eq(judge_str(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", reason),
                 BG_ACTUATOR_INVALID);
    cr_expect(strstr(reason, "HTTP 502") != NULL, "%s", reason);
    cr_expect_eq(judge_str(200, "{\"status\":\"UP\",\"compo", reason), BG_ACTUATOR_INVALID);
    cr_expect_eq(judge_str(200, "", reason), BG_ACTUATOR_INVALID);
    cr_expect(strstr(reason, "empty body") != NULL, "%s", reason);
    /* Lower case is not Actuator's spelling: documented as unhealthy. */
    cr_expect_eq(judge_str(200, "{\"status\":\"up\"}", reason), BG_ACTUATOR_UNHEALTHY);
    cr_expect_eq(judge_str(200, "[\"UP\"]", reason), BG_ACTUATOR_INVALID);
    cr_expect_eq(judge_str(200, "{\"status\":true}", reason), BG_ACTUATOR_INVALID);
    cr_expect_eq(judge_str(200, "{\"health\":\"UP\"}", reason), BG_ACTUATOR_INVALID);
    cr_expect_eq(judge_str(200, "\"UP\"", reason), BG_ACTUATOR_INVALID);
    cr_expect_eq(judge_str(200, "{\"status\":\"UP\"} trailing", reason), BG_ACTUATOR_INVALID);
}

Test(actuator, reason_truncates_safely)
{
    char small[8];
    const char *body = "{\"status\":\"DOWN\",\"components\":{\"database-primary\":"
                       "{\"status\":\"DOWN\"}}}";
    cr_expect_eq(bg_actuator_judge(503, body, strlen(body), small, sizeof(small)),
                 BG_ACTUATOR_UNHEALTHY);
    cr_expect_eq(strlen(small), sizeof(small) - 1);
    cr_expect_eq(bg_actuator_judge(200, "{\"status\":\"UP\"}", 15, NULL, 0), BG_ACTUATOR_HEALTHY);
}

Test(actuator, deep_nesting_does_not_crash)
{
    char body[8192], reason[256];
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n,
                              "{\"status\":\"DOWN\",\"components\":{\"c\":");
    n += (size_t)snprintf(body + n, sizeof(body) - n, "{\"status\":\"DOWN\"}");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "}}");
    cr_expect_neq(bg_actuator_judge(503, body, n, reason, sizeof(reason)), BG_ACTUATOR_HEALTHY);
}

Test(actuator, content_types)
{
    cr_expect(bg_actuator_content_type_ok("application/json"));
    cr_expect(bg_actuator_content_type_ok("application/json;charset=UTF-8"));
    cr_expect(bg_actuator_content_type_ok("application/vnd.spring-boot.actuator.v3+json"));
    cr_expect(
        bg_actuator_content_type_ok("application/vnd.spring-boot.actuator.v3+json; charset=UTF-8"));
    cr_expect(bg_actuator_content_type_ok("Application/JSON"));
    cr_expect(bg_actuator_content_type_ok("application/vnd.spring-boot.actuator.v2+json"));
    cr_expect_not(bg_actuator_content_type_ok("text/plain"));
    cr_expect_not(bg_actuator_content_type_ok("text/html; charset=utf-8"));
    cr_expect_not(bg_actuator_content_type_ok("application/jsonx"));
    cr_expect_not(bg_actuator_content_type_ok(""));
    cr_expect_not(bg_actuator_content_type_ok(NULL));
}

Test(matcher, ranges)
{
    bg_status_range_t r[] = {{200, 200}, {300, 302}};
    cr_expect(bg_matcher_match(r, 2, 200));
    cr_expect(bg_matcher_match(r, 2, 301));
    cr_expect_not(bg_matcher_match(r, 2, 204));
    cr_expect_not(bg_matcher_match(r, 2, 303));
    cr_expect(bg_matcher_match(NULL, 0, 200));
    cr_expect(bg_matcher_match(NULL, 0, 399));
    cr_expect_not(bg_matcher_match(NULL, 0, 404));
    cr_expect_not(bg_matcher_match(NULL, 0, 199));
}
