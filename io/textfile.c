#define _GNU_SOURCE
#include "io/textfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

rms_status rms_read_text_file(const char *path, char **out, size_t *len, rms_err *err) {
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return rms_fail(err, RMS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(fp);
        return rms_fail(err, RMS_ERR_IO, "%s: not a regular file", path);
    }
    if ((int64_t)sb.st_size > RMS_TEXT_FILE_MAX) {
        fclose(fp);
        return rms_fail(err, RMS_ERR_FORMAT, "%s: %lld bytes, above rmscore's limit of %lld bytes for this file", path,
                        (long long)sb.st_size, (long long)RMS_TEXT_FILE_MAX);
    }
    const size_t n = (size_t)sb.st_size;
    char *text = malloc(n + 1);
    rms_status st = RMS_OK;
    if (!text)
        st = rms_fail(err, RMS_ERR_NOMEM, "%s: out of memory", path);
    else if (fread(text, 1, n, fp) != n || ferror(fp))
        st = rms_fail(err, RMS_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    fclose(fp);
    if (st != RMS_OK) {
        free(text);
        return st;
    }
    text[n] = '\0';
    *out = text;
    if (len) *len = n;
    return RMS_OK;
}

rms_status rms_read_json_file(const char *path, cJSON **out, rms_err *err) {
    char *text;
    rms_status st = rms_read_text_file(path, &text, NULL, err);
    if (st != RMS_OK) return st;
    *out = cJSON_Parse(text);
    free(text);
    return *out ? RMS_OK : rms_fail(err, RMS_ERR_FORMAT, "%s: not valid JSON", path);
}
