/* Shared bits of the fuzz entry points (libFuzzer signature) and of driver.c, the
 * deterministic replay + mutation runner ctest uses. See docs/internals/fuzzing.md.
 *
 * Each entry point file defines bg_fuzz_<target>() and, unless BG_FUZZ_DRIVER is defined
 * (driver.c links all of them into one program), LLVMFuzzerTestOneInput() calling it.
 */
#ifndef BG_TESTS_FUZZ_FUZZ_H
#define BG_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int bg_fuzz_http_request(const uint8_t *data, size_t size);
int bg_fuzz_config_load(const uint8_t *data, size_t size);
int bg_fuzz_semver_range(const uint8_t *data, size_t size);
int bg_fuzz_release_file(const uint8_t *data, size_t size);

/* An invariant failed: say which and abort (libFuzzer and driver.c both report it). */
#define BG_FUZZ_CHECK(cond, ...)                                                                 \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "fuzz invariant failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

#ifndef BG_FUZZ_DRIVER
#define BG_FUZZ_ENTRY(fn)                                                                        \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                                \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                                 \
    {                                                                                            \
        return fn(data, size);                                                                   \
    }
#else
#define BG_FUZZ_ENTRY(fn)
#endif

#endif
