/* path.c — bounded path joining (path.h). */
#include "src/base/path.h"

#include <string.h>

rms_status rms_path_join(char *out, size_t cap, const char *dir, const char *name, rms_err *err) {
    const size_t need = strlen(dir) + 1 + strlen(name);
    if (cap > 0) out[0] = '\0';
    if (need >= cap)
        return rms_fail(err, RMS_ERR_ARG, "%.200s%s/%s: path too long (%zu bytes, the limit is %zu)", dir,
                        strlen(dir) > 200 ? "..." : "", name, need, cap > 0 ? cap - 1 : 0);
    memcpy(out, dir, strlen(dir));
    out[strlen(dir)] = '/';
    memcpy(out + strlen(dir) + 1, name, strlen(name) + 1);
    return RMS_OK;
}
