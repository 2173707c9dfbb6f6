/* `bluegreen serve` in a tree built without src/server: says so and exits 2, so a partial
 * build never pretends to run a daemon. CMakeLists.txt picks this file or serve.c.
 */
#include "cli/internal.h"

#include "base/base.h"

int bg_cli_serve(bg_cli_t *cli, int argc, char **argv)
{
    return bg_cli_fail(cli, BG_EXIT_USAGE,
                       "serve is not available in this build (built without src/server)");
}
