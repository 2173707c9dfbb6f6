/* One ACME order (RFC 8555 §7) with blocking libcurl easy calls, on a thread of its own
 * (acme.h). Every POST is a JWS signed by the account key with the last Replay-Nonce; a
 * badNonce error (§6.5) is retried with the nonce it carries, up to 10 times per request.
 * The cancel flag is checked by curl's progress callback and between polls, so a shutdown
 * waits at most a fraction of a second.
 */
#include "acme/acme.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "base/base.h"
#include "base/compat.h"

#define ACME_NONCE_RETRIES 10
#define ACME_HTTP_TIMEOUT_MS 30000

typedef struct acme {
    const bg_acme_params_t *p;
    bg_acme_result_t *res;
    CURL *curl;
    EVP_PKEY *account;
    char nonce[256];
    char new_nonce[512], new_account[512], new_order[512];
    uint64_t deadline_ms;
    /* the last response */
    long status;
    bg_buf_t body;
    char location[512];
    char content_type[128];
} acme_t;

static bool cancelled(const acme_t *a)
{
    return a->p->cancel != NULL && atomic_load(a->p->cancel);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    acme_t *a = arg;

    if (a->body.len + size * n > 4u << 20) /* a chain is a few kB; 4 MiB is not ACME */
        return 0;
    bg_buf_append(&a->body, p, size * n);
    return size * n;
}

/* Copies the value of header line <p> (<n> bytes) into <out> when its name is <name>. */
static void header_value(const char *p, size_t n, const char *name, char *out, size_t size)
{
    size_t k = strlen(name);

    if (n <= k + 1 || strncasecmp(p, name, k) != 0 || p[k] != ':')
        return;
    p += k + 1;
    n -= k + 1;
    while (n > 0 && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n > 0 && isspace((unsigned char)p[n - 1]))
        n--;
    if (n < size) {
        memcpy(out, p, n);
        out[n] = '\0';
    }
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    acme_t *a = arg;

    header_value(p, size * n, "Replay-Nonce", a->nonce, sizeof(a->nonce));
    header_value(p, size * n, "Location", a->location, sizeof(a->location));
    header_value(p, size * n, "Content-Type", a->content_type, sizeof(a->content_type));
    return size * n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    return cancelled(arg) ? 1 : 0;
}

/* One HTTP exchange: <body> NULL is a GET (or HEAD when <head>), else a POST of JOSE JSON. */
static int http(acme_t *a, const char *url, const char *body, bool head, bg_err_t *err)
{
    struct curl_slist *hdrs = NULL;
    char cerr[CURL_ERROR_SIZE] = "";
    CURLcode rc;

    if (cancelled(a))
        return bg_err_set(err, BG_ECONFLICT, "cancelled (shutting down)");
    if (bg_now_ms() > a->deadline_ms)
        return bg_err_set(err, BG_ETIMEDOUT, "the order took too long");
    bg_buf_reset(&a->body);
    a->location[0] = a->content_type[0] = '\0';
    a->status = 0;
    curl_easy_reset(a->curl);
    curl_easy_setopt(a->curl, CURLOPT_URL, url);
    curl_easy_setopt(a->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(a->curl, CURLOPT_USERAGENT, "bluegreen-acme/1");
    curl_easy_setopt(a->curl, CURLOPT_TIMEOUT_MS, (long)ACME_HTTP_TIMEOUT_MS);
    curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(a->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(a->curl, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(a->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(a->curl, CURLOPT_XFERINFODATA, a);
    curl_easy_setopt(a->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(a->curl, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(a->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (a->p->ca_file != NULL)
        curl_easy_setopt(a->curl, CURLOPT_CAINFO, a->p->ca_file);
    if (head)
        curl_easy_setopt(a->curl, CURLOPT_NOBODY, 1L);
    if (body != NULL) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/jose+json");
        curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, body);
    }
    rc = curl_easy_perform(a->curl);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        if (cancelled(a))
            return bg_err_set(err, BG_ECONFLICT, "cancelled (shutting down)");
        return bg_err_set(err, BG_EUNAVAIL, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
    }
    curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &a->status);
    return 0;
}

/* The response body as JSON (new reference) or NULL. */
static json_t *body_json(acme_t *a)
{
    return a->body.len ? json_loadb(a->body.data, a->body.len, 0, NULL) : NULL;
}

/* A failed response as an error: the problem document's type and detail (RFC 8555 §6.7). */
static int problem(acme_t *a, const char *what, const char *url, bg_err_t *err)
{
    json_t *j = body_json(a);
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *detail = json_string_value(json_object_get(j, "detail"));
    int rc;

    rc = bg_err_set(err, a->status == 429 ? BG_EUNAVAIL : BG_EPROTO, "%s: %s answered %ld%s%s%s%s",
                    what, url, a->status, type ? " " : "", type ? type : "", detail ? ": " : "",
                    detail ? detail : "");
    json_decref(j);
    return rc;
}

static bool is_bad_nonce(acme_t *a)
{
    json_t *j;
    const char *type;
    bool bad;

    if (a->status != 400)
        return false;
    j = body_json(a);
    type = json_string_value(json_object_get(j, "type"));
    bad = type != NULL && strcmp(type, "urn:ietf:params:acme:error:badNonce") == 0;
    json_decref(j);
    return bad;
}

static int get_nonce(acme_t *a, bg_err_t *err)
{
    int rc = http(a, a->new_nonce, NULL, true, err);

    if (rc == 0 && a->nonce[0] == '\0')
        return bg_err_set(err, BG_EPROTO, "newNonce: %s gave no Replay-Nonce", a->new_nonce);
    return rc;
}

/* A signed POST to <url> (<payload> NULL: POST-as-GET). The answer's status must be 2xx;
 * a badNonce is retried with the new nonce. */
static int post(acme_t *a, const char *what, const char *url, const char *payload, bool use_jwk,
                bg_err_t *err)
{
    for (int attempt = 0;; attempt++) {
        char *jws;
        int rc;

        if (a->nonce[0] == '\0' && (rc = get_nonce(a, err)) != 0)
            return rc;
        jws = bg_acme_jws(a->account, use_jwk ? NULL : a->res->account_url, a->nonce, url,
                          payload);
        a->nonce[0] = '\0'; /* used; the answer brings the next */
        if (jws == NULL)
            return bg_err_set(err, BG_EIO, "%s: cannot sign the request", what);
        rc = http(a, url, jws, false, err);
        free(jws);
        if (rc != 0)
            return rc;
        if (is_bad_nonce(a) && attempt < ACME_NONCE_RETRIES) {
            a->res->bad_nonce_retries++;
            bg_log(BG_LOG_DEBUG, "acme", "msg=\"badNonce, retrying\" step=%s", what);
            continue;
        }
        if (a->status < 200 || a->status > 299)
            return problem(a, what, url, err);
        return 0;
    }
}

static int copy_url(json_t *j, const char *key, char *out, size_t size, const char *what,
                    bg_err_t *err)
{
    const char *s = json_string_value(json_object_get(j, key));

    if (s == NULL || strlen(s) >= size)
        return bg_err_set(err, BG_EPROTO, "%s: no usable \"%s\" in the answer", what, key);
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static int directory(acme_t *a, bg_err_t *err)
{
    json_t *j;
    int rc = http(a, a->p->directory, NULL, false, err);

    if (rc != 0)
        return rc;
    if (a->status != 200)
        return problem(a, "directory", a->p->directory, err);
    j = body_json(a);
    rc = copy_url(j, "newNonce", a->new_nonce, sizeof(a->new_nonce), "directory", err);
    if (rc == 0)
        rc = copy_url(j, "newAccount", a->new_account, sizeof(a->new_account), "directory", err);
    if (rc == 0)
        rc = copy_url(j, "newOrder", a->new_order, sizeof(a->new_order), "directory", err);
    json_decref(j);
    return rc;
}

/* newAccount with the stored key: the server answers the existing account (200) or makes
 * one (201); either way its URL is the kid of every later request. */
static int account(acme_t *a, bg_err_t *err)
{
    json_t *pl = json_pack("{s:b}", "termsOfServiceAgreed", 1);
    char *s;
    int rc;

    if (a->p->email != NULL) {
        char mail[320];
        snprintf(mail, sizeof(mail), "mailto:%s", a->p->email);
        json_object_set_new(pl, "contact", json_pack("[s]", mail));
    }
    s = json_dumps(pl, JSON_COMPACT);
    json_decref(pl);
    rc = post(a, "newAccount", a->new_account, s, true, err);
    free(s);
    if (rc != 0)
        return rc;
    if (a->location[0] == '\0')
        return bg_err_set(err, BG_EPROTO, "newAccount: no Location (account URL)");
    snprintf(a->res->account_url, sizeof(a->res->account_url), "%s", a->location);
    return 0;
}

static void sleep_poll(acme_t *a)
{
    unsigned ms = a->p->poll_ms ? a->p->poll_ms : 500;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000000L};

    for (unsigned t = 0; t < ms && !cancelled(a); t += 50)
        nanosleep(&ts, NULL);
}

/* POST-as-GET <url> until its "status" is not one of <waiting> ("pending", "processing"),
 * then returns it (new reference) in *out. */
static int poll_status(acme_t *a, const char *what, const char *url, json_t **out, bg_err_t *err)
{
    for (;;) {
        json_t *j;
        const char *st;
        int rc = post(a, what, url, NULL, false, err);

        if (rc != 0)
            return rc;
        j = body_json(a);
        st = json_string_value(json_object_get(j, "status"));
        if (st == NULL) {
            json_decref(j);
            return bg_err_set(err, BG_EPROTO, "%s: %s has no status", what, url);
        }
        if (strcmp(st, "pending") != 0 && strcmp(st, "processing") != 0) {
            *out = j;
            return 0;
        }
        json_decref(j);
        sleep_poll(a);
    }
}

/* The error of an invalid authorization: its challenge's error detail. */
static int authz_failed(json_t *authz, const char *url, bg_err_t *err)
{
    const char *host = json_string_value(json_object_get(json_object_get(authz, "identifier"),
                                                         "value"));
    json_t *ch;
    size_t i;

    json_array_foreach(json_object_get(authz, "challenges"), i, ch) {
        json_t *e = json_object_get(ch, "error");
        if (e != NULL)
            return bg_err_set(err, BG_EPROTO, "authorization of %s failed: %s: %s",
                              host ? host : url,
                              json_string_value(json_object_get(e, "type")) ?: "error",
                              json_string_value(json_object_get(e, "detail")) ?: "");
    }
    return bg_err_set(err, BG_EPROTO, "authorization of %s is %s", host ? host : url,
                      json_string_value(json_object_get(authz, "status")) ?: "?");
}

/* One authorization: answers its http-01 challenge and waits until it is valid. */
static int authorize(acme_t *a, const char *url, bg_err_t *err)
{
    json_t *authz = NULL, *ch, *done = NULL;
    const char *token = NULL, *churl = NULL;
    char *keyauth = NULL;
    size_t i;
    int rc = post(a, "authorization", url, NULL, false, err);

    if (rc != 0)
        return rc;
    authz = body_json(a);
    if (authz == NULL)
        return bg_err_set(err, BG_EPROTO, "authorization: %s is not JSON", url);
    if (strcmp(json_string_value(json_object_get(authz, "status")) ?: "", "valid") == 0) {
        json_decref(authz);
        return 0; /* validated earlier for this account */
    }
    json_array_foreach(json_object_get(authz, "challenges"), i, ch) {
        if (strcmp(json_string_value(json_object_get(ch, "type")) ?: "", "http-01") == 0) {
            token = json_string_value(json_object_get(ch, "token"));
            churl = json_string_value(json_object_get(ch, "url"));
            break;
        }
    }
    if (token == NULL || churl == NULL || strpbrk(token, "/?#. ") != NULL) {
        rc = bg_err_set(err, BG_EPROTO, "authorization %s offers no http-01 challenge", url);
        goto out;
    }
    keyauth = bg_acme_key_authorization(token, a->account);
    if (keyauth == NULL) {
        rc = bg_err_set(err, BG_EIO, "cannot make the key authorization");
        goto out;
    }
    if (a->p->hooks.set)
        a->p->hooks.set(a->p->hooks.arg, token, keyauth);
    rc = post(a, "challenge", churl, "{}", false, err);
    if (rc == 0)
        rc = poll_status(a, "authorization", url, &done, err);
    if (a->p->hooks.remove)
        a->p->hooks.remove(a->p->hooks.arg, token);
    if (rc == 0 && strcmp(json_string_value(json_object_get(done, "status")) ?: "", "valid") != 0)
        rc = authz_failed(done, url, err);
out:
    free(keyauth);
    json_decref(done);
    json_decref(authz);
    return rc;
}

static int order(acme_t *a, bg_err_t *err)
{
    json_t *ids = json_array(), *pl, *ord = NULL, *authzs, *v, *fin = NULL;
    char order_url[512], finalize[512], cert_url[512];
    char *s, *csr = NULL, *key_pem = NULL, *chain = NULL;
    EVP_PKEY *key = NULL;
    size_t i;
    int rc;

    for (i = 0; i < a->p->n_hosts; i++)
        json_array_append_new(ids, json_pack("{s:s,s:s}", "type", "dns", "value", a->p->hosts[i]));
    pl = json_pack("{s:o}", "identifiers", ids);
    s = json_dumps(pl, JSON_COMPACT);
    json_decref(pl);
    rc = post(a, "newOrder", a->new_order, s, false, err);
    free(s);
    if (rc != 0)
        return rc;
    if (a->location[0] == '\0' || strlen(a->location) >= sizeof(order_url))
        return bg_err_set(err, BG_EPROTO, "newOrder: no Location (order URL)");
    snprintf(order_url, sizeof(order_url), "%s", a->location);
    snprintf(a->res->order_url, sizeof(a->res->order_url), "%s", order_url);
    ord = body_json(a);
    if ((rc = copy_url(ord, "finalize", finalize, sizeof(finalize), "newOrder", err)) != 0)
        goto out;
    authzs = json_object_get(ord, "authorizations");
    json_array_foreach(authzs, i, v) {
        if (!json_is_string(v)) {
            rc = bg_err_set(err, BG_EPROTO, "newOrder: an authorization is not a URL");
            goto out;
        }
        if ((rc = authorize(a, json_string_value(v), err)) != 0)
            goto out;
    }
    /* a new key for every certificate (never the account key) */
    key = bg_acme_key_new();
    csr = key ? bg_acme_csr(key, a->p->hosts, a->p->n_hosts) : NULL;
    key_pem = key ? bg_acme_key_pem(key) : NULL;
    if (csr == NULL || key_pem == NULL) {
        rc = bg_err_set(err, BG_EIO, "cannot make the certificate key or CSR");
        goto out;
    }
    pl = json_pack("{s:s}", "csr", csr);
    s = json_dumps(pl, JSON_COMPACT);
    json_decref(pl);
    rc = post(a, "finalize", finalize, s, false, err);
    free(s);
    if (rc != 0)
        goto out;
    if ((rc = poll_status(a, "order", order_url, &fin, err)) != 0)
        goto out;
    if (strcmp(json_string_value(json_object_get(fin, "status")) ?: "", "valid") != 0) {
        json_t *e = json_object_get(fin, "error");
        rc = bg_err_set(err, BG_EPROTO, "order %s is %s%s%s", order_url,
                        json_string_value(json_object_get(fin, "status")) ?: "?", e ? ": " : "",
                        e ? json_string_value(json_object_get(e, "detail")) ?: "" : "");
        goto out;
    }
    if ((rc = copy_url(fin, "certificate", cert_url, sizeof(cert_url), "order", err)) != 0)
        goto out;
    if ((rc = post(a, "certificate", cert_url, NULL, false, err)) != 0)
        goto out;
    if (a->body.len == 0) {
        rc = bg_err_set(err, BG_EPROTO, "certificate: %s sent nothing", cert_url);
        goto out;
    }
    chain = bg_strndup(a->body.data, a->body.len);
    rc = bg_acme_cert_info(NULL, chain, a->p->hosts, a->p->n_hosts, &a->res->cert, err);
    if (rc == 0 && !a->res->cert.covers)
        rc = bg_err_set(err, BG_EPROTO, "the issued certificate does not name every host");
    /* the key first: a reader never pairs a new certificate with the old key for long */
    if (rc == 0)
        rc = bg_acme_write_file(a->p->key_out, key_pem, strlen(key_pem), err);
    if (rc == 0)
        rc = bg_acme_write_file(a->p->cert_out, chain, strlen(chain), err);
out:
    if (key_pem != NULL)
        OPENSSL_clear_free(key_pem, strlen(key_pem));
    free(csr);
    free(chain);
    EVP_PKEY_free(key);
    json_decref(fin);
    json_decref(ord);
    return rc;
}

int bg_acme_obtain(const bg_acme_params_t *p, bg_acme_result_t *res, bg_err_t *err)
{
    acme_t a = {.p = p, .res = res};
    int rc;

    bg_buf_init(&a.body);
    memset(res, 0, sizeof(*res));
    bg_err_clear(err);
    a.deadline_ms = bg_now_ms() + (p->timeout_ms ? p->timeout_ms : 300000);
    a.account = bg_acme_key_load(p->account_key, true, &res->account_created, err);
    if (a.account == NULL)
        return err && err->code ? err->code : BG_EIO;
    a.curl = curl_easy_init();
    if (a.curl == NULL) {
        EVP_PKEY_free(a.account);
        return bg_err_set(err, BG_EIO, "cannot start libcurl");
    }
    rc = directory(&a, err);
    if (rc == 0)
        rc = account(&a, err);
    if (rc == 0)
        rc = order(&a, err);
    curl_easy_cleanup(a.curl);
    EVP_PKEY_free(a.account);
    bg_buf_fini(&a.body);
    return rc;
}
