/* fuzz-safetensors-index.c — a mutated model.safetensors.index.json (io/safetensors.h: st_checkpoint_open) in a
 * directory holding the two shards of the tiny test model (fuzz_model.h) and its config.json. Input: the index
 * file's bytes. Then every entry is looked up (its shard opened lazily) with the shape its shard gives, bytes
 * read, and the whole model loaded as `score` loads it (rms_model_load). */
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/fuzz_model.h"

#include "io/safetensors.h"
#include "src/engine/model.h"

static char dir[8192];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    FUZZ_PRINT(dir, "%s", fuzz_path("ck"));
    rms_testmodel_opts o;
    fuzz_tiny_model(&o);
    o.n_shards = 2;
    rms_err err;
    if (rms_testmodel_write(dir, &o, &err) != RMS_OK) {
        fprintf(stderr, "fuzz: %s\n", err.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write_file("ck/" ST_INDEX_NAME, data, size);
    st_checkpoint ck;
    rms_err err;
    if (st_checkpoint_open(&ck, dir, &err) == RMS_OK) {
        if (!ck.sharded) abort();
        for (int64_t i = 0; i < ck.n_entries; i++) {
            if (ck.entry_file[i] < 0 || ck.entry_file[i] >= ck.n_files) abort();
            if (strchr(ck.file_names[ck.entry_file[i]], '/')) abort(); // the index may not leave the directory
            st_view v;
            int64_t shape[ST_MAX_DIMS] = {0};
            if (st_checkpoint_get(&ck, ck.entry_names[i], 0, shape, &v, &err) != RMS_OK && !err.msg[0]) abort();
            const st_file *f = &ck.files[ck.entry_file[i]];
            const st_tensor_info *t = f->fd >= 0 ? st_file_find(f, ck.entry_names[i]) : NULL;
            if (t && st_checkpoint_get(&ck, ck.entry_names[i], t->ndim, t->shape, &v, &err) == RMS_OK)
                fuzz_touch(v.data, (size_t)(t->end - t->begin));
        }
        st_checkpoint_close(&ck);
    } else if (!err.msg[0]) {
        abort();
    }
    rms_model m;
    if (rms_model_load(&m, dir, 0, -1, &err) != RMS_OK && !err.msg[0]) abort();
    rms_model_free(&m);
    return 0;
}
