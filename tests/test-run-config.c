/* Unit tests of io/run_config.c and the score options it feeds (src/score_job.c): keys, types,
 * precedence of the command line over the config. */
#include "tests/check.h"
#include "io/run_config.h"
#include "src/job/score_job.h"

static const char *write_config(const char *name, const char *json) {
    static char path[4200];
    snprintf(path, sizeof path, "%s/run.json", check_tmpdir(name));
    FILE *f = fopen(path, "w");
    fputs(json, f);
    fclose(f);
    return path;
}

static void test_every_key_becomes_its_command_line_option(void) {
    char **args;
    int n;
    rms_err err;
    CHECK_EQ_INT(rms_run_config_args("{\"model\": \"/m\", \"stages\": 4, \"layer_split\": [10, 8, 7, 7], "
                                     "\"quiet\": true, \"allow_tokenizer_mismatch\": false, \"max_tokens\": null}",
                                     "cfg", &args, &n, &err), RMS_OK);
    CHECK_EQ_INT(n, 7);
    if (n == 7) {
        CHECK(strcmp(args[0], "--model") == 0 && strcmp(args[1], "/m") == 0);
        CHECK(strcmp(args[2], "--stages") == 0 && strcmp(args[3], "4") == 0);
        CHECK(strcmp(args[4], "--layer-split") == 0 && strcmp(args[5], "10,8,7,7") == 0);
        CHECK(strcmp(args[6], "--quiet") == 0);
    }
    rms_run_config_free_args(args, n);
}

static void test_unknown_keys_and_wrong_types_are_errors_naming_the_key(void) {
    char **args;
    int n;
    rms_err err;
    CHECK_EQ_INT(rms_run_config_args("{\"modle\": \"/m\"}", "cfg.json", &args, &n, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "unknown key \"modle\"");
    CHECK_CONTAINS(err.msg, "cfg.json");
    CHECK_EQ_INT(rms_run_config_args("{\"stages\": \"4\"}", "cfg", &args, &n, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "\"stages\" must be an integer");
    CHECK_EQ_INT(rms_run_config_args("{\"stages\": 2.5}", "cfg", &args, &n, &err), RMS_ERR_FORMAT);
    CHECK_EQ_INT(rms_run_config_args("{\"quiet\": 1}", "cfg", &args, &n, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "true or false");
    CHECK_EQ_INT(rms_run_config_args("{\"layer_split\": [8, \"8\"]}", "cfg", &args, &n, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "list of integers");
    CHECK_EQ_INT(rms_run_config_args("[1]", "cfg", &args, &n, &err), RMS_ERR_FORMAT);
    CHECK_EQ_INT(rms_run_config_args("{\"model\": \"/m\"} x", "cfg", &args, &n, &err), RMS_ERR_FORMAT);
}

static void test_the_command_line_overrides_the_config(void) {
    const char *cfg = write_config("run-config-precedence",
                                   "{\"model\": \"/cfg/model\", \"data\": \"/cfg/pairs.h5\", \"out\": \"/cfg/out.h5\", "
                                   "\"stages\": 4, \"microbatch_tokens\": 1024, \"shard\": \"1/3\"}");
    char *argv[] = {"rmscore", "score", "--stages", "2", "--config", (char *)cfg, "--out", "/cli/out.h5", NULL};
    rms_score_opts o;
    rms_err err;
    CHECK_EQ_INT(rms_score_opts_parse(8, argv, &o, &err), RMS_OK);
    CHECK(strcmp(o.model, "/cfg/model") == 0);
    CHECK(strcmp(o.out, "/cli/out.h5") == 0);
    CHECK_EQ_INT(o.stages, 2);
    CHECK_EQ_INT(o.microbatch_tokens, 1024);
    CHECK_EQ_INT(o.shard_index, 1);
    CHECK_EQ_INT(o.shard_count, 3);
    CHECK_EQ_INT(strlen(o.config_sha256), 64);
    rms_score_opts_free(&o);
}

static void test_a_bad_config_value_is_reported_with_the_config_file(void) {
    const char *cfg = write_config("run-config-bad", "{\"model\": \"/m\", \"data\": \"/d\", \"out\": \"/o\", "
                                                     "\"overlong\": \"chop\"}");
    char *argv[] = {"rmscore", "score", "--config", (char *)cfg, NULL};
    rms_score_opts o;
    rms_err err;
    CHECK_EQ_INT(rms_score_opts_parse(4, argv, &o, &err), RMS_ERR_ARG);
    CHECK_CONTAINS(err.msg, cfg);
    CHECK_CONTAINS(err.msg, "--overlong");
    rms_score_opts_free(&o);
    char *missing[] = {"rmscore", "score", "--config", "/no/such/config.json", NULL};
    CHECK_EQ_INT(rms_score_opts_parse(4, missing, &o, &err), RMS_ERR_IO);
    CHECK_CONTAINS(err.msg, "/no/such/config.json");
    rms_score_opts_free(&o);
}

static void test_shards_split_rows_into_contiguous_blocks_covering_all(void) {
    rms_score_opts o;
    memset(&o, 0, sizeof o);
    o.shard_count = 3;
    int64_t prev_end = 0;
    for (int64_t i = 0; i < 3; i++) {
        o.shard_index = i;
        int64_t r0, r1;
        rms_score_job_shard_rows(&o, 10, &r0, &r1);
        CHECK_EQ_INT(r0, prev_end);
        CHECK(r1 - r0 >= 3 && r1 - r0 <= 4);
        prev_end = r1;
    }
    CHECK_EQ_INT(prev_end, 10);
    char *argv[] = {"rmscore", "score", "--shard", "3/3", NULL};
    rms_err err;
    CHECK_EQ_INT(rms_score_opts_parse(4, argv, &o, &err), RMS_ERR_ARG);
    CHECK_CONTAINS(err.msg, "--shard");
    rms_score_opts_free(&o);
}

int main(void) {
    RUN(test_every_key_becomes_its_command_line_option);
    RUN(test_unknown_keys_and_wrong_types_are_errors_naming_the_key);
    RUN(test_the_command_line_overrides_the_config);
    RUN(test_a_bad_config_value_is_reported_with_the_config_file);
    RUN(test_shards_split_rows_into_contiguous_blocks_covering_all);
    return check_summary();
}
