/* Included last by every .c of ours (through base.h): poisons unbounded string functions
 * (HAProxy fails its build on them). Use snprintf, bg_buf_*, bg_str_to_u64 instead. */
#ifndef BG_BASE_COMPAT_H
#define BG_BASE_COMPAT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC poison strcpy strcat sprintf vsprintf atoi atol gets

#endif
