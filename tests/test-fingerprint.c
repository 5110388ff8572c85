/* test-fingerprint.c — io/fingerprint: a checkpoint identified by every byte of config.json, its safetensors files
 * and index; the same value as `sha256sum` in the shell; the files that differ named. */
#include <sys/stat.h>
#include <unistd.h>

#include "io/fingerprint.h"
#include "io/safetensors.h"
#include "tests/check.h"

static const char *dir;

static const char *sub(const char *name) {
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static void write_text(const char *d, const char *name, const char *text) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", d, name);
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* A safetensors file d/name with one F32 tensor `t` of n values seed, seed+1, ... */
static void write_weights(const char *d, const char *name, const char *tensor, int n, float seed) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", d, name);
    st_writer_tensor t = {.name = tensor, .dtype = RMS_DTYPE_F32, .ndim = 1, .shape = {n}};
    st_writer w;
    rms_err err = {{0}};
    CHECK_EQ_INT(st_writer_open(&w, path, &t, 1, "pt", &err), RMS_OK);
    for (int i = 0; i < n; i++) {
        const float v = seed + (float)i;
        CHECK_EQ_INT(st_writer_write(&w, &v, sizeof v, &err), RMS_OK);
    }
    CHECK_EQ_INT(st_writer_close(&w, &err), RMS_OK);
}

/* A single-file checkpoint in d (created). */
static void make_single(const char *d, float seed) {
    mkdir(d, 0755);
    write_text(d, "config.json", "{\"model_type\": \"llama\", \"hidden_size\": 8}\n");
    write_text(d, "tokenizer.json", "{\"version\": \"1.0\"}\n");
    write_weights(d, "model.safetensors", "score.weight", 1000, seed);
}

/* A checkpoint of n_shards files (tensor t<i> in model-<i>-of-<n>.safetensors) with an index. */
static void make_sharded(const char *d, int n_shards) {
    mkdir(d, 0755);
    write_text(d, "config.json", "{\"model_type\": \"llama\"}\n");
    char names[256][32], files[256][64];
    const char *np[256], *fp[256];
    for (int i = 0; i < n_shards; i++) {
        snprintf(names[i], sizeof names[i], "t%d", i);
        snprintf(files[i], sizeof files[i], "model-%05d-of-%05d.safetensors", i + 1, n_shards);
        write_weights(d, files[i], names[i], 10 + i, (float)i);
        np[i] = names[i];
        fp[i] = files[i];
    }
    rms_err err = {{0}};
    CHECK_EQ_INT(st_write_index(d, 0, np, fp, n_shards, &err), RMS_OK);
}

static void test_the_fingerprint_is_what_sha256sum_gives_in_the_shell(void) {
    const char *d = sub("single");
    make_single(d, 1.0f);
    rms_model_fingerprint fp;
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_model_fingerprint_compute(&fp, d, 2, &err), RMS_OK);
    CHECK_EQ_INT(fp.n_files, 2);
    CHECK_EQ_INT(strlen(fp.sha256), 64);
    // the manifest: sha256sum lines, by name
    char cmd[4600], line[200], manifest[1000] = "", shell[100] = "";
    snprintf(cmd, sizeof cmd, "cd '%s' && sha256sum config.json model.safetensors", d);
    FILE *p = popen(cmd, "r");
    while (p && fgets(line, sizeof line, p)) strcat(manifest, line);
    if (p) pclose(p);
    CHECK(strcmp(fp.manifest, manifest) == 0);
    snprintf(cmd, sizeof cmd, "cd '%s' && sha256sum config.json model*.safetensors* | LC_ALL=C sort -k 2 | sha256sum", d);
    p = popen(cmd, "r");
    if (p && fgets(shell, sizeof shell, p)) shell[64] = '\0';
    if (p) pclose(p);
    CHECK(strcmp(fp.sha256, shell) == 0);
    struct stat a, b;
    stat(sub("single/config.json"), &a);
    stat(sub("single/model.safetensors"), &b);
    CHECK_EQ_INT(fp.bytes, a.st_size + b.st_size);
}

static void test_a_copy_elsewhere_has_the_same_fingerprint_and_one_changed_weight_another(void) {
    make_single(sub("orig"), 1.0f);
    make_single(sub("copy"), 1.0f);
    make_single(sub("tuned"), 1.5f); // same header, same size: another fine-tune of one architecture
    rms_model_fingerprint a, b, c;
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_model_fingerprint_compute(&a, sub("orig"), 1, &err), RMS_OK);
    CHECK_EQ_INT(rms_model_fingerprint_compute(&b, sub("copy"), 1, &err), RMS_OK);
    CHECK_EQ_INT(rms_model_fingerprint_compute(&c, sub("tuned"), 1, &err), RMS_OK);
    CHECK(strcmp(a.sha256, b.sha256) == 0);
    CHECK(strcmp(a.manifest, b.manifest) == 0);
    CHECK(strcmp(a.sha256, c.sha256) != 0);
    char diff[400];
    rms_fingerprint_manifest_diff(a.manifest, c.manifest, diff, sizeof diff);
    CHECK_CONTAINS(diff, "model.safetensors: sha256 ");
    CHECK(strstr(diff, "config.json") == NULL);
    rms_fingerprint_manifest_diff(a.manifest, b.manifest, diff, sizeof diff);
    CHECK(diff[0] == '\0');
    // the tokenizer is not part of it; config.json is
    write_text(sub("copy"), "tokenizer.json", "{\"version\": \"2.0\"}\n");
    CHECK_EQ_INT(rms_model_fingerprint_compute(&b, sub("copy"), 1, &err), RMS_OK);
    CHECK(strcmp(a.sha256, b.sha256) == 0);
    write_text(sub("copy"), "config.json", "{\"model_type\": \"llama\", \"hidden_size\": 8, \"pad_token_id\": 0}\n");
    CHECK_EQ_INT(rms_model_fingerprint_compute(&b, sub("copy"), 1, &err), RMS_OK);
    CHECK(strcmp(a.sha256, b.sha256) != 0);
    rms_fingerprint_manifest_diff(a.manifest, b.manifest, diff, sizeof diff);
    CHECK_CONTAINS(diff, "config.json: sha256 ");
}

static void test_a_sharded_checkpoint_lists_every_shard_and_the_index_whatever_the_threads(void) {
    make_sharded(sub("sharded"), 3);
    rms_model_fingerprint one, many;
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_model_fingerprint_compute(&one, sub("sharded"), 1, &err), RMS_OK);
    CHECK_EQ_INT(rms_model_fingerprint_compute(&many, sub("sharded"), 8, &err), RMS_OK);
    CHECK(strcmp(one.sha256, many.sha256) == 0);
    CHECK(strcmp(one.manifest, many.manifest) == 0);
    CHECK_EQ_INT(one.n_files, 5);
    const char *names[] = {"  config.json\n", "  model-00001-of-00003.safetensors\n", "  model-00002-of-00003.safetensors\n",
                           "  model-00003-of-00003.safetensors\n", "  model.safetensors.index.json\n"};
    const char *at = one.manifest;
    for (int i = 0; i < 5; i++) { // in this order
        const char *hit = strstr(at, names[i]);
        CHECK(hit != NULL);
        if (hit) at = hit;
    }
    // a shard missing: an error naming it
    CHECK(unlink(sub("sharded/model-00002-of-00003.safetensors")) == 0);
    CHECK(rms_model_fingerprint_compute(&one, sub("sharded"), 2, &err) != RMS_OK);
    CHECK_CONTAINS(err.msg, "model-00002-of-00003.safetensors");
    rms_model_fingerprint none;
    CHECK(rms_model_fingerprint_compute(&none, sub("no-such-model"), 2, &err) != RMS_OK);
    CHECK(none.sha256[0] == '\0');
}

static void test_a_directory_without_config_json_is_an_error_naming_it(void) {
    make_single(sub("noconfig"), 2.0f);
    CHECK(unlink(sub("noconfig/config.json")) == 0);
    rms_model_fingerprint fp;
    rms_err err = {{0}};
    CHECK(rms_model_fingerprint_compute(&fp, sub("noconfig"), 1, &err) != RMS_OK);
    CHECK_CONTAINS(err.msg, "noconfig/config.json");
}

static void test_a_manifest_too_long_to_keep_is_cut_but_fingerprinted_whole(void) {
    make_sharded(sub("many"), 200);
    rms_model_fingerprint fp;
    rms_err err = {{0}};
    CHECK_EQ_INT(rms_model_fingerprint_compute(&fp, sub("many"), 2, &err), RMS_OK);
    CHECK_EQ_INT(fp.n_files, 202);
    CHECK(strlen(fp.manifest) < sizeof fp.manifest);
    CHECK_CONTAINS(fp.manifest, "more files\n");
    char cmd[4600], shell[100] = "";
    snprintf(cmd, sizeof cmd, "cd '%s' && sha256sum config.json model*.safetensors* | LC_ALL=C sort -k 2 | sha256sum",
             sub("many"));
    FILE *p = popen(cmd, "r");
    if (p && fgets(shell, sizeof shell, p)) shell[64] = '\0';
    if (p) pclose(p);
    CHECK(strcmp(fp.sha256, shell) == 0);
}

static void test_manifest_diff_names_files_only_in_one_of_them(void) {
    const char *a = "1111111111111111111111111111111111111111111111111111111111111111  config.json\n"
                    "2222222222222222222222222222222222222222222222222222222222222222  model.safetensors\n";
    const char *b = "1111111111111111111111111111111111111111111111111111111111111111  config.json\n"
                    "3333333333333333333333333333333333333333333333333333333333333333  model-00001-of-00001.safetensors\n";
    char diff[400];
    rms_fingerprint_manifest_diff(a, b, diff, sizeof diff);
    CHECK_CONTAINS(diff, "model.safetensors only in the first");
    CHECK_CONTAINS(diff, "model-00001-of-00001.safetensors only in the second");
    rms_fingerprint_manifest_diff(a, "", diff, sizeof diff);
    CHECK(diff[0] == '\0');
    char tiny[8];
    rms_fingerprint_manifest_diff(a, b, tiny, sizeof tiny); // never past the end
    CHECK(strlen(tiny) < sizeof tiny);
}

int main(void) {
    dir = check_tmpdir("fingerprint");
    RUN(test_the_fingerprint_is_what_sha256sum_gives_in_the_shell);
    RUN(test_a_copy_elsewhere_has_the_same_fingerprint_and_one_changed_weight_another);
    RUN(test_a_sharded_checkpoint_lists_every_shard_and_the_index_whatever_the_threads);
    RUN(test_a_directory_without_config_json_is_an_error_naming_it);
    RUN(test_a_manifest_too_long_to_keep_is_cut_but_fingerprinted_whole);
    RUN(test_manifest_diff_names_files_only_in_one_of_them);
    return check_summary();
}
