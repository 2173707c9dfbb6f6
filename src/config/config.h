/* Configuration: one YAML file -> struct bg_config (docs/design.md §10), and revision files
 * (`deploy -f REVISION.yaml`). The loader validates everything it reads; errors name
 * file:line:column, the key path (services.orders.health.interval) and what was expected.
 * A config that fails to load changes nothing: callers keep the one they had.
 * Every struct here is plain data owned by its bg_config_t; bg_config_free() frees it all.
 * Thread: any (no globals).
 */
#ifndef BG_CONFIG_CONFIG_H
#define BG_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef enum bg_slot {
    BG_SLOT_BLUE = 0,
    BG_SLOT_GREEN = 1,
} bg_slot_t;
#define BG_SLOT_COUNT 2
const char *bg_slot_str(bg_slot_t slot); /* "blue" | "green" */
/* Parses "blue"/"green"; returns false otherwise. */
bool bg_slot_parse(const char *s, bg_slot_t *out);

typedef enum bg_driver_kind {
    BG_DRIVER_PROCESS = 0,
    BG_DRIVER_DOCKER = 1,
    BG_DRIVER_STATIC = 2,
    BG_DRIVER_ECS = 3,
} bg_driver_kind_t;
const char *bg_driver_kind_str(bg_driver_kind_t kind);

typedef enum bg_health_type {
    BG_HEALTH_HTTP = 0,
    BG_HEALTH_TCP = 1,
} bg_health_type_t;
const char *bg_health_type_str(bg_health_type_t t);

typedef enum bg_health_format {
    BG_HEALTH_FORMAT_STATUS = 0,   /* judge by status code only (matcher) */
    BG_HEALTH_FORMAT_ACTUATOR = 1, /* Spring Boot Actuator JSON (docs/design.md §4) */
} bg_health_format_t;

typedef struct bg_status_range {
    uint16_t lo, hi; /* inclusive */
} bg_status_range_t;

#define BG_MATCHER_MAX 8

/* health: {type, path, format, interval, timeout, healthy_threshold, unhealthy_threshold,
 *          matcher: "200-399" | "200,204" | [200, "300-302"], passive: {...}} */
typedef struct bg_health_config {
    bg_health_type_t type;          /* default http */
    bg_health_format_t format;      /* default status */
    char *path;                     /* NULL: "/" for status format; auto for actuator
                                       (/actuator/health/readiness if it exists, else
                                       /actuator/health) */
    uint32_t interval_ms;           /* default 5000 */
    uint32_t timeout_ms;            /* default 2000 */
    uint32_t healthy_threshold;     /* default 2 */
    uint32_t unhealthy_threshold;   /* default 2 */
    bg_status_range_t matcher[BG_MATCHER_MAX]; /* default one range 200-399 */
    size_t n_matcher;
    /* passive: {consecutive_failures: 5}; 0 disables passive outlier detection. */
    uint32_t passive_failures;      /* default 5 */
} bg_health_config_t;

typedef enum bg_strategy_kind {
    BG_STRATEGY_ALL_AT_ONCE = 0,
    BG_STRATEGY_CANARY = 1,
    BG_STRATEGY_LINEAR = 2,
    BG_STRATEGY_STEPS = 3,
} bg_strategy_kind_t;
const char *bg_strategy_kind_str(bg_strategy_kind_t k);

typedef struct bg_strategy_step {
    bool pause;         /* {pause: true}: wait for promote */
    uint32_t percent;   /* weight of the new slot, 0..100 (when !pause) */
    uint32_t wait_ms;   /* optional {percent: 25, wait: 1m}; 0 = none */
} bg_strategy_step_t;

/* strategy: all-at-once | {canary: {percent, wait}} | {linear: {percent, every}} |
 *           {steps: [5, 25, {pause: true}, 100]}; plus `sticky: true` in the mapping. */
typedef struct bg_strategy {
    bg_strategy_kind_t kind;
    uint32_t percent;           /* canary / linear step */
    uint32_t wait_ms;           /* canary wait */
    uint32_t every_ms;          /* linear interval */
    bg_strategy_step_t *steps;  /* kind == STEPS */
    size_t n_steps;
    bool sticky;
} bg_strategy_t;

/* Parses the CLI form: all-at-once | canary:10%:5m | linear:10%:1m. */
int bg_strategy_parse_cli(const char *s, bg_strategy_t *out, bg_err_t *err);
/* Frees what <s> holds (not <s> itself). */
void bg_strategy_fini(bg_strategy_t *s);

/* rollback_on: {error_rate: 1%, p99: 500ms, min_requests: 50, unhealthy_targets: 1,
 *               window: 30s} */
typedef struct bg_rollback_on {
    bool has_error_rate;
    double error_rate;          /* fraction 0..1 (config gives percent) */
    uint32_t p99_ms;            /* 0 = not judged */
    uint32_t min_requests;      /* default 20 */
    int32_t unhealthy_targets;  /* -1 = not judged */
    uint32_t window_ms;         /* default 30000 */
} bg_rollback_on_t;

typedef struct bg_api_provide {
    char *api;         /* "payments" */
    char **versions;   /* one or more exact semver versions */
    size_t n_versions;
} bg_api_provide_t;

typedef struct bg_api_require {
    char *api;
    char *range;       /* npm-style range, validated by compat/ */
} bg_api_require_t;

typedef struct bg_api_config {
    bg_api_provide_t *provides;
    size_t n_provides;
    bg_api_require_t *requires;
    size_t n_requires;
} bg_api_config_t;

/* Deep copy of <in> into caller storage <out> (release with bg_api_config_fini()). */
void bg_api_config_copy(bg_api_config_t *out, const bg_api_config_t *in);
/* Frees what <api> holds and zeroes it. */
void bg_api_config_fini(bg_api_config_t *api);

typedef struct bg_kv {
    char *key;
    char *value;
} bg_kv_t;

/* What changes from one revision to the next (docs/design.md §10 revision file). */
typedef struct bg_revision_config {
    char *version;          /* semver label; default "0.0.0" */
    char **command;         /* run.command argv, NULL-terminated; NULL if none */
    char *image;            /* docker image; NULL if none */
    bg_kv_t *env;           /* env: {K: V} */
    size_t n_env;
    uint32_t count;         /* default 1 */
    uint16_t port;          /* container/app port; 0 = picked (process driver) */
    uint64_t memory_bytes;  /* resources.memory (docker: the container's memory limit); 0 = none */
    uint32_t cpu_millis;    /* resources.cpus x 1000 (docker: NanoCpus); 0 = none */
    bg_api_config_t api;
    bg_strategy_t *strategy; /* optional override; NULL = service's */
    bg_kv_t *labels;        /* e.g. git.sha */
    size_t n_labels;
} bg_revision_config_t;

void bg_revision_config_fini(bg_revision_config_t *rev);

/* ecs: the AWS side of a service run by the ecs driver (docs/ecs.md). Strings NULL when
 * not given. */
typedef struct bg_ecs_config {
    bool present;                 /* an ecs: mapping was given */
    char *cluster;                /* required */
    char *region;                 /* NULL: AWS_REGION, AWS_DEFAULT_REGION, the profile's */
    char *endpoint_url;           /* NULL: AWS's regional endpoints (tests: the double) */
    char *launch_type;            /* FARGATE (default), EC2 or EXTERNAL */
    char **subnets;
    size_t n_subnets;
    char **security_groups;
    size_t n_security_groups;
    bool assign_public_ip;
    char *execution_role_arn;
    char *task_role_arn;
    char *listener_rule_arn;      /* required: the production listener rule (weighted forward) */
    char *test_listener_rule_arn; /* the test listener rule: the preview slot while testing */
    char *target_groups[BG_SLOT_COUNT]; /* required: blue and green */
    char *load_balancer_arn;      /* adds the LoadBalancer dimension to metric queries */
    char *probe_url;              /* production listener URL probed after each switch */
    char *test_url;               /* test listener URL (BLUEGREEN_TEST_URL for hooks.test) */
    char *log_group;              /* awslogs group of the task definitions; NULL: none */
} bg_ecs_config_t;

typedef struct bg_service_config {
    char *name;
    char *host;             /* route.host; NULL = any host */
    char *path_prefix;      /* route.path_prefix; default "/" */
    bg_driver_kind_t driver;
    bg_revision_config_t rev; /* initial revision */
    bg_health_config_t health;
    bg_strategy_t strategy; /* default all-at-once */
    uint32_t bake_ms;               /* default 0 */
    uint32_t termination_wait_ms;   /* default 300000 (5m) */
    uint32_t drain_ms;              /* default 30000 */
    uint32_t stop_timeout_ms;       /* default 10000 */
    uint32_t startup_timeout_ms;    /* default 30000 */
    bg_rollback_on_t rollback_on;
    char **hooks_test;      /* shell commands */
    size_t n_hooks_test;
    char **hooks_check;
    size_t n_hooks_check;
    uint32_t hooks_timeout_ms;      /* hooks.timeout: default 300000 (5m); a hook past it is
                                       killed (process group) and counts as failed */
    char **targets[BG_SLOT_COUNT]; /* static driver: "127.0.0.1:9001" */
    size_t n_targets[BG_SLOT_COUNT];
    bool has_traffic;
    uint32_t traffic[BG_SLOT_COUNT]; /* traffic: {blue: 100, green: 0}; default blue 100 */
    bool keep_failed;
    bg_ecs_config_t ecs;            /* driver ecs only */
} bg_service_config_t;

/* proxy: {workers, header_timeout, idle_timeout, connect_timeout, response_timeout,
 *         write_timeout, max_header_size, max_body_size, retries, pool_idle,
 *         max_connections} */
typedef struct bg_proxy_config {
    uint32_t workers;               /* default: number of CPUs */
    uint32_t header_timeout_ms;     /* client must send a whole head within; default 10s */
    uint32_t idle_timeout_ms;       /* client keep-alive idle; default 60s */
    uint32_t connect_timeout_ms;    /* to a target; default 3s */
    uint32_t response_timeout_ms;   /* target's response head after request sent; default 60s */
    uint32_t max_header_bytes;      /* 431 beyond; default 16 KiB */
    uint64_t max_body_bytes;        /* 413 beyond; default 100 MiB; 0 = unlimited */
    uint32_t retries;               /* other targets to try before any byte was sent; default 2 */
    uint32_t pool_idle_per_target;  /* idle keep-alive conns kept per target per worker; default 256 */
    uint32_t pool_idle_timeout_ms;  /* default 30s */
    uint32_t max_connections;       /* client conns per worker; default 100000, and never more
                                     * than the fd limit allows (proxy.c: fd budget) */
    uint32_t write_timeout_ms;      /* a client that takes no byte of a pending response for
                                     * this long is closed; default 60s */
    /* http2: {h2c, alpn, max_concurrent_streams} (docs/http2.md) */
    bool h2c;                       /* HTTP/2 with prior knowledge on plain listeners */
    bool h2_alpn;                   /* offer "h2" by ALPN on TLS listeners */
    uint32_t h2_max_streams;        /* SETTINGS_MAX_CONCURRENT_STREAMS; default 100 */
} bg_proxy_config_t;

/* Where a config value was written, for errors found after loading (certificate files). */
typedef struct bg_config_pos {
    unsigned line, column;  /* 1-based; 0 if unknown */
    char *key;              /* key path, e.g. listen.tls.certificates[0].cert */
} bg_config_pos_t;

/* One certificate: PEM chain (leaf first) and its private key. */
typedef struct bg_tls_cert_config {
    char *cert, *key;
    bg_config_pos_t cert_pos, key_pos;
    /* In-memory PEM (chain, key) used instead of the files when set (never from the config
     * file: the ACME bootstrap self-signed certificate); <cert> then only names it. */
    char *cert_pem, *key_pem;
} bg_tls_cert_config_t;

/* Automatic certificates for a TLS listener (docs/tls.md "Automatic certificates (ACME)"):
 * acme: {directory: URL, email, hosts: [names], ca_file, renew_at} */
typedef struct bg_acme_config {
    char *directory;                /* the ACME directory URL (http:// or https://) */
    char *email;                    /* account contact; NULL = none */
    char **hosts;                   /* DNS names of the certificate (no wildcards: HTTP-01) */
    size_t n_hosts;                 /* at least one */
    char *ca_file;                  /* PEM CA bundle to trust the ACME server; NULL = system */
    bg_config_pos_t ca_file_pos;
    double renew_at;                /* fraction of the lifetime at which to renew; default
                                     * 2/3 */
    bg_config_pos_t pos;            /* the acme mapping itself */
} bg_acme_config_t;

/* The TLS block of a listener (docs/tls.md):
 * tls: {certificates: [{cert, key}, ...], default: N, policy, tickets, ticket_rotation,
 *       acme: {...}} */
typedef struct bg_tls_config {
    bg_tls_cert_config_t *certs;    /* at least one unless acme is set; the server appends
                                     * the ACME certificate (or an in-memory self-signed one
                                     * until there is one) as cert_pem/key_pem or files */
    size_t n_certs;
    uint32_t default_cert;          /* index of the certificate for clients without a
                                     * matching SNI name; default 0 */
    char *policy;                   /* security policy name (tls/policy.c); default
                                     * "recommended" */
    bool tickets;                   /* session tickets; default true */
    uint32_t ticket_rotation_ms;    /* ticket key lifetime as the encrypting key; default 1h */
    bg_config_pos_t pos;            /* the tls mapping itself */
    bg_acme_config_t *acme;         /* NULL = no automatic certificates */
} bg_tls_config_t;

/* redirect_https: {status: 301|308, port: 443} on a plain listener (ALB redirect action). */
typedef struct bg_redirect_config {
    uint16_t status;                /* 0: no redirect */
    uint16_t port;                  /* port in the Location; 0 = same host, default 443 */
} bg_redirect_config_t;

typedef struct bg_config {
    char *path;             /* file it came from */
    char *listen;           /* default 127.0.0.1:8080 */
    char *test_listen;      /* NULL = no test listener */
    /* listen / test_listen may be a mapping {address, tls, redirect_https}; NULL = plain */
    bg_tls_config_t *listen_tls, *test_listen_tls;
    bg_redirect_config_t listen_redirect, test_listen_redirect;
    char *metrics_listen;   /* HOST:PORT serving only GET /metrics, no token (no admin
                               powers); NULL = none */
    char *access_log;       /* file (appended; reopened on SIGUSR1 / reopen-logs) or
                               "stdout"; NULL = no access log */
    char *access_log_format; /* "json" (default) or "combined" */
    char *admin;            /* unix:PATH or http://HOST:PORT; default unix:<state_dir>/bluegreen.sock */
    char *admin_token;      /* required for an http admin listener; ${VAR} allowed */
    char *state_dir;        /* default ./state */
    bg_driver_kind_t driver; /* default process */
    bg_proxy_config_t proxy;
    bg_service_config_t *services;
    size_t n_services;
    char *matrix;           /* matrix: FILE of explicit compatibility rules (docs/design.md §6),
                               loaded by compat/ (bg_compat_rules_load); NULL = none.
                               Relative paths are relative to the working directory, as
                               state_dir and run.command are. */
} bg_config_t;

/* Loads and validates <path>. Returns a new config (caller frees with bg_config_free) or
 * NULL with <err> filled (file:line:column, key path, message). */
bg_config_t *bg_config_load(const char *path, bg_err_t *err);

/* Same from memory; <name> is used as the file name in errors. */
bg_config_t *bg_config_parse(const char *text, size_t len, const char *name, bg_err_t *err);

/* Frees <cfg> and everything it holds. NULL is a no-op. */
void bg_config_free(bg_config_t *cfg);

/* TLS security policies, named as ALB's (docs/tls.md; tls/policy.c has their protocol
 * versions and cipher lists). */
#define BG_TLS_POLICIES "recommended", "tls13-only", "compatible"
#define BG_TLS_POLICY_NAMES "recommended, tls13-only, compatible"
bool bg_tls_policy_known(const char *name);

/* Frees a TLS block (NULL is a no-op). */
void bg_tls_config_free(bg_tls_config_t *tls);
/* Frees an acme block (NULL is a no-op). */
void bg_acme_config_free(bg_acme_config_t *acme);
/* A deep copy of <in> (NULL gives NULL). */
bg_acme_config_t *bg_acme_config_dup(const bg_acme_config_t *in);

/* Finds a service by name; NULL if absent. Borrowed. */
const bg_service_config_t *bg_config_service(const bg_config_t *cfg, const char *name);

/* Loads a revision file for <svc>: keys version, run, image, env, count, port, api,
 * strategy, labels. Fields it does not set are copied from <svc>'s revision (count, port,
 * env), except version (default "0.0.0"), api and the artifact. On success fills <out>
 * (caller calls bg_revision_config_fini) and returns 0. */
int bg_revision_load(const char *path, const bg_service_config_t *svc, bg_revision_config_t *out,
                     bg_err_t *err);
int bg_revision_parse(const char *text, size_t len, const char *name,
                      const bg_service_config_t *svc, bg_revision_config_t *out, bg_err_t *err);

/* Deep copy of a revision (caller owns <out>, fini it). */
void bg_revision_config_copy(bg_revision_config_t *out, const bg_revision_config_t *in);

/* An image reference, parsed: [REGISTRY/]NAME[:TAG][@DIGEST]. */
typedef struct bg_image_ref {
    char registry[256]; /* "127.0.0.1:5000", "ghcr.io"; "" = Docker Hub */
    char name[256];     /* "sample-app", "library/nginx" (path below the registry) */
    char tag[129];      /* "" = none given (the engine means "latest") */
    char digest[72];    /* "sha256:<64 hex>" or "" */
} bg_image_ref_t;

/* Parses <s> by the distribution/reference grammar. False (and <why>, a static string, set
 * when given) for anything an engine would refuse. Thread: any. */
bool bg_image_ref_parse(const char *s, bg_image_ref_t *out, const char **why);
/* "REGISTRY/NAME[:TAG][@DIGEST]" into <out> (the tag only when <with_tag>). */
void bg_image_ref_format(const bg_image_ref_t *ref, bool with_tag, char *out, size_t size);

/* Splits a command line by the rules `run.command: "..."` uses (whitespace separates;
 * '...' literal; "..." with \" \\ \$ \` escapes; backslash escapes outside quotes; no
 * variable, glob or operator handling), e.g. for `deploy --cmd 'CMD ARGS'`. Returns a
 * NULL-terminated argv (caller frees with bg_config_argv_free) or NULL with <err> set
 * (unterminated quote, trailing backslash, empty command). */
char **bg_config_split_command(const char *s, bg_err_t *err);
/* Frees an argv from bg_config_split_command (or a revision's command). NULL is a no-op. */
void bg_config_argv_free(char **argv);

#endif
