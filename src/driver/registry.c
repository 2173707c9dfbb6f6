/* The drivers compiled into this build (docs/design.md §8): what `check-config` checks a
 * config's `driver:` keys against, so that a service no driver here can run is refused
 * before `serve`. A driver's source file lands together with its entry here; the factory
 * (bg_driver_new) and this table must agree.
 */
#include "driver/driver.h"

#include <stdio.h>

#include "base/base.h"
#include "base/compat.h"

/* static runs nothing: its targets come from the config or the admin API (server/). */
static const bg_driver_kind_t in_build[] = {BG_DRIVER_PROCESS, BG_DRIVER_STATIC, BG_DRIVER_DOCKER,
                                             BG_DRIVER_ECS};

bool bg_driver_in_build(bg_driver_kind_t kind)
{
    for (size_t i = 0; i < BG_ARRAY_LEN(in_build); i++)
        if (in_build[i] == kind)
            return true;
    return false;
}

const char *bg_driver_in_build_list(char *out, size_t size)
{
    size_t off = 0;

    out[0] = '\0';
    for (size_t i = 0; i < BG_ARRAY_LEN(in_build) && off < size; i++)
        off += (size_t)snprintf(out + off, size - off, "%s%s", i > 0 ? ", " : "",
                                bg_driver_kind_str(in_build[i]));
    return out;
}
