/* bluegreen: argv dispatch only; everything else lives in bgcore (src/cli/). */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return bg_cli_main(argc, argv);
}
