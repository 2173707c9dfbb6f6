/* The AWS shared config and credentials files: INI sections ("[default]", "[profile x]"
 * in config, "[x]" in credentials), "key = value" lines, '#' and ';' comments, and
 * indented continuation lines for nested settings (which we skip: none of ours nest).
 */
#include "aws/internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/file.h"
#include "base/compat.h"

/* Walks <text> and returns a copy of <key> in <section> (NULL: only checks the section,
 * returning "" when it exists). */
static char *lookup(const char *text, const char *section, const char *key)
{
    bool in_section = false;
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        bool indented = len > 0 && (p[0] == ' ' || p[0] == '\t');
        bg_str_t line = bg_str_trim((bg_str_t){p, len});
        if (line.len > 0 && line.ptr[line.len - 1] == '\r')
            line.len--;
        p += len + (eol ? 1 : 0);
        if (line.len == 0 || line.ptr[0] == '#' || line.ptr[0] == ';')
            continue;
        if (line.ptr[0] == '[' && line.ptr[line.len - 1] == ']') {
            bg_str_t name = bg_str_trim((bg_str_t){line.ptr + 1, line.len - 2});
            in_section = bg_str_eq(name, bg_str(section));
            if (in_section && key == NULL)
                return bg_strdup("");
            continue;
        }
        if (!in_section || key == NULL || indented)
            continue;
        const char *eq = memchr(line.ptr, '=', line.len);
        if (eq == NULL)
            continue;
        bg_str_t k = bg_str_trim((bg_str_t){line.ptr, (size_t)(eq - line.ptr)});
        bg_str_t v = bg_str_trim((bg_str_t){eq + 1, line.len - (size_t)(eq - line.ptr) - 1});
        if (bg_str_eq(k, bg_str(key)))
            return bg_strndup(v.ptr, v.len);
    }
    return NULL;
}

char *bg_aws_ini_get(const char *path, const char *section, const char *key)
{
    char *text = NULL;
    size_t len;
    if (path == NULL || bg_file_read(path, &text, &len, NULL) != 0)
        return NULL;
    char *v = lookup(text, section, key);
    free(text);
    return v;
}

bool bg_aws_ini_has_section(const char *path, const char *section)
{
    char *text = NULL;
    size_t len;
    if (path == NULL || bg_file_read(path, &text, &len, NULL) != 0)
        return false;
    char *v = lookup(text, section, NULL);
    free(text);
    bool found = v != NULL;
    free(v);
    return found;
}
