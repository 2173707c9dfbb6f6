/* Private to the dashboard module: the table the generated assets_gen.c defines. */
#ifndef BG_DASHBOARD_INTERNAL_H
#define BG_DASHBOARD_INTERNAL_H

#include <stddef.h>

#include "dashboard/dashboard.h"

/* Sorted by path, terminated by {NULL}. (assets_gen.c, made by cmake/embed_assets.cmake) */
extern const bg_dash_asset_t bg_dash_assets[];
extern const size_t bg_dash_n_assets;

#endif
