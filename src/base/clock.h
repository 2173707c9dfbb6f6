/* Clocks. Thread: any. */
#ifndef BG_BASE_CLOCK_H
#define BG_BASE_CLOCK_H

#include <stdint.h>

/* Monotonic milliseconds / microseconds (CLOCK_MONOTONIC). */
uint64_t bg_now_ms(void);
uint64_t bg_now_us(void);
/* Wall clock, milliseconds since the Unix epoch. */
uint64_t bg_wall_ms(void);
/* Formats wall-clock <ms> as RFC 3339 UTC with milliseconds into <out> (>= 32 bytes). */
char *bg_wall_format(uint64_t ms, char *out);

#endif
