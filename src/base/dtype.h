/* dtype.h — element types of checkpoint tensors and conversions to/from fp32.
 *
 * Pure functions, no allocation. bf16 and f16 are stored as uint16_t bit patterns.
 * Conversions to bf16/f16 round to nearest even; NaN stays NaN, overflow gives +-inf.
 */
#ifndef RMS_DTYPE_H
#define RMS_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum rms_dtype {
    RMS_DTYPE_F32 = 0,
    RMS_DTYPE_F16 = 1,
    RMS_DTYPE_BF16 = 2,
} rms_dtype;

/* Bytes per element. */
size_t rms_dtype_size(rms_dtype t);
/* Safetensors name: "F32", "F16", "BF16". */
const char *rms_dtype_name(rms_dtype t);
/* Parses "F32"/"F16"/"BF16" (safetensors) or "f32"/"f16"/"bf16"/"float32"/"float16"/"bfloat16"
 * (case-insensitive). Returns 0 on success, -1 if unknown. */
int rms_dtype_parse(const char *s, rms_dtype *out);

float rms_bf16_to_f32(uint16_t h);
uint16_t rms_f32_to_bf16(float f);
float rms_f16_to_f32(uint16_t h);
uint16_t rms_f32_to_f16(float f);

/* dst[i] = (float)src[i] for n elements of type t (src may be unaligned). */
void rms_convert_to_f32(float *dst, const void *src, rms_dtype t, int64_t n);
/* dst (n elements of type t) = src rounded. */
void rms_convert_from_f32(void *dst, const float *src, rms_dtype t, int64_t n);

#endif
