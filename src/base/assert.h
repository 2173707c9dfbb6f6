/* BG_ASSERT: invariants, on in every build (Redis serverAssert, HAProxy BUG_ON). Never for
 * validating input. */
#ifndef BG_BASE_ASSERT_H
#define BG_BASE_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define BG_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0)) {                                                        \
            fprintf(stderr, "level=error component=assert msg=\"%s\" at=%s:%d\n", #cond,          \
                    __FILE__, __LINE__);                                                           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
