/* safetensors.h — read (mmap, validate) and write Hugging Face safetensors files and checkpoint
 * directories (single `model.safetensors` or shards listed by `model.safetensors.index.json`).
 *
 * This module knows the file format only: nothing about layers or models (src/model.c does that).
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON header
 *   { "__metadata__": {...optional string map...},
 *     "<name>": {"dtype": "BF16", "shape": [r, c], "data_offsets": [begin, end]}, ... }
 * then the data section; offsets are relative to the data section start (8 + N).
 *
 * Ownership:
 *   - st_file / st_checkpoint are caller-allocated structs filled by *_open and emptied by *_close.
 *     Everything they point to (names, tensor tables, the mapping) is owned by them.
 *   - Data pointers returned by st_file_data / st_checkpoint_get point into the read-only mmap and are
 *     valid until the owning st_file / st_checkpoint is closed. Never write through them.
 *   - Mapping a file reads nothing; pages are faulted in only when a caller touches a tensor, so a
 *     caller that asks for a few tensors makes only those resident.
 */
#ifndef RMS_SAFETENSORS_H
#define RMS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "src/base/dtype.h"
#include "src/base/status.h"

/* Limits on what a header or an index may declare (README "What rmscore refuses, and how"). A Llama 3.1 405B
 * checkpoint has 1,138 tensors in 191 shards, the largest MoE checkpoints ~100k tensors in a few hundred shards. */
#define ST_MAX_DIMS 8
#define ST_MAX_HEADER_BYTES ((uint64_t)100 * 1024 * 1024) /* as the reference implementation */
#define ST_MAX_TENSORS 1048576  /* tensors in one file's header, entries in an index's weight_map (2^20) */
#define ST_MAX_SHARDS 65536     /* distinct files an index names */
#define ST_INDEX_NAME "model.safetensors.index.json"
#define ST_SINGLE_NAME "model.safetensors"

typedef struct st_tensor_info {
    char *name;           /* owned by the enclosing st_file */
    char dtype_name[16];  /* as written in the header, e.g. "BF16", "I64" */
    int dtype_supported;  /* 1 if dtype_name is F32/F16/BF16 (then `dtype` is valid) */
    rms_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t begin, end;  /* byte offsets in the data section, begin <= end */
} st_tensor_info;

typedef struct st_file {
    char *path;                 /* owned copy */
    int fd;                     /* -1 when closed */
    const uint8_t *map;         /* whole file, PROT_READ; NULL for an empty mapping */
    size_t file_size;
    size_t data_offset;         /* 8 + header length */
    st_tensor_info *tensors;    /* (n_tensors), sorted by name */
    int64_t n_tensors;
} st_file;

/* Opens, maps and fully validates a safetensors file: header length inside the file, header is a
 * JSON object of at most ST_MAX_TENSORS entries, every entry has a dtype string, a shape of non-negative ints
 * (<= ST_MAX_DIMS dims, product * element size within uint64),
 * data_offsets inside the data section, end - begin == prod(shape) * element size (for every known
 * safetensors dtype), and no two tensors overlap. On failure nothing stays open and err names the
 * file (and tensor). */
rms_status st_file_open(st_file *f, const char *path, rms_err *err);
void st_file_close(st_file *f);
/* NULL if absent. */
const st_tensor_info *st_file_find(const st_file *f, const char *name);
/* Pointer to the tensor's first byte inside the mapping (not necessarily aligned). */
const void *st_file_data(const st_file *f, const st_tensor_info *t);

/* A checkpoint directory. With an index, shards are opened (mapped + validated) lazily, the first
 * time a tensor of theirs is requested. */
typedef struct st_checkpoint {
    char *dir;              /* owned copy */
    int sharded;            /* 1 if opened through the index */
    int n_files;
    char **file_names;      /* (n_files) base names, owned */
    st_file *files;         /* (n_files); files[i].fd == -1 until opened */
    int64_t n_entries;
    char **entry_names;     /* (n_entries) tensor names, sorted, owned */
    int *entry_file;        /* (n_entries) index into files */
} st_checkpoint;

/* Opens DIR: uses model.safetensors.index.json if present (validates it: JSON, "weight_map" object of at most
 * ST_MAX_TENSORS string values naming at most ST_MAX_SHARDS files, each a plain name inside DIR (no '/', not "."
 * or "..", no control characters) that exists), else model.safetensors. */
rms_status st_checkpoint_open(st_checkpoint *ck, const char *dir, rms_err *err);
void st_checkpoint_close(st_checkpoint *ck);

/* A validated view of one tensor. `file` points to a base name owned by the checkpoint. */
typedef struct st_view {
    const void *data;
    rms_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const char *file;
} st_view;

/* Looks a tensor up (opening its shard if needed) and checks it: present (in the index and in the
 * shard the index names), dtype one of F32/F16/BF16, shape equal to (ndim, shape).
 * Errors are RMS_ERR_FORMAT with a message naming the tensor and the file, e.g.
 *   "tensor model.layers.3.mlp.up_proj.weight in model-00002-of-00004.safetensors has shape [64, 32], expected [128, 32]". */
rms_status st_checkpoint_get(st_checkpoint *ck, const char *name, int ndim, const int64_t *shape,
                             st_view *out, rms_err *err);

/* ---- writing ---- */

/* Streaming writer: the header is written up front from the tensor table (data_offsets assigned in
 * table order, header padded with spaces to a multiple of 8 bytes), then the caller appends each
 * tensor's bytes in table order with st_writer_write (any number of calls per tensor). */
typedef struct st_writer {
    FILE *fp;
    char *path;              /* owned copy */
    uint64_t total_bytes;    /* data section size */
    uint64_t written;        /* data bytes appended so far */
} st_writer;

typedef struct st_writer_tensor {
    const char *name;        /* borrowed for the duration of st_writer_open */
    rms_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
} st_writer_tensor;

/* `metadata_format` goes into __metadata__ {"format": ...} (HF writes "pt"); may be NULL. */
rms_status st_writer_open(st_writer *w, const char *path, const st_writer_tensor *tensors, int64_t n,
                          const char *metadata_format, rms_err *err);
rms_status st_writer_write(st_writer *w, const void *data, size_t nbytes, rms_err *err);
/* Fails if fewer or more bytes than the table declares were written. Frees w's resources always. */
rms_status st_writer_close(st_writer *w, rms_err *err);

/* Writes DIR/model.safetensors.index.json: {"metadata": {"total_size": total_size},
 * "weight_map": {names[i]: files[i], ...}}. */
rms_status st_write_index(const char *dir, uint64_t total_size, const char *const *names,
                          const char *const *files, int64_t n, rms_err *err);

/* Bytes of one element of a safetensors dtype name (BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16,
 * BF16, I32, U32, F32, F64, I64, U64); 0 if unknown. */
size_t st_dtype_name_size(const char *dtype_name);

#endif
