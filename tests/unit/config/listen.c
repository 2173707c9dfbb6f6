/* listen / test_listen as an address or a mapping {address, tls, redirect_https}
 * (config/listen.c, docs/tls.md): what is read, defaults, and positioned errors. The
 * certificate files themselves are checked by src/tls (tests/e2e/tls_clients.sh). */
#include <criterion/criterion.h>

#include "helpers.h"

Test(listen, address_string_is_plain)
{
    bg_config_t *cfg = parse_ok("listen: 127.0.0.1:9000\nservices: {}\n");

    cr_assert_str_eq(cfg->listen, "127.0.0.1:9000");
    cr_assert_null(cfg->listen_tls);
    cr_assert_eq(cfg->listen_redirect.status, 0);
    bg_config_free(cfg);
}

Test(listen, tls_block_with_defaults_and_positions)
{
    bg_config_t *cfg = parse_ok("listen:\n"
                                "  address: 0.0.0.0:443\n"
                                "  tls:\n"
                                "    certificates:\n"
                                "      - {cert: a.pem, key: a.key}\n"
                                "      - cert: b.pem\n"
                                "        key: b.key\n"
                                "services: {}\n");
    const bg_tls_config_t *t = cfg->listen_tls;

    cr_assert_str_eq(cfg->listen, "0.0.0.0:443");
    cr_assert_not_null(t);
    cr_assert_eq(t->n_certs, 2);
    cr_assert_str_eq(t->certs[1].cert, "b.pem");
    cr_assert_str_eq(t->certs[1].key, "b.key");
    cr_assert_eq(t->certs[1].key_pos.line, 7);
    cr_assert_eq(t->certs[1].key_pos.column, 14);
    cr_assert_str_eq(t->certs[1].key_pos.key, "listen.tls.certificates[1].key");
    cr_assert_eq(t->certs[0].cert_pos.column, 16);
    cr_assert_str_eq(t->policy, "recommended");
    cr_assert(t->tickets);
    cr_assert_eq(t->ticket_rotation_ms, 3600000);
    cr_assert_eq(t->default_cert, 0);
    bg_config_free(cfg);
}

Test(listen, tls_options)
{
    bg_config_t *cfg = parse_ok("test_listen:\n"
                                "  address: 127.0.0.1:0\n"
                                "  tls: {certificates: [{cert: a, key: b}, {cert: c, key: d}],\n"
                                "        default: 1, policy: tls13-only, tickets: false,\n"
                                "        ticket_rotation: 10m}\n"
                                "services: {}\n");
    const bg_tls_config_t *t = cfg->test_listen_tls;

    cr_assert_null(cfg->listen_tls);
    cr_assert_eq(t->default_cert, 1);
    cr_assert_str_eq(t->policy, "tls13-only");
    cr_assert_not(t->tickets);
    cr_assert_eq(t->ticket_rotation_ms, 600000);
    bg_config_free(cfg);
}

Test(listen, redirect_https)
{
    bg_config_t *cfg = parse_ok("listen: {address: 127.0.0.1:80, redirect_https: true}\n"
                                "test_listen: {address: 127.0.0.1:81,\n"
                                "              redirect_https: {status: 308, port: 8443}}\n"
                                "services: {}\n");

    cr_assert_eq(cfg->listen_redirect.status, 301);
    cr_assert_eq(cfg->listen_redirect.port, 443);
    cr_assert_eq(cfg->test_listen_redirect.status, 308);
    cr_assert_eq(cfg->test_listen_redirect.port, 8443);
    bg_config_free(cfg);
}

Test(listen, errors_are_positioned)
{
    assert_err("listen: {address: 127.0.0.1:1, tls: {certificates: []}}\nservices: {}\n",
               "t.yaml:1:52: listen.tls.certificates: expected a list of {cert: FILE, key: "
               "FILE}, got an empty list");
    assert_err("listen: {address: 127.0.0.1:1, tls: {certificates: [{cert: a}]}}\nservices: {}\n",
               "t.yaml:1:53: listen.tls.certificates[0]: a certificate needs both cert and key "
               "(PEM files)");
    assert_err("listen: {address: 127.0.0.1:1, tls: {certificates: [{cert: a, key: b}], "
               "policy: ssl3}}\nservices: {}\n",
               "t.yaml:1:81: listen.tls.policy: unknown TLS policy \"ssl3\"; expected one of "
               "recommended, tls13-only, compatible");
    assert_err("listen: {address: 127.0.0.1:1, tls: {certificates: [{cert: a, key: b}], "
               "default: 1}}\nservices: {}\n",
               "t.yaml:1:82: listen.tls.default: default is certificate 1 but there are 1 "
               "(counted from 0)");
    assert_err("listen: {tls: {certificates: [{cert: a, key: b}]}}\nservices: {}\n",
               "t.yaml:1:9: listen: a listener mapping needs address: HOST:PORT");
    assert_err("listen: {address: 127.0.0.1:1, redirect_https: {status: 302}}\nservices: {}\n",
               "t.yaml:1:57: listen.redirect_https.status: expected 301 or 308, got 302");
    assert_err("listen: {address: 127.0.0.1:1, tls: {certificates: [{cert: a, key: b}]}, "
               "redirect_https: true}\nservices: {}\n",
               "t.yaml:1:90: listen: redirect_https is for a plain listener; this one has tls");
    assert_err("listen: {address: 127.0.0.1:1, tsl: {}}\nservices: {}\n",
               "t.yaml:1:32: listen.tsl: unknown key \"tsl\"; valid keys: address, tls, "
               "redirect_https");
}

Test(listen, acme_block)
{
    bg_config_t *cfg = parse_ok("listen:\n"
                                "  address: 127.0.0.1:8443\n"
                                "  tls:\n"
                                "    acme:\n"
                                "      directory: https://acme.test/dir\n"
                                "      email: ops@shop.test\n"
                                "      hosts: [shop.test, www.shop.test]\n"
                                "      ca_file: ca.pem\n"
                                "      renew_at: 0.5\n"
                                "test_listen: 127.0.0.1:8080\n"
                                "services: {}\n");
    const bg_tls_config_t *t = cfg->listen_tls;

    cr_assert_not_null(t);
    cr_assert_eq(t->n_certs, 0);
    cr_assert_not_null(t->acme);
    cr_assert_str_eq(t->acme->directory, "https://acme.test/dir");
    cr_assert_str_eq(t->acme->email, "ops@shop.test");
    cr_assert_eq(t->acme->n_hosts, 2);
    cr_assert_str_eq(t->acme->hosts[1], "www.shop.test");
    cr_assert_str_eq(t->acme->ca_file, "ca.pem");
    cr_assert_float_eq(t->acme->renew_at, 0.5, 1e-9);
    cr_assert_eq(t->acme->pos.line, 5);
    bg_config_free(cfg);

    /* beside certificates; renew_at defaults to 2/3; one host as a string */
    cfg = parse_ok("listen: {address: 127.0.0.1:1, tls: {certificates: [{cert: a, key: b}],\n"
                   "         acme: {directory: 'http://127.0.0.1:14000/dir', hosts: a.test}}}\n"
                   "test_listen: 127.0.0.1:2\n"
                   "services: {}\n");
    t = cfg->listen_tls;
    cr_assert_eq(t->n_certs, 1);
    cr_assert_eq(t->acme->n_hosts, 1);
    cr_assert_null(t->acme->email);
    cr_assert_float_eq(t->acme->renew_at, 2.0 / 3.0, 1e-9);
    bg_acme_config_t *d = bg_acme_config_dup(t->acme);
    cr_assert_str_eq(d->hosts[0], "a.test");
    cr_assert_str_eq(d->directory, "http://127.0.0.1:14000/dir");
    bg_acme_config_free(d);
    bg_config_free(cfg);
}

Test(listen, acme_errors_are_positioned)
{
    assert_err("listen: {address: 127.0.0.1:1, tls: {}}\nservices: {}\n",
               "t.yaml:1:37: listen.tls: a tls block needs certificates: [{cert: FILE, key: "
               "FILE}] or acme: {directory: URL, hosts: [NAME]}");
    assert_err("listen: {address: 127.0.0.1:1, tls: {acme: {hosts: [a.test]}}}\nservices: {}\n",
               "t.yaml:1:44: listen.tls.acme: acme needs directory: URL (e.g. Let's Encrypt's "
               "https://acme-v02.api.letsencrypt.org/directory)");
    assert_err("listen: {address: 127.0.0.1:1, tls: {acme: {directory: ftp://x}}}\n"
               "services: {}\n",
               "t.yaml:1:56: listen.tls.acme.directory: expected an http:// or https:// URL of "
               "an ACME directory, got \"ftp://x\"");
    assert_err("listen: {address: 127.0.0.1:1, tls: {acme: {directory: 'https://x/d'}}}\n"
               "services: {}\n",
               "t.yaml:1:44: listen.tls.acme: acme needs hosts: [NAME, ...]");
    assert_err("listen: {address: 127.0.0.1:1, tls: {acme: {directory: 'https://x/d',\n"
               "  hosts: [a.test, '*.b.test']}}}\nservices: {}\n",
               "t.yaml:2:19: listen.tls.acme.hosts[1]: \"*.b.test\" is not a DNS name HTTP-01 "
               "can validate (letters, digits, '-', dots; no wildcard)");
    assert_err("listen: {address: 127.0.0.1:1, tls: {acme: {directory: 'https://x/d',\n"
               "  hosts: [a.test], renew_at: 1.5}}}\nservices: {}\n",
               "t.yaml:2:30: listen.tls.acme.renew_at: expected a fraction of the certificate's "
               "lifetime from 0.05 to 0.95, got \"1.5\"");
    assert_err("listen: {address: 127.0.0.1:1, tls: {acme: {directory: 'https://x/d',\n"
               "  hosts: [a.test], email: nobody}}}\nservices: {}\n",
               "t.yaml:2:27: listen.tls.acme.email: expected an e-mail address like "
               "ops@example.com, got \"nobody\"");
    assert_err("listen: {address: 127.0.0.1:1, tls: {acme: {directory: 'https://x/d',\n"
               "  hosts: [a.test]}}}\nservices: {}\n",
               "t.yaml:1:44: listen.tls.acme: acme validates over plain HTTP (HTTP-01): add a "
               "plain test_listen (port 80 in production)");
    assert_err("test_listen: {address: 127.0.0.1:2, tls: {acme: {directory: 'https://x/d',\n"
               "  hosts: [a.test]}}}\n"
               "listen: {address: 127.0.0.1:1, tls: {certificates: [{cert: a, key: b}]}}\n"
               "services: {}\n",
               "t.yaml:1:49: test_listen.tls.acme: acme validates over plain HTTP (HTTP-01): "
               "listen and test_listen both have tls; leave one plain (port 80 in production)");
    assert_err("listen: {address: 127.0.0.1:1, tls: {acme: {directory: 'https://x/d',\n"
               "  hosts: [a.test], hsts: 1}}}\nservices: {}\n",
               "t.yaml:2:20: listen.tls.acme.hsts: unknown key \"hsts\"; valid keys: directory, "
               "email, hosts, ca_file, renew_at");
}
