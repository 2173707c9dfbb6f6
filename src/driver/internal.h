/* Helpers shared by the drivers. */
#ifndef BG_DRIVER_INTERNAL_H
#define BG_DRIVER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "driver/driver.h"

/* mkdir -p <path> (mode 0755). 0 or a negative code with <err>. */
int bg_driver_mkdirs(const char *path, bg_err_t *err);
/* Appends the last <max_bytes> of file <path> to <out> (nothing if it does not exist). */
int bg_driver_tail_file(const char *path, size_t max_bytes, bg_buf_t *out);

/* A port that was free on 127.0.0.1 a moment ago, in <*port>. The window until the app binds
 * it is small, and a collision shows up as a failed health check, never as misrouted
 * traffic. 0 or a negative code with <err>. Thread: control. */
int bg_driver_pick_port(uint16_t *port, bg_err_t *err);

/* The process driver's scan (scan.c): group leaders whose environment has
 * BLUEGREEN_STATE_DIR=<state_dir> (absolute). */
int bg_driver_proc_scan(bg_driver_t *d, const char *state_dir, bg_driver_found_cb cb, void *arg);

#endif
