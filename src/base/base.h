/* Convenience umbrella for the base module. Include first in module headers that need
 * several base facilities. */
#ifndef BG_BASE_BASE_H
#define BG_BASE_BASE_H

#include "base/assert.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fault.h"
#include "base/list.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"

#endif
