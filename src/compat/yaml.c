/* Node helpers of the compat module's own files (the matrix rules file and RELEASE.yaml)
 * on top of config's YAML reader (config/node.h), which parses them with its nesting-depth
 * guard and positions like the config file: scalars as text, and version ranges whose
 * errors point at the bad character inside the scalar (docs/design.md §10).
 */
#include "compat/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

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

unsigned cy_scalar_lead(const yaml_node_t *node)
{
    yaml_scalar_style_t st = node->data.scalar.style;

    return st == YAML_SINGLE_QUOTED_SCALAR_STYLE || st == YAML_DOUBLE_QUOTED_SCALAR_STYLE ? 1 : 0;
}

int cy_range(cfg_ctx_t *c, yaml_node_t *node, bg_range_t **out, char **text)
{
    const char *s = cy_scalar(node);
    char got[96];
    bg_err_t rerr = {0};

    if (s == NULL || (s[0] == '\0' && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE))
        return cfg_fail(c, node, "expected a version range like \"^1.4\" or \"<3.1\", got %s",
                        cfg_describe(node, got, sizeof(got)));
    *out = bg_range_parse(s, &rerr);
    if (*out == NULL) {
        /* a one-line scalar maps the range's column onto the file's; otherwise point at
         * the scalar and let the message name the column */
        unsigned extra = 0;
        if (node->start_mark.line == node->end_mark.line && rerr.column > 0)
            extra = cy_scalar_lead(node) + rerr.column - 1;
        return cfg_fail_col(c, node, extra, "%s", rerr.msg);
    }
    *text = bg_strdup(s);
    return 0;
}
