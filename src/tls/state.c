/* What a listener's TLS looks like from outside: the admin API's JSON and the Prometheus
 * lines (handshakes by version and kind, failures by reason, certificate expiry).
 * Thread: control (reads the certificate set it owns and the workers' atomic counters).
 */
#include "tls/tls.h"

#include <time.h>

#include "base/base.h"
#include "tls/internal.h"
#include "base/compat.h"

static const char *const versions[] = {"TLSv1.2", "TLSv1.3"};

static json_t *time_json(uint64_t ms)
{
    char buf[32];
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    if (ms == 0 || gmtime_r(&s, &tm) == NULL)
        return json_null();
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

static json_t *cert_json(const tls_cert_t *c, bool def)
{
    json_t *names = json_array();

    for (size_t i = 0; i < c->n_names; i++)
        json_array_append_new(names, json_string(c->names[i]));
    return json_pack("{s:s,s:s,s:o,s:s,s:s,s:o,s:I,s:b}", "cert", c->cert_file, "key",
                     c->key_file, "names", names, "subject", c->subject, "issuer", c->issuer,
                     "not_after", time_json((uint64_t)c->not_after * 1000), "expires_in_s",
                     (json_int_t)(c->not_after - time(NULL)), "default", def);
}

static json_t *stats_json(const bg_tls_t *t)
{
    bg_tls_stats_t *st = (bg_tls_stats_t *)&t->stats;
    json_t *hs = json_object(), *failed = json_object();

    for (int v = 0; v < 2; v++)
        json_object_set_new(hs, versions[v],
                            json_pack("{s:I,s:I}", "full", (json_int_t)atomic_load(&st->full[v]),
                                      "resumed", (json_int_t)atomic_load(&st->resumed[v])));
    for (int f = 0; f < BG_TLS_FAIL_KINDS; f++)
        json_object_set_new(failed, bg_tls_fail_str((bg_tls_fail_t)f),
                            json_integer((json_int_t)atomic_load(&st->failed[f])));
    json_object_set_new(hs, "failed", failed);
    return hs;
}

json_t *bg_tls_to_json(const bg_tls_t *t)
{
    const bg_tls_certset_t *set = t->cur;
    json_t *certs = json_array(), *alpn = json_array();

    for (size_t i = 0; i < set->n_certs; i++)
        json_array_append_new(certs, cert_json(&set->certs[i], i == set->def));
    for (unsigned i = 0; i < t->alpn_wire_len; i += 1u + t->alpn_wire[i])
        json_array_append_new(alpn, json_stringn((const char *)t->alpn_wire + i + 1,
                                                 t->alpn_wire[i]));
    return json_pack("{s:s,s:s,s:o,s:b,s:I,s:o,s:o,s:I,s:{s:o,s:b,s:s,s:o},s:o}", "listener",
                     t->name, "policy", t->policy->name, "alpn", alpn, "tickets", t->cfg->tickets,
                     "ticket_rotation_s", (json_int_t)(t->rotation_ms / 1000), "certificates",
                     certs, "loaded_at", time_json(set->loaded_at_ms), "reloads",
                     (json_int_t)t->reloads, "last_reload", "at", time_json(t->last_reload_ms),
                     "ok", t->last_reload_ok, "why",
                     t->last_reload_why ? t->last_reload_why : "", "error",
                     t->last_error ? json_string(t->last_error) : json_null(), "handshakes",
                     stats_json(t));
}

void bg_tls_metrics(const bg_tls_t *t, bg_buf_t *out)
{
    bg_tls_stats_t *st = (bg_tls_stats_t *)&t->stats;
    const bg_tls_certset_t *set = t->cur;
    time_t now = time(NULL);

    for (int v = 0; v < 2; v++) {
        bg_buf_printf(out,
                      "bluegreen_tls_handshakes_total{listener=\"%s\",version=\"%s\","
                      "kind=\"full\"} %llu\n",
                      t->name, versions[v], (unsigned long long)atomic_load(&st->full[v]));
        bg_buf_printf(out,
                      "bluegreen_tls_handshakes_total{listener=\"%s\",version=\"%s\","
                      "kind=\"resumed\"} %llu\n",
                      t->name, versions[v], (unsigned long long)atomic_load(&st->resumed[v]));
    }
    for (int f = 0; f < BG_TLS_FAIL_KINDS; f++)
        bg_buf_printf(out,
                      "bluegreen_tls_handshake_failures_total{listener=\"%s\",reason=\"%s\"} "
                      "%llu\n",
                      t->name, bg_tls_fail_str((bg_tls_fail_t)f),
                      (unsigned long long)atomic_load(&st->failed[f]));
    for (size_t i = 0; i < set->n_certs; i++)
        bg_buf_printf(out,
                      "bluegreen_tls_certificate_expiry_seconds{listener=\"%s\",name=\"%s\"} "
                      "%lld\n",
                      t->name, set->certs[i].names[0],
                      (long long)(set->certs[i].not_after - now));
    bg_buf_printf(out, "bluegreen_tls_certificate_reloads_total{listener=\"%s\"} %llu\n", t->name,
                  (unsigned long long)t->reloads);
}
