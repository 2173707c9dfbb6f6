/* Shared helpers of the aws unit tests: run one call to completion on a private loop,
 * close a client and prove no handle is left, canned HTTP answers, and a server-side
 * signature check (re-signs what arrived on the wire with the module's signer).
 * Thread: the test thread, except aws_test_signature_ok (any).
 */
#ifndef BG_TESTS_UNIT_AWS_COMMON_H
#define BG_TESTS_UNIT_AWS_COMMON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "aws/aws.h"

/* Test keys: the secret of any access key K is "S-" K (aws_test_signature_ok relies on it). */
#define AWS_TEST_KEY "AKIDTEST"
#define AWS_TEST_SECRET "S-AKIDTEST"

typedef struct aws_test_result {
    bool done;
    int status;
    long http_status;
    unsigned attempts;
    char aws_code[128], request_id[128], msg[512];
    json_t *body; /* new reference or NULL; the test decrefs */
} aws_test_result_t;

/* bg_aws_call(<params> taken) and runs <loop> until its callback ran (10 s at most). */
void aws_test_call(uv_loop_t *loop, bg_aws_t *aws, const bg_aws_service_t *svc, const char *op,
                   json_t *params, aws_test_result_t *r);
/* Closes <aws> (NULL: skip), runs <loop> dry and asserts uv_loop_close() == 0. */
void aws_test_close(uv_loop_t *loop, bg_aws_t *aws);
/* "HTTP/1.1 <status> X" response with Content-Length, in a rotating static buffer. */
const char *aws_test_response(int status, const char *ctype, const char *body);
/* True if the Authorization header of the raw request head <head> with body <body>
 * matches a signature recomputed from the signed headers named in it. */
bool aws_test_signature_ok(const char *head, const char *body, size_t len);

#endif
