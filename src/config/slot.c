/* Enum names for the config module's types. */
#include "config/config.h"

#include <string.h>

const char *bg_slot_str(bg_slot_t slot)
{
    return slot == BG_SLOT_GREEN ? "green" : "blue";
}

bool bg_slot_parse(const char *s, bg_slot_t *out)
{
    if (strcmp(s, "blue") == 0)
        *out = BG_SLOT_BLUE;
    else if (strcmp(s, "green") == 0)
        *out = BG_SLOT_GREEN;
    else
        return false;
    return true;
}

const char *bg_driver_kind_str(bg_driver_kind_t kind)
{
    switch (kind) {
    case BG_DRIVER_PROCESS: return "process";
    case BG_DRIVER_DOCKER: return "docker";
    case BG_DRIVER_STATIC: return "static";
    case BG_DRIVER_ECS: return "ecs";
    }
    return "?";
}

const char *bg_health_type_str(bg_health_type_t t)
{
    return t == BG_HEALTH_TCP ? "tcp" : "http";
}

const char *bg_strategy_kind_str(bg_strategy_kind_t k)
{
    switch (k) {
    case BG_STRATEGY_ALL_AT_ONCE: return "all-at-once";
    case BG_STRATEGY_CANARY: return "canary";
    case BG_STRATEGY_LINEAR: return "linear";
    case BG_STRATEGY_STEPS: return "steps";
    }
    return "?";
}
