/* Explicit compatibility rules (the matrix file of docs/design.md §6): pairs of service version
 * ranges that must never be live together, whatever their API declarations say.
 *
 *   rules:
 *     - {service: orders, version: "2.x",
 *        incompatible_with: {service: inventory, version: "<3.1"}, reason: "..."}
 *
 * Loading validates everything and names file:line:column + key path on the first error;
 * the gate (gate.c) applies a rule when either side is the service being deployed.
 */
#include "compat/compat.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "compat/internal.h"
#include "base/compat.h"

static void rule_fini(cw_rule_t *r)
{
    free(r->service);
    free(r->other);
    free(r->range_text);
    free(r->other_range_text);
    bg_range_free(r->range);
    bg_range_free(r->other_range);
    free(r->reason);
    memset(r, 0, sizeof(*r));
}

void bg_compat_rules_free(bg_compat_rules_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        rule_fini(&r->v[i]);
    free(r->v);
    free(r);
}

size_t bg_compat_rules_count(const bg_compat_rules_t *r)
{
    return r != NULL ? r->n : 0;
}

static int name_value(cfg_ctx_t *c, yaml_node_t *val, char **out)
{
    const char *s = cy_scalar(val);
    char got[96];

    if (s == NULL || s[0] == '\0')
        return cfg_fail(c, val, "expected a service name, got %s",
                        cfg_describe(val, got, sizeof(got)));
    free(*out);
    *out = bg_strdup(s);
    return 0;
}

static int str_value(cfg_ctx_t *c, yaml_node_t *val, char **out)
{
    const char *s = cy_scalar(val);
    char got[96];

    if (s == NULL)
        return cfg_fail(c, val, "expected a text, got %s", cfg_describe(val, got, sizeof(got)));
    free(*out);
    *out = bg_strdup(s);
    return 0;
}

/* One side: `service` + optional `version`. <outer> also allows `incompatible_with` and
 * `reason`; the inner mapping (outer == false) is read into <r>->other*. */
static int read_side(cfg_ctx_t *c, yaml_node_t *map, cw_rule_t *r, bool outer);

static int read_key(cfg_ctx_t *c, const char *key, yaml_node_t *knode, yaml_node_t *val,
                    cw_rule_t *r, bool outer)
{
    char **name = outer ? &r->service : &r->other;

    if (strcmp(key, "service") == 0)
        return name_value(c, val, name);
    if (strcmp(key, "version") == 0) {
        bg_range_t **range = outer ? &r->range : &r->other_range;
        char **text = outer ? &r->range_text : &r->other_range_text;
        bg_range_free(*range);
        free(*text);
        *range = NULL;
        *text = NULL;
        return cy_range(c, val, range, text);
    }
    if (outer && strcmp(key, "incompatible_with") == 0)
        return read_side(c, val, r, false);
    if (outer && strcmp(key, "reason") == 0)
        return str_value(c, val, &r->reason);
    return cfg_fail(c, knode, "unknown key \"%.60s\": expected %s", key,
                    outer ? "service, version, incompatible_with or reason" : "service or version");
}

/* Bit of a known key in the `seen` set of read_side (0 for unknown keys). */
static uint32_t key_bit(const char *key)
{
    static const char *const keys[] = {"service", "incompatible_with", "version", "reason"};

    for (size_t i = 0; i < BG_ARRAY_LEN(keys); i++)
        if (strcmp(key, keys[i]) == 0)
            return 1u << i;
    return 0;
}

static int read_side(cfg_ctx_t *c, yaml_node_t *map, cw_rule_t *r, bool outer)
{
    char got[96];
    uint32_t seen = 0;

    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return cfg_fail(c, map,
                        outer ? "expected a rule mapping like {service: orders, version: \"2.x\", "
                                "incompatible_with: {service: inventory, version: \"<3.1\"}}, "
                                "got %s"
                              : "expected a mapping like {service: inventory, version: \"<3.1\"}, "
                                "got %s",
                        cfg_describe(map, got, sizeof(got)));
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = cfg_node(c, p->key), *v = cfg_node(c, p->value);
        const char *key = cy_scalar(k);
        size_t saved;
        uint32_t bit;
        int rc;
        if (key == NULL)
            return cfg_fail(c, k, "expected a key name, got %s", cfg_describe(k, got, sizeof(got)));
        saved = cfg_path_push_key(c, key);
        bit = key_bit(key);
        rc = seen & bit ? cfg_fail(c, k, "key \"%.60s\" given twice", key)
                        : read_key(c, key, k, v, r, outer);
        seen |= bit;
        cfg_path_pop(c, saved);
        if (rc != 0)
            return rc;
    }
    if (!(seen & 1))
        return cfg_fail(c, map, "missing key \"service\"");
    if (outer && !(seen & 2))
        return cfg_fail(c, map, "missing key \"incompatible_with\"");
    return 0;
}

static void default_any(char **text)
{
    if (*text == NULL)
        *text = bg_strdup("*");
}

static int read_rules(cfg_ctx_t *c, yaml_node_t *root, bg_compat_rules_t *rules)
{
    yaml_node_t *list = NULL;
    char got[96];

    if (root == NULL)
        return 0; /* an empty file: no rules */
    if (root->type != YAML_MAPPING_NODE)
        return cfg_fail(c, root, "expected a mapping with key \"rules\", got %s",
                        cfg_describe(root, got, sizeof(got)));
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = cfg_node(c, p->key);
        if (cy_scalar(k) == NULL || strcmp(cy_scalar(k), "rules") != 0)
            return cfg_fail(c, k, "unknown key %s: expected \"rules\"",
                            cfg_describe(k, got, sizeof(got)));
        list = cfg_node(c, p->value);
    }
    cfg_path_push_key(c, "rules");
    if (list == NULL || (list->type == YAML_SCALAR_NODE && cy_scalar(list)[0] == '\0'))
        return 0;
    if (list->type != YAML_SEQUENCE_NODE)
        return cfg_fail(c, list, "expected a list of rules, got %s",
                        cfg_describe(list, got, sizeof(got)));
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++) {
        size_t saved = cfg_path_push_index(c, (size_t)(it - list->data.sequence.items.start));
        cw_rule_t *r;
        int rc;
        rules->v = bg_xrealloc(rules->v, (rules->n + 1) * sizeof(*rules->v));
        r = &rules->v[rules->n++];
        memset(r, 0, sizeof(*r));
        rc = read_side(c, cfg_node(c, *it), r, true);
        if (rc != 0)
            return rc;
        default_any(&r->range_text);
        default_any(&r->other_range_text);
        cfg_path_pop(c, saved);
    }
    return 0;
}

bg_compat_rules_t *bg_compat_rules_parse(const char *text, size_t len, const char *name,
                                         bg_err_t *err)
{
    cfg_ctx_t c;
    bg_compat_rules_t *rules = NULL;

    bg_err_clear(err);
    if (cfg_doc_open(&c, text, len, name, err) != 0)
        return NULL;
    rules = BG_NEW(bg_compat_rules_t);
    if (read_rules(&c, cfg_root(&c), rules) != 0) {
        bg_compat_rules_free(rules);
        rules = NULL;
    }
    cfg_doc_close(&c);
    return rules;
}

bg_compat_rules_t *bg_compat_rules_load(const char *path, bg_err_t *err)
{
    char *text = NULL;
    size_t len = 0;
    bg_compat_rules_t *rules;

    bg_err_clear(err);
    if (bg_file_read(path, &text, &len, err) != 0)
        return NULL;
    rules = bg_compat_rules_parse(text, len, path, err);
    free(text);
    return rules;
}
