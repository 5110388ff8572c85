/* sha256.h — SHA-256 of files, through OpenSSL's libcrypto (EVP). Nothing to free. */
#ifndef RMS_SHA256_H
#define RMS_SHA256_H

#include <stddef.h>

#include "src/base/status.h"

/* Writes the lowercase hex digest of the file's bytes into hex (65 chars with the NUL). */
rms_status rms_sha256_file(const char *path, char hex[65], rms_err *err);

/* The same digest of n bytes in memory. */
rms_status rms_sha256_bytes(const void *data, size_t n, char hex[65], rms_err *err);

#endif
