/* AWS Signature Version 4 (docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request):
 * canonical request -> string to sign -> HMAC-SHA256 chain of the secret over date, region,
 * service and "aws4_request". Pure computation: no I/O, no clock (the caller passes the
 * X-Amz-Date value), so every step is checked byte for byte against the AWS test suite.
 */
#include "aws/aws.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "aws/internal.h"
#include "base/base.h"
#include "base/compat.h"

static const char HEX[] = "0123456789abcdef";

void bg_aws_hex(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = HEX[in[i] >> 4];
        out[2 * i + 1] = HEX[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void bg_aws_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data ? data : (const void *)"", len, md);
    bg_aws_hex(md, sizeof(md), out);
}

static void hmac(const void *key, size_t key_len, const char *msg, size_t msg_len,
                 unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, msg_len, out, &n);
}

static bool unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

void bg_aws_uri_encode(bg_buf_t *b, const char *s, size_t len, bool keep_slash)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            bg_buf_append(b, &s[i], 1);
        } else {
            char esc[3] = {'%', "0123456789ABCDEF"[c >> 4], "0123456789ABCDEF"[c & 15]};
            bg_buf_append(b, esc, 3);
        }
    }
}

/* Percent-decodes s[0..len) into a new string; a malformed escape stays literal. */
static char *uri_decode(const char *s, size_t len)
{
    char *out = bg_xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = bg_hex_digit(s[i + 1])) >= 0 &&
            (lo = bg_hex_digit(s[i + 2])) >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* Canonical URI: RFC 3986 §5.2.4 dot-segment removal, empty segments dropped (the suite's
 * normalize-path cases; S3 would not normalise, but we never sign for S3), then each byte
 * outside the unreserved set percent-encoded, '/' kept. */
static void canonical_uri(bg_buf_t *b, const char *path)
{
    size_t n = 0, cap = 8;
    bg_str_t *seg = bg_xmalloc(cap * sizeof(*seg));
    const char *p = path && *path ? path : "/";
    /* "/a/", "/a/." and "/a/b/.." keep their trailing slash (RFC 3986 §5.2.4). */
    size_t plen = strlen(p);
    bool trailing = p[plen - 1] == '/' || (plen >= 2 && strcmp(p + plen - 2, "/.") == 0) ||
                    (plen >= 3 && strcmp(p + plen - 3, "/..") == 0);
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        bg_str_t s = {p, len};
        if (len == 0 || bg_str_eq(s, BG_STR_LIT("."))) {
            /* nothing */
        } else if (bg_str_eq(s, BG_STR_LIT(".."))) {
            if (n > 0)
                n--;
        } else {
            if (n == cap) {
                cap *= 2;
                seg = bg_xrealloc(seg, cap * sizeof(*seg));
            }
            seg[n++] = s;
        }
        p += len;
    }
    bg_buf_puts(b, "/");
    for (size_t i = 0; i < n; i++) {
        char *raw = uri_decode(seg[i].ptr, seg[i].len);
        if (i > 0)
            bg_buf_puts(b, "/");
        bg_aws_uri_encode(b, raw, strlen(raw), false);
        free(raw);
    }
    if (n > 0 && trailing)
        bg_buf_puts(b, "/");
    free(seg);
}

typedef struct qparam {
    char *key, *value; /* encoded */
} qparam_t;

static int qparam_cmp(const void *a, const void *b)
{
    const qparam_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value, y->value);
}

static char *encode_new(const char *s, size_t len)
{
    char *raw = uri_decode(s, len);
    bg_buf_t b;
    bg_buf_init(&b);
    bg_aws_uri_encode(&b, raw, strlen(raw), false);
    free(raw);
    if (b.data == NULL)
        return bg_strdup("");
    return bg_buf_steal(&b);
}

/* Canonical query string: parameters decoded, re-encoded with the unreserved set, sorted
 * by key then value; a key without '=' gets an empty value. */
static void canonical_query(bg_buf_t *b, const char *query)
{
    if (query == NULL || *query == '\0')
        return;
    size_t n = 0, cap = 8;
    qparam_t *q = bg_xmalloc(cap * sizeof(*q));
    const char *p = query;
    while (*p) {
        const char *e = strchr(p, '&');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len;
            if (n == cap) {
                cap *= 2;
                q = bg_xrealloc(q, cap * sizeof(*q));
            }
            q[n].key = encode_new(p, klen);
            q[n].value = eq ? encode_new(eq + 1, len - klen - 1) : bg_strdup("");
            n++;
        }
        p += len + (e ? 1 : 0);
    }
    qsort(q, n, sizeof(*q), qparam_cmp);
    for (size_t i = 0; i < n; i++) {
        bg_buf_printf(b, "%s%s=%s", i ? "&" : "", q[i].key, q[i].value);
        free(q[i].key);
        free(q[i].value);
    }
    free(q);
}

typedef struct chdr {
    char *name;     /* lower case */
    bg_buf_t value; /* trimmed, runs of spaces collapsed, duplicates joined with ',' */
    size_t order;
} chdr_t;

static int chdr_cmp(const void *a, const void *b)
{
    const chdr_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->order < y->order ? -1 : x->order > y->order);
}

static void append_trimmed(bg_buf_t *b, const char *v)
{
    bg_str_t s = bg_str_trim(bg_str(v));
    bool space = false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            space = true;
            continue;
        }
        if (space)
            bg_buf_append(b, " ", 1);
        space = false;
        bg_buf_append(b, &c, 1);
    }
}

/* Builds the sorted, merged header list; returns its length. */
static size_t canonical_headers(const bg_aws_kv_t *h, size_t n, chdr_t **out)
{
    chdr_t *c = bg_xcalloc(n ? n : 1, sizeof(*c));
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char *lname = bg_strdup(h[i].name);
        for (char *p = lname; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        size_t j;
        for (j = 0; j < m; j++)
            if (strcmp(c[j].name, lname) == 0)
                break;
        if (j < m) {
            bg_buf_append(&c[j].value, ",", 1);
            append_trimmed(&c[j].value, h[i].value);
            free(lname);
            continue;
        }
        c[m].name = lname;
        c[m].order = m;
        bg_buf_init(&c[m].value);
        bg_buf_reserve(&c[m].value, 1);
        append_trimmed(&c[m].value, h[i].value);
        m++;
    }
    qsort(c, m, sizeof(*c), chdr_cmp);
    *out = c;
    return m;
}

void bg_aws_sigv4_init(bg_aws_sigv4_t *out)
{
    memset(out, 0, sizeof(*out));
    bg_buf_init(&out->canonical_request);
    bg_buf_init(&out->string_to_sign);
    bg_buf_init(&out->authorization);
}

void bg_aws_sigv4_fini(bg_aws_sigv4_t *out)
{
    bg_buf_fini(&out->canonical_request);
    bg_buf_fini(&out->string_to_sign);
    bg_buf_fini(&out->authorization);
}

int bg_aws_sigv4_sign(const bg_aws_sigv4_req_t *req, const bg_aws_creds_t *creds,
                      bg_aws_sigv4_t *out, bg_err_t *err)
{
    if (req->amz_date == NULL || strlen(req->amz_date) != 16 || req->amz_date[8] != 'T')
        return bg_err_set(err, BG_EINVAL, "sigv4: X-Amz-Date must look like 20150830T123600Z");
    if (creds == NULL || creds->access_key_id == NULL || creds->secret_access_key == NULL)
        return bg_err_set(err, BG_EINVAL, "sigv4: no credentials to sign with");

    bg_buf_t *cr = &out->canonical_request;
    bg_buf_reset(cr);
    bg_buf_printf(cr, "%s\n", req->method);
    canonical_uri(cr, req->path);
    bg_buf_puts(cr, "\n");
    canonical_query(cr, req->query);
    bg_buf_puts(cr, "\n");

    chdr_t *h = NULL;
    size_t nh = canonical_headers(req->headers, req->n_headers, &h);
    bg_buf_t signed_names;
    bg_buf_init(&signed_names);
    for (size_t i = 0; i < nh; i++) {
        bg_buf_printf(cr, "%s:%s\n", h[i].name, h[i].value.data ? h[i].value.data : "");
        bg_buf_printf(&signed_names, "%s%s", i ? ";" : "", h[i].name);
        free(h[i].name);
        bg_buf_fini(&h[i].value);
    }
    free(h);
    char payload_hash[65];
    bg_aws_sha256_hex(req->payload, req->payload_len, payload_hash);
    bg_buf_printf(cr, "\n%s\n%s", signed_names.data ? signed_names.data : "", payload_hash);

    char date[9], cr_hash[65];
    memcpy(date, req->amz_date, 8);
    date[8] = '\0';
    bg_aws_sha256_hex(cr->data, cr->len, cr_hash);
    bg_buf_t *sts = &out->string_to_sign;
    bg_buf_reset(sts);
    bg_buf_printf(sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", req->amz_date, date,
                  req->region, req->service, cr_hash);

    /* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
    unsigned char k[32];
    char *secret = bg_asprintf("AWS4%s", creds->secret_access_key);
    hmac(secret, strlen(secret), date, 8, k);
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
    hmac(k, 32, req->region, strlen(req->region), k);
    hmac(k, 32, req->service, strlen(req->service), k);
    hmac(k, 32, "aws4_request", 12, k);
    unsigned char sig[32];
    hmac(k, 32, sts->data, sts->len, sig);
    OPENSSL_cleanse(k, sizeof(k));
    bg_aws_hex(sig, 32, out->signature);

    bg_buf_reset(&out->authorization);
    bg_buf_printf(&out->authorization,
                  "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
                  "Signature=%s",
                  creds->access_key_id, date, req->region, req->service,
                  signed_names.data ? signed_names.data : "", out->signature);
    bg_buf_fini(&signed_names);
    return 0;
}
