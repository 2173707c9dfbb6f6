/* Wire formats: the query protocol's form serialisation and XML responses (parsed with
 * libxml2, never by hand), JSON 1.1 error bodies, AWS error codes -> our codes, and small
 * value helpers (timestamps, UUIDs, numbers that arrive as text).
 */
#include "aws/internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/rand.h>

#include "base/base.h"
#include "base/compat.h"

/* ---- query serialisation: lists -> Name.member.N, structures -> Name.Sub ---- */

static void flatten(bg_buf_t *out, const char *prefix, const json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *sub;
        json_object_foreach((json_t *)v, k, sub)
        {
            char *name = prefix ? bg_asprintf("%s.%s", prefix, k) : bg_strdup(k);
            flatten(out, name, sub);
            free(name);
        }
        return;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *sub;
        /* An empty list is sent as "Name=" so the service sees it was given. */
        if (json_array_size(v) == 0) {
            bg_buf_printf(out, "&%s=", prefix);
            return;
        }
        json_array_foreach(v, i, sub)
        {
            char *name = bg_asprintf("%s.member.%zu", prefix, i + 1);
            flatten(out, name, sub);
            free(name);
        }
        return;
    }
    char num[64];
    const char *text = NULL;
    if (json_is_string(v))
        text = json_string_value(v);
    else if (json_is_true(v))
        text = "true";
    else if (json_is_false(v))
        text = "false";
    else if (json_is_integer(v))
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v)), text = num;
    else if (json_is_real(v))
        snprintf(num, sizeof(num), "%.17g", json_real_value(v)), text = num;
    if (text == NULL || prefix == NULL)
        return; /* null: member left out; a scalar without a name has no place */
    bg_buf_printf(out, "&");
    bg_aws_uri_encode(out, prefix, strlen(prefix), false);
    bg_buf_puts(out, "=");
    bg_aws_uri_encode(out, text, strlen(text), false);
}

void bg_aws_query_flatten(bg_buf_t *out, const json_t *params)
{
    if (params != NULL)
        flatten(out, NULL, params);
}

/* ---- XML responses ---- */

static bool is_elem(const xmlNode *n)
{
    return n && n->type == XML_ELEMENT_NODE;
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (is_elem(c) && strcmp((const char *)c->name, name) == 0)
            return c;
    return NULL;
}

static void child_text(const xmlNode *n, const char *name, char *out, size_t size)
{
    const xmlNode *c = child(n, name);
    if (c == NULL || out == NULL)
        return;
    xmlChar *t = xmlNodeGetContent(c);
    snprintf(out, size, "%s", t ? (const char *)t : "");
    xmlFree(t);
}

/* Element -> JSON: children all <member> (or <entry> for maps) -> array; other children ->
 * object (a repeated name becomes an array, as flattened lists are); no element children ->
 * the text (empty elements give ""). */
static json_t *to_json(const xmlNode *n)
{
    const xmlNode *c;
    bool any = false, all_member = true;
    for (c = n->children; c; c = c->next) {
        if (!is_elem(c))
            continue;
        any = true;
        if (strcmp((const char *)c->name, "member") != 0)
            all_member = false;
    }
    if (!any) {
        xmlChar *t = xmlNodeGetContent(n);
        json_t *s = json_string(t ? (const char *)t : "");
        xmlFree(t);
        return s ? s : json_string("");
    }
    if (all_member) {
        json_t *a = json_array();
        for (c = n->children; c; c = c->next)
            if (is_elem(c))
                json_array_append_new(a, to_json(c));
        return a;
    }
    json_t *o = json_object(), *repeated = json_object();
    for (c = n->children; c; c = c->next) {
        if (!is_elem(c))
            continue;
        const char *k = (const char *)c->name;
        json_t *prev = json_object_get(o, k);
        json_t *v = to_json(c);
        if (prev == NULL) {
            json_object_set_new(o, k, v);
        } else if (json_object_get(repeated, k) != NULL) {
            json_array_append_new(prev, v);
        } else {
            json_t *a = json_array();
            json_array_append(a, prev);
            json_array_append_new(a, v);
            json_object_set_new(o, k, a);
            json_object_set_new(repeated, k, json_true());
        }
    }
    json_decref(repeated);
    return o;
}

int bg_aws_xml_parse(const char *xml, size_t len, const char *op, json_t **result, char *code,
                     size_t code_size, char *msg, size_t msg_size, char *request_id,
                     size_t rid_size)
{
    *result = NULL;
    /* XML_PARSE_NONET: never fetch a DTD; no entity expansion (libxml2's default). */
    xmlDoc *doc = xmlReadMemory(xml, (int)len, "aws.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (doc == NULL)
        return -1;
    int rc = -1;
    const xmlNode *root = xmlDocGetRootElement(doc);
    if (root == NULL)
        goto out;
    if (strcmp((const char *)root->name, "ErrorResponse") == 0 ||
        strcmp((const char *)root->name, "Error") == 0) {
        const xmlNode *e =
            strcmp((const char *)root->name, "Error") == 0 ? root : child(root, "Error");
        child_text(e, "Code", code, code_size);
        child_text(e, "Message", msg, msg_size);
        child_text(root, "RequestId", request_id, rid_size);
        if (request_id && *request_id == '\0')
            child_text(e, "RequestId", request_id, rid_size);
        rc = 1;
        goto out;
    }
    char want[160];
    snprintf(want, sizeof(want), "%sResponse", op);
    if (strcmp((const char *)root->name, want) != 0)
        goto out;
    const xmlNode *meta = child(root, "ResponseMetadata");
    if (meta)
        child_text(meta, "RequestId", request_id, rid_size);
    snprintf(want, sizeof(want), "%sResult", op);
    const xmlNode *res = child(root, want);
    *result = res ? to_json(res) : json_object();
    if (!json_is_object(*result)) {
        /* <OpResult/> with no members. */
        json_decref(*result);
        *result = json_object();
    }
    rc = 0;
out:
    xmlFreeDoc(doc);
    return rc;
}

void bg_aws_json_error(const json_t *body, char *code, size_t code_size, char *msg, size_t msg_size)
{
    const char *type = json_string_value(json_object_get(body, "__type"));
    if (type) {
        const char *hash = strrchr(type, '#');
        snprintf(code, code_size, "%s", hash ? hash + 1 : type);
    }
    const char *m = json_string_value(json_object_get(body, "message"));
    if (m == NULL)
        m = json_string_value(json_object_get(body, "Message"));
    if (m)
        snprintf(msg, msg_size, "%s", m);
}

/* ---- error codes ---- */

static const char *const THROTTLING[] = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
};

static bool in(const char *code, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(code, list[i]) == 0)
            return true;
    return false;
}

bool bg_aws_is_throttling(const char *aws_code)
{
    return aws_code && in(aws_code, THROTTLING, BG_ARRAY_LEN(THROTTLING));
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int bg_aws_error_code(const char *aws_code, long http_status)
{
    static const char *const AUTH[] = {
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidSignatureException",
        "AuthFailure",
        "UnauthorizedOperation",
    };
    static const char *const INVALID[] = {
        "ValidationError",
        "ValidationException",
        "InvalidParameterException",
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "MissingParameter",
        "InvalidAction",
        "UnknownOperationException",
        "SerializationException",
        "InvalidQueryParameter",
        "MalformedQueryString",
        "InvalidConfigurationRequest",
        "InvalidParameterValueException",
        "ClientException",
        "PlatformUnknownException",
    };
    static const char *const CONFLICT[] = {
        "ResourceInUse",
        "ResourceInUseException",
        "ServiceNotActiveException",
        "UpdateInProgressException",
        "OperationNotPermitted",
        "PriorityInUse",
        "IncompatibleProtocols",
        "TargetGroupAssociationLimit",
    };
    static const char *const UNAVAIL[] = {
        "ServiceUnavailable",      "ServiceUnavailableException",
        "InternalFailure",         "InternalError",
        "ServerException",         "RequestTimeout",
        "RequestTimeoutException",
    };
    char code[128];
    snprintf(code, sizeof(code), "%s", aws_code ? aws_code : "");
    char *cut = strchr(code, ':'); /* "Throttling:http://..." in some x-amzn-ErrorType */
    if (cut)
        *cut = '\0';
    const char *hash = strrchr(code, '#');
    const char *c = hash ? hash + 1 : code;
    if (*c != '\0') {
        if (in(c, AUTH, BG_ARRAY_LEN(AUTH)))
            return BG_EREFUSED;
        if (bg_aws_is_throttling(c) || in(c, UNAVAIL, BG_ARRAY_LEN(UNAVAIL)))
            return BG_EUNAVAIL;
        if (in(c, INVALID, BG_ARRAY_LEN(INVALID)))
            return BG_EINVAL;
        if (in(c, CONFLICT, BG_ARRAY_LEN(CONFLICT)))
            return BG_ECONFLICT;
        if (ends_with(c, "NotFound") || ends_with(c, "NotFoundException"))
            return BG_ENOTFOUND;
        if (strncmp(c, "Duplicate", 9) == 0)
            return BG_EEXIST;
    }
    if (http_status >= 500)
        return BG_EUNAVAIL;
    if (http_status == 403 || http_status == 401)
        return BG_EREFUSED;
    if (http_status == 404)
        return BG_ENOTFOUND;
    if (http_status == 409)
        return BG_ECONFLICT;
    return http_status >= 400 ? BG_EINVAL : BG_EPROTO;
}

/* ---- values ---- */

bool bg_aws_json_int(const json_t *obj, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    const char *s = json_string_value(v);
    if (s == NULL || *s == '\0')
        return false;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = x;
    return true;
}

bool bg_aws_json_real(const json_t *obj, const char *key, double *out)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return true;
    }
    const char *s = json_string_value(v);
    if (s == NULL || *s == '\0')
        return false;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno != 0 || *end != '\0')
        return false;
    *out = x;
    return true;
}

bool bg_aws_parse_time(const char *s, int64_t *out)
{
    struct tm tm = {0};
    const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (p == NULL)
        return false;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++;
    }
    int64_t offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm;
        char sign = *p;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return false;
        offset = (int64_t)(hh * 3600 + mm * 60) * (sign == '+' ? 1 : -1);
        p += 6;
    } else {
        return false;
    }
    if (*p != '\0')
        return false;
    *out = (int64_t)timegm(&tm) - offset;
    return true;
}

char *bg_aws_amz_date(int64_t unix_s, char *out)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
    return out;
}

void bg_aws_uuid(char out[37])
{
    unsigned char r[16];
    if (RAND_bytes(r, sizeof(r)) != 1) {
        for (size_t i = 0; i < sizeof(r); i++)
            r[i] = (unsigned char)random();
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
             r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
             r[14], r[15]);
}
