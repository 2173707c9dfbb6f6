/* services.<name>.ecs (src/config/ecs.c): every key read, required keys, shapes of ARNs
 * and URLs, and ecs: only with driver: ecs, each error at its file:line:column. */
#include "helpers.h"

#define RULE "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/1/2/3"
#define TRULE "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/1/4/5"
#define TGB "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-blue/1"
#define TGG "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-green/2"
#define LB "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/1"
#define ROLE "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"

#define HEAD "services:\n  web:\n    driver: ecs\n    image: repo/web:1.0.0\n"

Test(ecs, every_key)
{
    bg_config_t *cfg = parse_ok(HEAD "    ecs:\n"
                                     "      cluster: prod\n"
                                     "      region: eu-west-1\n"
                                     "      endpoint_url: http://127.0.0.1:4566\n"
                                     "      launch_type: EC2\n"
                                     "      subnets: [subnet-1, subnet-2]\n"
                                     "      security_groups: sg-1\n"
                                     "      assign_public_ip: true\n"
                                     "      execution_role_arn: " ROLE "\n"
                                     "      task_role_arn: " ROLE "\n"
                                     "      listener_rule_arn: " RULE "\n"
                                     "      test_listener_rule_arn: " TRULE "\n"
                                     "      target_groups: {blue: " TGB ", green: " TGG "}\n"
                                     "      load_balancer_arn: " LB "\n"
                                     "      probe_url: https://web.example.com/version\n"
                                     "      test_url: http://test.example.com:8443/\n"
                                     "      log_group: /ecs/web\n");
    const bg_ecs_config_t *e = &cfg->services[0].ecs;

    cr_assert(e->present);
    cr_expect_eq(cfg->services[0].driver, BG_DRIVER_ECS);
    cr_expect_str_eq(e->cluster, "prod");
    cr_expect_str_eq(e->region, "eu-west-1");
    cr_expect_str_eq(e->endpoint_url, "http://127.0.0.1:4566");
    cr_expect_str_eq(e->launch_type, "EC2");
    cr_assert_eq(e->n_subnets, 2);
    cr_expect_str_eq(e->subnets[1], "subnet-2");
    cr_assert_eq(e->n_security_groups, 1);
    cr_expect_str_eq(e->security_groups[0], "sg-1");
    cr_expect(e->assign_public_ip);
    cr_expect_str_eq(e->execution_role_arn, ROLE);
    cr_expect_str_eq(e->task_role_arn, ROLE);
    cr_expect_str_eq(e->listener_rule_arn, RULE);
    cr_expect_str_eq(e->test_listener_rule_arn, TRULE);
    cr_expect_str_eq(e->target_groups[BG_SLOT_BLUE], TGB);
    cr_expect_str_eq(e->target_groups[BG_SLOT_GREEN], TGG);
    cr_expect_str_eq(e->load_balancer_arn, LB);
    cr_expect_str_eq(e->probe_url, "https://web.example.com/version");
    cr_expect_str_eq(e->test_url, "http://test.example.com:8443/");
    cr_expect_str_eq(e->log_group, "/ecs/web");
    bg_config_free(cfg);
}

Test(ecs, minimal_and_defaults)
{
    bg_config_t *cfg = parse_ok(HEAD "    ecs:\n      cluster: prod\n"
                                     "      listener_rule_arn: " RULE "\n"
                                     "      target_groups: {blue: " TGB ", green: " TGG "}\n");
    const bg_ecs_config_t *e = &cfg->services[0].ecs;

    cr_expect_null(e->launch_type); /* FARGATE */
    cr_expect_null(e->test_listener_rule_arn);
    cr_expect_null(e->probe_url);
    cr_expect_not(e->assign_public_ip);
    cr_expect_eq(e->n_subnets, 0);
    bg_config_free(cfg);
}

Test(ecs, errors_are_positioned)
{
    assert_err(HEAD, "t.yaml:3:5: services.web: the ecs driver needs an ecs: mapping (cluster, "
                     "listener_rule_arn, target_groups: {blue, green}, ...)");
    assert_err(HEAD "    ecs: prod\n",
               "t.yaml:5:10: services.web.ecs: expected a mapping (cluster, listener_rule_arn, "
               "target_groups, ...), got \"prod\"");
    assert_err(HEAD "    ecs:\n      listener_rule_arn: " RULE "\n",
               "t.yaml:6:7: services.web.ecs: missing cluster (the ECS cluster's name or ARN)");
    assert_err(HEAD "    ecs:\n      cluster: prod\n      target_groups: {blue: " TGB
                    ", green: " TGG "}\n",
               "t.yaml:6:7: services.web.ecs: missing listener_rule_arn (the production listener "
               "rule whose weighted forward moves traffic)");
    assert_err(HEAD "    ecs:\n      cluster: prod\n      listener_rule_arn: " RULE "\n",
               "t.yaml:6:7: services.web.ecs: missing target_groups: {blue: ARN, green: ARN}");
    assert_err(HEAD "    ecs:\n      cluster: prod\n      listener_rule_arn: " RULE "\n"
                    "      target_groups: {blue: " TGB "}\n",
               "t.yaml:8:22: services.web.ecs.target_groups: target_groups needs both blue and "
               "green (target group ARNs)");
    assert_err(HEAD "    ecs:\n      cluster: prod\n      listener_rule_arn: " RULE "\n"
                    "      target_groups: {blue: " TGB ", green: " TGB "}\n",
               "t.yaml:8:22: services.web.ecs.target_groups: blue and green need two different "
               "target groups");
    assert_err(HEAD "    ecs:\n      cluster: prod\n      listener_rule_arn: " TGB "\n",
               "t.yaml:7:26: services.web.ecs.listener_rule_arn: expected an ARN like "
               "arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener-rule/..., got \"" TGB "\"");
    assert_err(HEAD "    ecs:\n      cluster: prod\n      launch_type: LAMBDA\n",
               "t.yaml:7:20: services.web.ecs.launch_type: expected one of FARGATE, EC2, "
               "EXTERNAL, got \"LAMBDA\"");
    assert_err(HEAD "    ecs:\n      cluster: prod\n      probe_url: web.example.com\n",
               "t.yaml:7:18: services.web.ecs.probe_url: expected an http:// or https:// URL, "
               "got \"web.example.com\"");
    assert_err(HEAD "    ecs:\n      cluster: prod\n      clustre: x\n",
               "t.yaml:7:7: services.web.ecs.clustre: unknown key \"clustre\"; valid keys: "
               "cluster, region, endpoint_url, launch_type, subnets, security_groups, "
               "assign_public_ip, execution_role_arn, task_role_arn, listener_rule_arn, "
               "test_listener_rule_arn, target_groups, load_balancer_arn, probe_url, test_url, "
               "log_group");
    assert_err("services:\n  a:\n" SVC_RUN "    ecs: {cluster: prod, listener_rule_arn: " RULE
               ", target_groups: {blue: " TGB ", green: " TGG "}}\n",
               "t.yaml:4:10: services.a.ecs: ecs is only for the ecs driver (this service uses "
               "process)");
}

Test(ecs, a_task_definition_arn_is_an_image_of_the_ecs_driver_only)
{
    bg_config_t *cfg = parse_ok("services:\n  web:\n    driver: ecs\n"
                                "    image: arn:aws:ecs:us-east-1:123456789012:task-definition/web:7\n"
                                "    ecs:\n      cluster: prod\n"
                                "      listener_rule_arn: " RULE "\n"
                                "      target_groups: {blue: " TGB ", green: " TGG "}\n");
    cr_expect_str_eq(cfg->services[0].rev.image,
                     "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7");
    bg_config_free(cfg);
    assert_err("services:\n  web:\n    driver: docker\n"
               "    image: arn:aws:ecs:us-east-1:123456789012:task-definition/web:7\n",
               "t.yaml:4:12: services.web: an ECS task definition ARN is an image only for the "
               "ecs driver");
}
