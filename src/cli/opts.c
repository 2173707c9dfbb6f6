/* The options of one verb (deploy's --version, --wait, --label k=v ...), after cli.c took
 * the global ones out. Table-driven so every verb spells, repeats and reports its options
 * the same way: "--name V" or "--name=V", "--" ends them, an unknown one is a usage error.
 */
#include "cli/internal.h"

#include "base/base.h"

static const bg_cli_opt_t *find(const bg_cli_opt_t *opts, size_t n, const char *arg,
                                const char **inline_value)
{
    *inline_value = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *names[] = {opts[i].name, opts[i].alias};
        for (size_t k = 0; k < BG_ARRAY_LEN(names); k++) {
            size_t len = names[k] != NULL ? strlen(names[k]) : 0;
            if (len == 0 || strncmp(arg, names[k], len) != 0)
                continue;
            if (arg[len] == '\0')
                return &opts[i];
            if (arg[len] == '=' && opts[i].kind != BG_OPT_FLAG) {
                *inline_value = arg + len + 1;
                return &opts[i];
            }
        }
    }
    return NULL;
}

static void store(const bg_cli_opt_t *o, const char *value)
{
    bg_cli_list_t *l;

    switch (o->kind) {
    case BG_OPT_FLAG:
        *(bool *)o->dst = true;
        break;
    case BG_OPT_VALUE:
        *(const char **)o->dst = value;
        break;
    case BG_OPT_LIST:
        l = o->dst;
        l->v = bg_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
        l->v[l->n++] = value;
        break;
    }
}

int bg_cli_parse_opts(bg_cli_t *cli, const char *verb, int argc, char **argv,
                      const bg_cli_opt_t *opts, size_t n_opts, char **pos, int *n_pos)
{
    bool opts_done = false;

    *n_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *value = NULL;
        const bg_cli_opt_t *o;

        if (opts_done || a[0] != '-' || a[1] == '\0') {
            pos[(*n_pos)++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            opts_done = true;
            continue;
        }
        o = find(opts, n_opts, a, &value);
        if (o == NULL)
            return bg_cli_usage(cli, verb, "unknown option '%s'", a);
        if (o->kind != BG_OPT_FLAG && value == NULL) {
            if (i + 1 >= argc)
                return bg_cli_usage(cli, verb, "option %s needs a value", a);
            value = argv[++i];
        }
        store(o, value);
    }
    return BG_EXIT_OK;
}

bool bg_cli_check_kv(bg_cli_t *cli, const char *verb, const char *opt, const char *kv)
{
    const char *eq = strchr(kv, '=');

    if (eq == NULL || eq == kv || strcspn(kv, " \t") < (size_t)(eq - kv)) {
        bg_cli_usage(cli, verb, "%s '%s' must be KEY=VALUE", opt, kv);
        return false;
    }
    return true;
}
