#include "io/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

#define SHA256_BLOCK_BYTES ((size_t)1 << 20) /* the file is streamed in 1 MiB reads */

rms_status rms_sha256_file(const char *path, char hex[65], rms_err *err) {
    hex[0] = '\0';
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rms_fail(err, RMS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char *block = malloc(SHA256_BLOCK_BYTES); // (SHA256_BLOCK_BYTES)
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    rms_status st = RMS_OK;
    if (!block || !ctx) {
        st = rms_fail(err, RMS_ERR_NOMEM, "%s: out of memory for hashing", path);
    } else if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        st = rms_fail(err, RMS_ERR_IO, "%s: cannot start SHA-256 (OpenSSL EVP_DigestInit_ex failed)", path);
    } else {
        for (;;) {
            const ssize_t k = read(fd, block, SHA256_BLOCK_BYTES);
            if (k < 0 && errno == EINTR) continue;
            if (k < 0) {
                st = rms_fail(err, RMS_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
                break;
            }
            if (k == 0) break;
            if (EVP_DigestUpdate(ctx, block, (size_t)k) != 1) {
                st = rms_fail(err, RMS_ERR_IO, "%s: SHA-256 failed (OpenSSL EVP_DigestUpdate)", path);
                break;
            }
        }
    }
    if (st == RMS_OK) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int md_len = 0;
        if (EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != 32) {
            st = rms_fail(err, RMS_ERR_IO, "%s: SHA-256 failed (OpenSSL EVP_DigestFinal_ex)", path);
        } else {
            static const char digits[] = "0123456789abcdef";
            for (unsigned int i = 0; i < md_len; i++) {
                hex[2 * i] = digits[md[i] >> 4];
                hex[2 * i + 1] = digits[md[i] & 15];
            }
            hex[64] = '\0';
        }
    }
    EVP_MD_CTX_free(ctx);
    free(block);
    close(fd);
    return st;
}

rms_status rms_sha256_bytes(const void *data, size_t n, char hex[65], rms_err *err) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    hex[0] = '\0';
    if (EVP_Digest(data, n, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
        return rms_fail(err, RMS_ERR_IO, "SHA-256 failed (OpenSSL EVP_Digest)");
    static const char digits[] = "0123456789abcdef";
    for (unsigned int i = 0; i < md_len; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
    return RMS_OK;
}
