/* A small libyaml reader for the compat module's own files (the rules/matrix file and
 * RELEASE.yaml): one document, nodes with positions, a key path maintained while walking,
 * and errors as file:line:column + key path + what was expected (docs/design.md §10). The config
 * module has a richer one; compat keeps its own so the two can evolve apart.
 */
#include "compat/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"


int cy_load(cy_ctx_t *c, const char *text, size_t len, const char *file, bg_err_t *err)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    int rc = 0;

    memset(c, 0, sizeof(*c));
    c->file = file;
    c->err = err;
    if (!yaml_parser_initialize(&parser))
        return bg_err_set_at(err, BG_EINVAL, file, 0, 0, NULL, "cannot initialise YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &c->doc))
        goto syntax;
    c->loaded = true;
    if (yaml_document_get_root_node(&c->doc) == NULL)
        goto out;
    if (!yaml_parser_load(&parser, &extra))
        goto syntax;
    if (yaml_document_get_root_node(&extra) != NULL)
        rc = bg_err_set_at(err, BG_EINVAL, file, (unsigned)extra.start_mark.line + 1,
                           (unsigned)extra.start_mark.column + 1, NULL,
                           "expected one YAML document, found a second one");
    yaml_document_delete(&extra);
    goto out;
syntax:
    rc = bg_err_set_at(err, BG_EINVAL, file, (unsigned)parser.problem_mark.line + 1,
                       (unsigned)parser.problem_mark.column + 1, NULL, "invalid YAML: %s%s%s",
                       parser.problem ? parser.problem : "syntax error", parser.context ? " " : "",
                       parser.context ? parser.context : "");
out:
    yaml_parser_delete(&parser);
    if (rc != 0)
        cy_fini(c);
    return rc;
}

void cy_fini(cy_ctx_t *c)
{
    if (c->loaded)
        yaml_document_delete(&c->doc);
    c->loaded = false;
}

yaml_node_t *cy_root(cy_ctx_t *c)
{
    return c->loaded ? yaml_document_get_root_node(&c->doc) : NULL;
}

yaml_node_t *cy_node(cy_ctx_t *c, int index)
{
    return yaml_document_get_node(&c->doc, index);
}

int cy_fail(cy_ctx_t *c, const yaml_node_t *node, unsigned extra_cols, const char *fmt, ...)
{
    char msg[BG_ERR_MSG_MAX];
    va_list ap;
    unsigned line = node != NULL ? (unsigned)node->start_mark.line + 1 : 1;
    unsigned col = node != NULL ? (unsigned)node->start_mark.column + 1 : 1;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return bg_err_set_at(c->err, BG_EINVAL, c->file, line, col + extra_cols,
                         c->path_len > 0 ? c->path : NULL, "%s", msg);
}

size_t cy_push_key(cy_ctx_t *c, const char *key)
{
    size_t saved = c->path_len;
    int n = snprintf(c->path + c->path_len, sizeof(c->path) - c->path_len, "%s%s",
                     c->path_len > 0 ? "." : "", key);

    if (n > 0)
        c->path_len = strnlen(c->path, sizeof(c->path) - 1);
    return saved;
}

size_t cy_push_index(cy_ctx_t *c, size_t i)
{
    size_t saved = c->path_len;

    snprintf(c->path + c->path_len, sizeof(c->path) - c->path_len, "[%zu]", i);
    c->path_len = strnlen(c->path, sizeof(c->path) - 1);
    return saved;
}

void cy_pop(cy_ctx_t *c, size_t saved)
{
    c->path_len = saved;
    c->path[saved] = '\0';
}

const char *cy_scalar(const yaml_node_t *node)
{
    return node != NULL && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value
                                                          : NULL;
}

const char *cy_text(const yaml_node_t *node)
{
    const char *s = cy_scalar(node);

    return s != NULL ? s : "";
}

size_t cy_map_size(const yaml_node_t *node)
{
    if (node == NULL || node->type != YAML_MAPPING_NODE)
        return 0;
    return (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
}

const char *cy_describe(const yaml_node_t *node, char *buf, size_t size)
{
    if (node == NULL)
        snprintf(buf, size, "nothing");
    else if (node->type == YAML_MAPPING_NODE)
        snprintf(buf, size, "a mapping");
    else if (node->type == YAML_SEQUENCE_NODE)
        snprintf(buf, size, "a list");
    else if (node->data.scalar.length == 0 && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        snprintf(buf, size, "nothing");
    else
        snprintf(buf, size, "\"%.60s\"", (const char *)node->data.scalar.value);
    return buf;
}

unsigned cy_scalar_lead(const yaml_node_t *node)
{
    yaml_scalar_style_t st = node->data.scalar.style;

    return st == YAML_SINGLE_QUOTED_SCALAR_STYLE || st == YAML_DOUBLE_QUOTED_SCALAR_STYLE ? 1 : 0;
}

int cy_range(cy_ctx_t *c, yaml_node_t *node, bg_range_t **out, char **text)
{
    const char *s = cy_scalar(node);
    char got[96];
    bg_err_t rerr = {0};

    if (s == NULL || (s[0] == '\0' && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE))
        return cy_fail(c, node, 0, "expected a version range like \"^1.4\" or \"<3.1\", got %s",
                       cy_describe(node, got, sizeof(got)));
    *out = bg_range_parse(s, &rerr);
    if (*out == NULL) {
        /* a one-line scalar maps the range's column onto the file's; otherwise point at
         * the scalar and let the message name the column */
        unsigned extra = 0;
        if (node->start_mark.line == node->end_mark.line && rerr.column > 0)
            extra = cy_scalar_lead(node) + rerr.column - 1;
        return cy_fail(c, node, extra, "%s", rerr.msg);
    }
    *text = bg_strdup(s);
    return 0;
}
