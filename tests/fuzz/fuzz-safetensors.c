/* fuzz-safetensors.c — a mutated model.safetensors (io/safetensors.h) opened as the model loader opens it.
 * Input: the whole file, written as SCRATCH/st/model.safetensors beside the config.json of the tiny test model
 * (fuzz_model.h). Then:
 *   - st_file_open: every tensor of the validated table found by name, its bytes read (ASan checks that offsets
 *     and sizes lie inside the mapping, as the header promises);
 *   - st_checkpoint_open + st_checkpoint_get of every tensor with its own dtype and shape, bytes read;
 *   - rms_model_load of the whole model (the tensor checks of src/engine/model.c: names, shapes, dtypes). */
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/fuzz_model.h"

#include "io/safetensors.h"
#include "src/engine/model.h"

static char dir[8192], file[8192];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    FUZZ_PRINT(dir, "%s", fuzz_path("st"));
    rms_testmodel_opts o;
    fuzz_tiny_model(&o);
    rms_err err;
    if (rms_testmodel_write(dir, &o, &err) != RMS_OK) { // the config.json (its weights are replaced by the input)
        fprintf(stderr, "fuzz: %s\n", err.msg);
        abort();
    }
    FUZZ_PRINT(file, "%s/%s", dir, ST_SINGLE_NAME);
    return 0;
}

static void check_file(void) {
    st_file f;
    rms_err err;
    if (st_file_open(&f, file, &err) != RMS_OK) {
        if (!err.msg[0]) abort();
        return;
    }
    for (int64_t i = 0; i < f.n_tensors; i++) {
        const st_tensor_info *t = &f.tensors[i];
        if (st_file_find(&f, t->name) != t || t->begin > t->end || t->ndim < 0 || t->ndim > ST_MAX_DIMS) abort();
        if (f.data_offset + t->end > f.file_size) abort();
        fuzz_touch(st_file_data(&f, t), (size_t)(t->end - t->begin));
    }
    st_file_close(&f);
}

static void check_checkpoint(void) {
    st_checkpoint ck;
    rms_err err;
    if (st_checkpoint_open(&ck, dir, &err) != RMS_OK) {
        if (!err.msg[0]) abort();
        return;
    }
    for (int64_t i = 0; i < ck.n_entries; i++) {
        st_view v;
        int64_t shape[ST_MAX_DIMS] = {0};
        // The first get opens the file; then ask with the tensor's own shape, as a loader that matches does.
        if (st_checkpoint_get(&ck, ck.entry_names[i], 0, shape, &v, &err) != RMS_OK && !err.msg[0]) abort();
        const st_file *f = &ck.files[ck.entry_file[i]];
        const st_tensor_info *t = f->fd >= 0 ? st_file_find(f, ck.entry_names[i]) : NULL;
        if (!t) continue;
        if (st_checkpoint_get(&ck, ck.entry_names[i], t->ndim, t->shape, &v, &err) == RMS_OK) {
            if (!t->dtype_supported || v.dtype != t->dtype) abort();
            fuzz_touch(v.data, (size_t)(t->end - t->begin));
        }
    }
    st_checkpoint_close(&ck);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write_file("st/" ST_SINGLE_NAME, data, size);
    check_file();
    check_checkpoint();
    rms_model m;
    rms_err err;
    if (rms_model_load(&m, dir, 0, -1, &err) != RMS_OK && !err.msg[0]) abort();
    rms_model_free(&m);
    return 0;
}
