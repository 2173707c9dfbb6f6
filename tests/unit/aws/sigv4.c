/* SigV4 against AWS's own vectors: every case of the sigv4 test suite (canonical request,
 * string to sign, Authorization header) and every ECS/ELBv2 request botocore signed with a
 * frozen clock (canonical request, string to sign, signature, Authorization), byte for byte.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws/aws.h"
#include "base/base.h"
#include "base/file.h"

#define SUITE "tests/data/aws/sigv4-test-suite"
#define BOTO "tests/data/aws/sigv4-ecs-elbv2"

static char *slurp(const char *dir, const char *name, const char *ext)
{
    char path[2048];
    snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext);
    char *text = NULL;
    size_t len;
    if (bg_file_read(path, &text, &len, NULL) != 0)
        return NULL;
    return text;
}

typedef struct parsed {
    char *method, *path, *query, *body;
    bg_aws_kv_t h[32];
    char *names[32], *values[32];
    size_t n;
} parsed_t;

static void parsed_fini(parsed_t *p)
{
    free(p->method);
    free(p->path);
    free(p->query);
    free(p->body);
    for (size_t i = 0; i < p->n; i++) {
        free(p->names[i]);
        free(p->values[i]);
    }
}

/* A raw .req: request line (the target may hold spaces), header lines (a line starting
 * with whitespace continues the previous value, folded with one space), blank line, body. */
static void parse_req(const char *raw, parsed_t *p)
{
    memset(p, 0, sizeof(*p));
    char *text = strdup(raw);
    char *save = NULL, *cur = text;
    char *eol = strchr(cur, '\n');
    if (eol)
        *eol = '\0';
    char *line = cur;
    size_t ll = strlen(line);
    if (ll && line[ll - 1] == '\r')
        line[--ll] = '\0';
    char *sp = strchr(line, ' ');
    char *ver = strstr(line, " HTTP/");
    cr_assert(sp && ver, "request line %s", line);
    p->method = strndup(line, (size_t)(sp - line));
    char *target = strndup(sp + 1, (size_t)(ver - sp - 1));
    char *q = strchr(target, '?');
    if (q) {
        p->query = strdup(q + 1);
        *q = '\0';
    }
    p->path = target;
    cur = eol ? eol + 1 : cur + ll;
    while (*cur) {
        eol = strchr(cur, '\n');
        if (eol)
            *eol = '\0';
        size_t len = strlen(cur);
        if (len && cur[len - 1] == '\r')
            cur[--len] = '\0';
        if (len == 0) {
            cur = eol ? eol + 1 : cur;
            p->body = strdup(eol ? cur : "");
            break;
        }
        if ((cur[0] == ' ' || cur[0] == '\t') && p->n > 0) {
            char *v = p->values[p->n - 1];
            char *joined = bg_asprintf("%s %s", v, cur);
            free(v);
            p->values[p->n - 1] = joined;
        } else {
            char *colon = strchr(cur, ':');
            cr_assert(colon, "header line %s", cur);
            cr_assert(p->n < 32);
            p->names[p->n] = strndup(cur, (size_t)(colon - cur));
            p->values[p->n] = strdup(colon + 1);
            p->n++;
        }
        if (!eol)
            break;
        cur = eol + 1;
    }
    (void)save;
    for (size_t i = 0; i < p->n; i++)
        p->h[i] = (bg_aws_kv_t){p->names[i], p->values[i]};
    free(text);
}

static unsigned suite_cases;

static void check_suite_case(const char *dir, const char *name)
{
    char *req = slurp(dir, name, ".req");
    char *creq = slurp(dir, name, ".creq"), *sts = slurp(dir, name, ".sts");
    char *authz = slurp(dir, name, ".authz");
    cr_assert(req && creq && sts && authz, "%s: files missing", name);
    parsed_t p;
    parse_req(req, &p);
    const char *date = NULL;
    for (size_t i = 0; i < p.n; i++)
        if (strcasecmp(p.names[i], "X-Amz-Date") == 0)
            date = p.values[i];
    cr_assert(date, "%s: no X-Amz-Date", name);
    /* This case signs with temporary credentials: the signer's caller adds the token as
     * X-Amz-Security-Token before signing (botocore's test gives this token). */
    if (strcmp(name, "get-vanilla-with-session-token") == 0) {
        p.names[p.n] = strdup("X-Amz-Security-Token");
        p.values[p.n] = strdup("6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267");
        p.h[p.n] = (bg_aws_kv_t){p.names[p.n], p.values[p.n]};
        p.n++;
    }
    bg_aws_creds_t creds = {.access_key_id = "AKIDEXAMPLE",
                            .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};
    bg_aws_sigv4_req_t in = {
        .method = p.method,
        .path = p.path,
        .query = p.query,
        .headers = p.h,
        .n_headers = p.n,
        .payload = p.body,
        .payload_len = p.body ? strlen(p.body) : 0,
        .region = "us-east-1",
        .service = "service",
        .amz_date = date,
    };
    bg_aws_sigv4_t out;
    bg_aws_sigv4_init(&out);
    bg_err_t err;
    cr_assert_eq(bg_aws_sigv4_sign(&in, &creds, &out, &err), 0, "%s: %s", name, err.msg);
    cr_expect_str_eq(out.canonical_request.data, creq, "%s: canonical request", name);
    cr_expect_str_eq(out.string_to_sign.data, sts, "%s: string to sign", name);
    cr_expect_str_eq(out.authorization.data, authz, "%s: authorization", name);
    bg_aws_sigv4_fini(&out);
    parsed_fini(&p);
    free(req);
    free(creq);
    free(sts);
    free(authz);
    suite_cases++;
}

static int visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    size_t n = strlen(path);
    if (flag != FTW_F || n < 5 || strcmp(path + n - 4, ".req") != 0)
        return 0;
    char dir[1024], name[256];
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    snprintf(name, sizeof(name), "%.*s", (int)(n - 4 - (size_t)(slash - path) - 1), slash + 1);
    check_suite_case(dir, name);
    return 0;
}

Test(aws_sigv4, every_aws_test_suite_vector)
{
    cr_assert_eq(nftw(SUITE, visit, 16, FTW_PHYS), 0);
    /* The suite holds 34 requests (normalize-path and post-sts-token included). */
    cr_assert_eq(suite_cases, 34, "vectors checked: %u", suite_cases);
}

static void check_boto_case(const char *name)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/%s", BOTO, name);
    char *ctx_text = slurp(dir, "context.json", ""), *req = slurp(dir, "request.txt", "");
    char *creq = slurp(dir, "canonical-request.txt", "");
    char *sts = slurp(dir, "string-to-sign.txt", ""), *sig = slurp(dir, "signature.txt", "");
    char *authz = slurp(dir, "authorization.txt", "");
    cr_assert(ctx_text && req && creq && sts && sig && authz, "%s: files missing", name);
    json_t *ctx = json_loads(ctx_text, 0, NULL);
    cr_assert(ctx);
    json_t *c = json_object_get(ctx, "credentials");
    bg_aws_creds_t creds = {
        .access_key_id = (char *)json_string_value(json_object_get(c, "access_key_id")),
        .secret_access_key = (char *)json_string_value(json_object_get(c, "secret_access_key")),
        .session_token = (char *)json_string_value(json_object_get(c, "session_token")),
    };
    int64_t t = 0;
    struct tm tm = {0};
    cr_assert(
        strptime(json_string_value(json_object_get(ctx, "timestamp")), "%Y-%m-%dT%H:%M:%SZ", &tm));
    t = (int64_t)timegm(&tm);
    char amz_date[17];
    bg_aws_amz_date(t, amz_date);

    parsed_t p;
    parse_req(req, &p);
    /* botocore signs the headers listed in signed_headers: those of the request plus
     * X-Amz-Date and X-Amz-Security-Token, which it adds while signing. */
    json_t *signed_names = json_object_get(ctx, "signed_headers");
    bg_aws_kv_t h[16];
    size_t n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(signed_names, i, v)
    {
        const char *want = json_string_value(v);
        if (strcmp(want, "x-amz-date") == 0) {
            h[n++] = (bg_aws_kv_t){"X-Amz-Date", amz_date};
            continue;
        }
        if (strcmp(want, "x-amz-security-token") == 0) {
            h[n++] = (bg_aws_kv_t){"X-Amz-Security-Token", creds.session_token};
            continue;
        }
        for (size_t k = 0; k < p.n; k++)
            if (strcasecmp(p.names[k], want) == 0)
                h[n++] = p.h[k];
    }
    cr_assert_eq(n, json_array_size(signed_names), "%s: a signed header is missing", name);
    bg_aws_sigv4_req_t in = {
        .method = p.method,
        .path = p.path,
        .query = p.query,
        .headers = h,
        .n_headers = n,
        .payload = p.body,
        .payload_len = p.body ? strlen(p.body) : 0,
        .region = json_string_value(json_object_get(ctx, "region")),
        .service = json_string_value(json_object_get(ctx, "service")),
        .amz_date = amz_date,
    };
    bg_aws_sigv4_t out;
    bg_aws_sigv4_init(&out);
    bg_err_t err;
    cr_assert_eq(bg_aws_sigv4_sign(&in, &creds, &out, &err), 0, "%s: %s", name, err.msg);
    cr_expect_str_eq(out.canonical_request.data, creq, "%s: canonical request", name);
    cr_expect_str_eq(out.string_to_sign.data, sts, "%s: string to sign", name);
    cr_expect_str_eq(out.signature, sig, "%s: signature", name);
    cr_expect_str_eq(out.authorization.data, authz, "%s: authorization", name);
    bg_aws_sigv4_fini(&out);
    parsed_fini(&p);
    json_decref(ctx);
    free(ctx_text);
    free(req);
    free(creq);
    free(sts);
    free(sig);
    free(authz);
}

Test(aws_sigv4, every_botocore_ecs_elbv2_vector)
{
    DIR *d = opendir(BOTO);
    cr_assert(d);
    struct dirent *e;
    unsigned n = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        check_boto_case(e->d_name);
        n++;
    }
    closedir(d);
    cr_assert_eq(n, 15, "vectors checked: %u", n);
}

Test(aws_sigv4, bad_date_and_missing_keys_are_refused)
{
    bg_aws_creds_t creds = {.access_key_id = "A", .secret_access_key = "S"};
    bg_aws_sigv4_req_t in = {.method = "GET",
                             .path = "/",
                             .region = "us-east-1",
                             .service = "ecs",
                             .amz_date = "2015-08-30"};
    bg_aws_sigv4_t out;
    bg_aws_sigv4_init(&out);
    bg_err_t err;
    cr_expect_eq(bg_aws_sigv4_sign(&in, &creds, &out, &err), BG_EINVAL);
    in.amz_date = "20150830T123600Z";
    bg_aws_creds_t none = {0};
    cr_expect_eq(bg_aws_sigv4_sign(&in, &none, &out, &err), BG_EINVAL);
    cr_expect(strstr(err.msg, "credentials") != NULL);
    bg_aws_sigv4_fini(&out);
}
