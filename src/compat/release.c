/* Release files (`bluegreen plan|release RELEASE.yaml`, docs/design.md §6): a map of services to
 * their target revisions, each inline or in its own revision file:
 *
 *   services:
 *     orders: {file: orders-3.yaml}          # relative to the release file
 *     payments: {version: 2.0.0, run: {...}, api: {...}}
 *
 * Each revision goes through config's bg_revision_parse(), so it means exactly what
 * `deploy -f` would make of it. An inline revision is handed to it as the text it occupies
 * in the release file, padded with the newlines and spaces that precede it, so the
 * parser's line:column positions are positions in the release file.
 */
#include "compat/compat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"
#include "compat/internal.h"
#include "base/compat.h"

#define REVISION_FILE_MAX (1024 * 1024)

void bg_compat_release_fini(bg_compat_release_t *rel)
{
    if (rel == NULL)
        return;
    for (size_t i = 0; i < rel->n_entries; i++) {
        free(rel->entries[i].service);
        free(rel->entries[i].file);
        bg_revision_config_fini(&rel->entries[i].rev);
    }
    free(rel->entries);
    free(rel->path);
    memset(rel, 0, sizeof(*rel));
}

/* Checks api.requires ranges of the revision text <text> with positions: semver's message
 * at the column of the bad character. */
static int check_ranges(const char *text, size_t len, const char *file, bg_err_t *err)
{
    cfg_ctx_t c;
    yaml_node_t *root, *api = NULL, *req = NULL;
    int rc = 0;

    if (cfg_doc_open(&c, text, len, file, err) != 0)
        return BG_EINVAL;
    root = cfg_root(&c);
    for (yaml_node_pair_t *p = root != NULL && root->type == YAML_MAPPING_NODE
                                   ? root->data.mapping.pairs.start
                                   : NULL;
         p != NULL && p < root->data.mapping.pairs.top; p++)
        if (strcmp(cy_text(cfg_node(&c, p->key)), "api") == 0)
            api = cfg_node(&c, p->value);
    for (yaml_node_pair_t *p =
             api != NULL && api->type == YAML_MAPPING_NODE ? api->data.mapping.pairs.start : NULL;
         p != NULL && p < api->data.mapping.pairs.top; p++)
        if (strcmp(cy_text(cfg_node(&c, p->key)), "requires") == 0)
            req = cfg_node(&c, p->value);
    cfg_path_push_key(&c, "api.requires");
    for (yaml_node_pair_t *p =
             req != NULL && req->type == YAML_MAPPING_NODE ? req->data.mapping.pairs.start : NULL;
         rc == 0 && p != NULL && p < req->data.mapping.pairs.top; p++) {
        size_t saved = cfg_path_push_key(&c, cy_text(cfg_node(&c, p->key)));
        bg_range_t *r = NULL;
        char *t = NULL;
        rc = cy_range(&c, cfg_node(&c, p->value), &r, &t);
        bg_range_free(r);
        free(t);
        cfg_path_pop(&c, saved);
    }
    cfg_doc_close(&c);
    return rc;
}

/* <base>'s directory + <file>, or <file> when absolute. */
static char *resolve(const char *base, const char *file)
{
    const char *slash = strrchr(base, '/');

    if (file[0] == '/' || slash == NULL)
        return bg_strdup(file);
    return bg_asprintf("%.*s/%s", (int)(slash - base), base, file);
}

static void prefix_key(bg_err_t *err, const char *service)
{
    char *key;

    if (err == NULL)
        return;
    key = bg_asprintf("services.%s%s%s", service, err->key[0] ? "." : "", err->key);
    snprintf(err->key, sizeof(err->key), "%s", key);
    free(key);
}

/* A revision file is read whole on the control thread (POST /v1/plan, /v1/releases): only
 * a regular file, and not a huge one (a FIFO or /dev/zero would block or fill memory). */
static bool revision_file_ok(const char *path, bg_err_t *err)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return bg_err_set(err, BG_EIO, "%s", strerror(errno)), false;
    if (!S_ISREG(st.st_mode))
        return bg_err_set(err, BG_EINVAL, "not a regular file"), false;
    if (st.st_size > REVISION_FILE_MAX)
        return bg_err_set(err, BG_EINVAL, "larger than %d bytes", REVISION_FILE_MAX), false;
    return true;
}

static int entry_from_file(cfg_ctx_t *c, yaml_node_t *fnode, const bg_service_config_t *svc,
                           bg_compat_release_entry_t *e)
{
    const char *file = cy_scalar(fnode);
    char *text = NULL;
    size_t len = 0;
    bg_err_t ferr = {0};
    size_t saved = cfg_path_push_key(c, "file");
    char got[96];
    int rc;

    if (file == NULL || file[0] == '\0') {
        rc = cfg_fail(c, fnode, "expected a revision file path, got %s",
                      cfg_describe(fnode, got, sizeof(got)));
        goto out;
    }
    e->file = resolve(c->file, file);
    if (!revision_file_ok(e->file, &ferr) || bg_file_read(e->file, &text, &len, &ferr) != 0) {
        rc = cfg_fail_col(c, fnode, cy_scalar_lead(fnode), "cannot read revision file %s: %s",
                          e->file, ferr.msg);
        goto out;
    }
    rc = bg_revision_parse(text, len, e->file, svc, &e->rev, c->err);
    if (rc == 0)
        rc = check_ranges(text, len, e->file, c->err);
    if (rc == 0)
        rc = bg_compat_api_validate(&e->rev.api, NULL, c->err);
out:
    cfg_path_pop(c, saved);
    free(text);
    return rc;
}

/* The release text of <node>, at the same line and column as in the release file. */
static char *inline_text(const char *text, const yaml_node_t *node, size_t *len)
{
    size_t lines = node->start_mark.line, cols = node->start_mark.column;
    size_t from = node->start_mark.index, to = node->end_mark.index;
    char *out = bg_xmalloc(lines + cols + (to - from) + 1);

    memset(out, '\n', lines);
    memset(out + lines, ' ', cols);
    memcpy(out + lines + cols, text + from, to - from);
    *len = lines + cols + (to - from);
    out[*len] = '\0';
    return out;
}

static int entry_inline(cfg_ctx_t *c, const char *text, yaml_node_t *val,
                        const bg_service_config_t *svc, const char *name,
                        bg_compat_release_entry_t *e)
{
    size_t len = 0;
    char *sub = inline_text(text, val, &len);
    int rc = bg_revision_parse(sub, len, c->file, svc, &e->rev, c->err);

    if (rc == 0)
        rc = check_ranges(sub, len, c->file, c->err);
    if (rc == 0)
        rc = bg_compat_api_validate(&e->rev.api, NULL, c->err);
    if (rc != 0)
        prefix_key(c->err, name);
    free(sub);
    return rc;
}

static int read_entry(cfg_ctx_t *c, const char *text, const bg_config_t *cfg, yaml_node_t *knode,
                      yaml_node_t *val, bg_compat_release_t *rel)
{
    const char *name = cy_scalar(knode);
    const bg_service_config_t *svc = NULL;
    bg_compat_release_entry_t *e;
    yaml_node_t *fnode = NULL;
    char got[96];

    if (name == NULL || name[0] == '\0')
        return cfg_fail(c, knode, "expected a service name, got %s",
                        cfg_describe(knode, got, sizeof(got)));
    for (size_t i = 0; i < rel->n_entries; i++)
        if (strcmp(rel->entries[i].service, name) == 0)
            return cfg_fail(c, knode, "service \"%s\" is listed twice", name);
    if (cfg != NULL && (svc = bg_config_service(cfg, name)) == NULL)
        return cfg_fail(c, knode, "unknown service \"%.64s\": not in the config", name);
    if (val->type != YAML_MAPPING_NODE)
        return cfg_fail(c, val,
                        "expected {file: REVISION.yaml} or an inline revision mapping "
                        "(version, run or image, api), got %s",
                        cfg_describe(val, got, sizeof(got)));
    for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top; p++)
        if (strcmp(cy_text(cfg_node(c, p->key)), "file") == 0)
            fnode = cfg_node(c, p->value);
    if (fnode != NULL && cfg_map_size(val) > 1) {
        yaml_node_t *other = cfg_node(c, val->data.mapping.pairs.start[0].key);
        if (strcmp(cy_text(other), "file") == 0)
            other = cfg_node(c, val->data.mapping.pairs.start[1].key);
        return cfg_fail(c, other, "a service takes either file: or an inline revision, not both");
    }
    rel->entries = bg_xrealloc(rel->entries, (rel->n_entries + 1) * sizeof(*rel->entries));
    e = &rel->entries[rel->n_entries++];
    memset(e, 0, sizeof(*e));
    e->service = bg_strdup(name);
    return fnode != NULL ? entry_from_file(c, fnode, svc, e)
                         : entry_inline(c, text, val, svc, name, e);
}

static int read_release(cfg_ctx_t *c, const char *text, const bg_config_t *cfg,
                        bg_compat_release_t *rel)
{
    yaml_node_t *root = cfg_root(c), *services = NULL;
    char got[96];

    if (root == NULL || root->type != YAML_MAPPING_NODE)
        return cfg_fail(c, root, "expected a mapping with key \"services\", got %s",
                        cfg_describe(root, got, sizeof(got)));
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = cfg_node(c, p->key);
        if (strcmp(cy_text(k), "services") != 0)
            return cfg_fail(c, k, "unknown key %s: expected \"services\"",
                            cfg_describe(k, got, sizeof(got)));
        services = cfg_node(c, p->value);
    }
    if (services == NULL)
        return cfg_fail(c, root, "missing key \"services\"");
    cfg_path_push_key(c, "services");
    if (services->type != YAML_MAPPING_NODE || cfg_map_size(services) == 0)
        return cfg_fail(c, services,
                        "expected a mapping of services to revisions like {orders: {file: "
                        "orders-3.yaml}}, got %s",
                        cfg_describe(services, got, sizeof(got)));
    for (yaml_node_pair_t *p = services->data.mapping.pairs.start;
         p < services->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cfg_node(c, p->key);
        size_t saved = cfg_path_push_key(c, cy_text(k));
        int rc = read_entry(c, text, cfg, k, cfg_node(c, p->value), rel);
        cfg_path_pop(c, saved);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int bg_compat_release_parse(const char *text, size_t len, const char *name, const bg_config_t *cfg,
                            bg_compat_release_t *out, bg_err_t *err)
{
    cfg_ctx_t c;
    int rc;

    memset(out, 0, sizeof(*out));
    bg_err_clear(err);
    rc = cfg_doc_open(&c, text, len, name, err);
    if (rc != 0)
        return rc;
    out->path = bg_strdup(name);
    rc = read_release(&c, text, cfg, out);
    cfg_doc_close(&c);
    if (rc != 0)
        bg_compat_release_fini(out);
    return rc;
}

int bg_compat_release_load(const char *path, const bg_config_t *cfg, bg_compat_release_t *out,
                           bg_err_t *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    bg_err_clear(err);
    rc = bg_file_read(path, &text, &len, err);
    if (rc != 0)
        return rc;
    rc = bg_compat_release_parse(text, len, path, cfg, out, err);
    free(text);
    return rc;
}
