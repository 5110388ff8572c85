/* Unit tests of the option tables (src/base/options.c), run configs applied through them
 * (io/run_config.c) and the score options (src/cli/cmd_score.c): keys, types, precedence of the
 * command line over the config, the usage text made from the table. */
#include "tests/check.h"
#include "io/run_config.h"
#include "src/cli/commands.h"
#include "src/job/score_job.h"

static const char *write_config(const char *name, const char *json) {
    static char path[4200];
    snprintf(path, sizeof path, "%s/run.json", check_tmpdir(name));
    FILE *f = fopen(path, "w");
    fputs(json, f);
    fclose(f);
    return path;
}

static void test_every_key_sets_its_command_line_option(void) {
    rms_score_opts o;
    rms_err err;
    rms_options_defaults(&RMS_CMD_SCORE, &o);
    CHECK_EQ_INT(rms_run_config_apply_text("{\"model\": \"/m\", \"stages\": 4, \"layer_split\": [10, 8, 7, 7], "
                                           "\"quiet\": true, \"allow_tokenizer_mismatch\": false, \"max_tokens\": null, "
                                           "\"overlong\": \"truncate-left\", \"compute\": \"bf16\", \"shard\": \"2/5\"}",
                                           "cfg", &RMS_CMD_SCORE, &o, &err), RMS_OK);
    CHECK(strcmp(o.model, "/m") == 0);
    CHECK_EQ_INT(o.stages, 4);
    CHECK_EQ_INT(o.layer_split.n, 4);
    CHECK(o.layer_split.v[0] == 10 && o.layer_split.v[1] == 8 && o.layer_split.v[2] == 7 && o.layer_split.v[3] == 7);
    CHECK_EQ_INT(o.quiet, 1);
    CHECK_EQ_INT(o.allow_mismatch, 0);
    CHECK_EQ_INT(o.max_tokens, 0); // null: not set, the default stays
    CHECK_EQ_INT(o.overlong, RMS_OVERLONG_TRUNCATE_LEFT);
    CHECK_EQ_INT(o.compute, RMS_COMPUTE_BF16);
    CHECK(o.shard.index == 2 && o.shard.count == 5);
    CHECK_EQ_INT(o.microbatch_tokens, 8192); // the table's default
    // every option of the table but --config is a key
    for (const rms_opt *opt = RMS_CMD_SCORE.opts; opt->name; opt++) {
        char key[64];
        rms_option_key(opt, key, sizeof key);
        CHECK((rms_options_lookup_key(&RMS_CMD_SCORE, key) == opt) == !opt->not_in_config);
    }
    CHECK(rms_options_lookup_key(&RMS_CMD_SCORE, "config") == NULL);
}

static void test_unknown_keys_and_wrong_types_are_errors_naming_the_key(void) {
    rms_score_opts o;
    rms_err err;
    rms_options_defaults(&RMS_CMD_SCORE, &o);
    CHECK_EQ_INT(rms_run_config_apply_text("{\"modle\": \"/m\"}", "cfg.json", &RMS_CMD_SCORE, &o, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "unknown key \"modle\"");
    CHECK_CONTAINS(err.msg, "cfg.json");
    CHECK_EQ_INT(rms_run_config_apply_text("{\"stages\": \"4\"}", "cfg", &RMS_CMD_SCORE, &o, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "\"stages\" must be an integer");
    CHECK_EQ_INT(rms_run_config_apply_text("{\"stages\": 2.5}", "cfg", &RMS_CMD_SCORE, &o, &err), RMS_ERR_FORMAT);
    CHECK_EQ_INT(rms_run_config_apply_text("{\"quiet\": 1}", "cfg", &RMS_CMD_SCORE, &o, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "true or false");
    CHECK_EQ_INT(rms_run_config_apply_text("{\"layer_split\": [8, \"8\"]}", "cfg", &RMS_CMD_SCORE, &o, &err),
                 RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "list of integers");
    CHECK_EQ_INT(rms_run_config_apply_text("[1]", "cfg", &RMS_CMD_SCORE, &o, &err), RMS_ERR_FORMAT);
    CHECK_EQ_INT(rms_run_config_apply_text("{\"model\": \"/m\"} x", "cfg", &RMS_CMD_SCORE, &o, &err), RMS_ERR_FORMAT);
    CHECK_EQ_INT(rms_run_config_apply_text("{\"config\": \"/other.json\"}", "cfg", &RMS_CMD_SCORE, &o, &err),
                 RMS_ERR_FORMAT);
    // a value the option itself refuses: its range, with the key and the file named
    CHECK_EQ_INT(rms_run_config_apply_text("{\"threads\": 0}", "cfg.json", &RMS_CMD_SCORE, &o, &err), RMS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "cfg.json");
    CHECK_CONTAINS(err.msg, "--threads");
}

static void test_the_command_line_overrides_the_config(void) {
    const char *cfg = write_config("run-config-precedence",
                                   "{\"model\": \"/cfg/model\", \"data\": \"/cfg/pairs.h5\", \"out\": \"/cfg/out.h5\", "
                                   "\"stages\": 4, \"microbatch_tokens\": 1024, \"shard\": \"1/3\"}");
    char *argv[] = {"rmscore", "score", "--stages", "2", "--config", (char *)cfg, "--out", "/cli/out.h5", NULL};
    static rms_score_opts o;
    rms_err err;
    CHECK_EQ_INT(rms_score_opts_parse(8, argv, &o, &err), RMS_OK);
    CHECK(strcmp(o.model, "/cfg/model") == 0);
    CHECK(strcmp(o.out, "/cli/out.h5") == 0);
    CHECK_EQ_INT(o.stages, 2);
    CHECK_EQ_INT(o.microbatch_tokens, 1024);
    CHECK_EQ_INT(o.shard.index, 1);
    CHECK_EQ_INT(o.shard.count, 3);
    CHECK_EQ_INT(strlen(o.config_sha256), 64);
    CHECK(strcmp(rms_score_opts_tokenizer(&o), "/cfg/model") == 0); // --tokenizer defaults to --model
}

static void test_a_bad_config_value_is_reported_with_the_config_file(void) {
    const char *cfg = write_config("run-config-bad", "{\"model\": \"/m\", \"data\": \"/d\", \"out\": \"/o\", "
                                                     "\"overlong\": \"chop\"}");
    char *argv[] = {"rmscore", "score", "--config", (char *)cfg, NULL};
    static rms_score_opts o;
    rms_err err;
    CHECK_EQ_INT(rms_score_opts_parse(4, argv, &o, &err), RMS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, cfg);
    CHECK_CONTAINS(err.msg, "--overlong");
    char *missing[] = {"rmscore", "score", "--config", "/no/such/config.json", NULL};
    CHECK_EQ_INT(rms_score_opts_parse(4, missing, &o, &err), RMS_ERR_IO);
    CHECK_CONTAINS(err.msg, "/no/such/config.json");
    // --help wins over everything else, even a config that cannot be read
    char *help[] = {"rmscore", "score", "--config", "/no/such/config.json", "--help", NULL};
    CHECK_EQ_INT(rms_score_opts_parse(5, help, &o, &err), RMS_HELP);
}

static void test_shards_split_rows_into_contiguous_blocks_covering_all(void) {
    static rms_score_opts o;
    memset(&o, 0, sizeof o);
    o.shard.count = 3;
    int64_t prev_end = 0;
    for (int64_t i = 0; i < 3; i++) {
        o.shard.index = i;
        int64_t r0, r1;
        rms_score_job_shard_rows(&o, 10, &r0, &r1);
        CHECK_EQ_INT(r0, prev_end);
        CHECK(r1 - r0 >= 3 && r1 - r0 <= 4);
        prev_end = r1;
    }
    CHECK_EQ_INT(prev_end, 10);
    char *argv[] = {"rmscore", "score", "--shard", "3/3", NULL};
    rms_err err;
    CHECK_EQ_INT(rms_score_opts_parse(4, argv, &o, &err), RMS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "--shard");
}

static void test_shard_values_are_digits_i_slash_n_within_the_limit(void) {
    static rms_score_opts o;
    rms_err err;
    static const char *const bad[] = {"1/0", "2/2", "-1/3", "1/3x", " 1/3", "+1/3", "1/ 3", "1/+3", "1/", "/3", "1",
                                      "99999999999999999999/1", "0/99999999999999999999", "0/1048577", "0x1/3", "1/3/4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[] = {"rmscore", "score", "--shard", (char *)bad[i], NULL};
        CHECK_EQ_INT(rms_score_opts_parse(4, argv, &o, &err), RMS_ERR_USAGE);
        CHECK_CONTAINS(err.msg, "is not I/N with 0 <= I < N <= 1048576");
    }
    char *edge[] = {"rmscore", "score", "--model", "/m", "--data", "/d", "--out", "/o", "--shard", "1048575/1048576", NULL};
    CHECK_EQ_INT(rms_score_opts_parse(10, edge, &o, &err), RMS_OK);
    CHECK_EQ_INT(o.shard.index, 1048575);
    CHECK_EQ_INT(o.shard.count, RMS_SHARD_MAX);
    int64_t r0, r1; // the last shard of the largest count over the most rows a dataset may have
    rms_score_job_shard_rows(&o, (int64_t)1 << 32, &r0, &r1);
    CHECK_EQ_INT(r1, (int64_t)1 << 32);
    CHECK_EQ_INT(r1 - r0, 4096);
}

static void test_the_parser_takes_both_spellings_and_refuses_what_the_table_does_not_allow(void) {
    static rms_score_opts o;
    rms_err err;
    char *ok[] = {"rmscore", "score", "--model=/m", "--data", "/d", "--out", "/o", "--quiet", "--layer-split", "3,1",
                  "--stages", "2", NULL};
    CHECK_EQ_INT(rms_score_opts_parse(12, ok, &o, &err), RMS_OK);
    CHECK(strcmp(o.model, "/m") == 0 && o.quiet == 1 && o.layer_split.n == 2);
    char *missing[] = {"rmscore", "score", "--model", "/m", "--data", "/d", NULL};
    CHECK_EQ_INT(rms_score_opts_parse(6, missing, &o, &err), RMS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "--out");
    char *unknown[] = {"rmscore", "score", "--modle", "/m", NULL};
    CHECK_EQ_INT(rms_score_opts_parse(4, unknown, &o, &err), RMS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "--modle");
    char *range[] = {"rmscore", "score", "--model", "/m", "--data", "/d", "--out", "/o", "--threads", "2000", NULL};
    CHECK_EQ_INT(rms_score_opts_parse(10, range, &o, &err), RMS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "outside [1, 1024]");
    char *flag_value[] = {"rmscore", "score", "--quiet=yes", NULL};
    CHECK_EQ_INT(rms_score_opts_parse(3, flag_value, &o, &err), RMS_ERR_USAGE);
    char *no_value[] = {"rmscore", "score", "--model", NULL};
    CHECK_EQ_INT(rms_score_opts_parse(3, no_value, &o, &err), RMS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "needs a value");
    char *split[] = {"rmscore", "score", "--model", "/m", "--data", "/d", "--out", "/o", "--layer-split", "8,8", NULL};
    CHECK_EQ_INT(rms_score_opts_parse(10, split, &o, &err), RMS_ERR_USAGE); // 2 entries for 1 stage
    char *truncate[] = {"rmscore", "score", "--model", "/m", "--data", "/d", "--out", "/o", "--overlong",
                        "truncate-left", NULL};
    CHECK_EQ_INT(rms_score_opts_parse(10, truncate, &o, &err), RMS_ERR_USAGE); // needs --max-tokens
    char longpath[RMS_PATH_MAX + 8];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    char *too_long[] = {"rmscore", "score", "--model", longpath, NULL};
    CHECK_EQ_INT(rms_score_opts_parse(4, too_long, &o, &err), RMS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "longer than");
}

static void test_the_usage_text_lists_every_option_with_its_default(void) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    rms_options_usage(&RMS_CMD_SCORE, f);
    fclose(f);
    for (const rms_opt *opt = RMS_CMD_SCORE.opts; opt->name; opt++) CHECK_CONTAINS(text, opt->name);
    CHECK_CONTAINS(text, "(default 8192)");
    CHECK_CONTAINS(text, "(required)");
    CHECK_CONTAINS(text, "--help");
    CHECK_CONTAINS(text, "usage: ");
    free(text);
}

int main(void) {
    RUN(test_every_key_sets_its_command_line_option);
    RUN(test_unknown_keys_and_wrong_types_are_errors_naming_the_key);
    RUN(test_the_command_line_overrides_the_config);
    RUN(test_a_bad_config_value_is_reported_with_the_config_file);
    RUN(test_shards_split_rows_into_contiguous_blocks_covering_all);
    RUN(test_shard_values_are_digits_i_slash_n_within_the_limit);
    RUN(test_the_parser_takes_both_spellings_and_refuses_what_the_table_does_not_allow);
    RUN(test_the_usage_text_lists_every_option_with_its_default);
    return check_summary();
}
