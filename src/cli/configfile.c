/* Reading the config file for the verbs that need it: serve and check-config load it,
 * the API verbs read only its `admin` and `admin_token` (api.c). Errors are printed here,
 * once, in the compiler's shape file:line:column: key: message, so editors can jump to it.
 */
#include "cli/internal.h"

#include <unistd.h>

#include "base/base.h"

#define DEFAULT_CONFIG "bluegreen.yaml"

const char *bg_cli_config_path(const bg_cli_t *cli)
{
    return cli->config_path != NULL ? cli->config_path : DEFAULT_CONFIG;
}

bg_config_t *bg_cli_config_load(bg_cli_t *cli)
{
    const char *path = bg_cli_config_path(cli);
    char line[BG_ERR_MSG_MAX + 2 * BG_ERR_PATH_MAX + 64];
    bg_config_t *cfg;
    bg_err_t err;

    bg_err_clear(&err);
    cfg = bg_config_load(path, &err);
    if (cfg != NULL)
        return cfg;
    bg_err_format(&err, line, sizeof(line));
    if (cli->json) {
        json_t *pos = json_pack("{s:s}", "file", err.file[0] ? err.file : path);
        if (err.line > 0)
            json_object_set_new(pos, "line", json_integer(err.line));
        if (err.column > 0)
            json_object_set_new(pos, "column", json_integer(err.column));
        if (err.key[0] != '\0')
            json_object_set_new(pos, "key", json_string(err.key));
        bg_cli_error_json(cli, BG_EXIT_USAGE, "config", pos, "%s", line);
        return NULL;
    }
    /* The loader names the file in its positions; when it did not (a file that cannot be
     * read), say which file we tried. */
    if (err.file[0] == '\0')
        fprintf(cli->err, "%s: %s\n", path, line);
    else
        fprintf(cli->err, "%s\n", line);
    if (cli->config_path == NULL && access(path, F_OK) != 0)
        fprintf(cli->err, "bluegreen: no config file given; tried ./%s (use -c FILE)\n",
                DEFAULT_CONFIG);
    return NULL;
}
