#include "src/base/text.h"

#include <stdlib.h>
#include <string.h>

void rms_text_init(rms_text *t) { memset(t, 0, sizeof *t); }

void rms_text_free(rms_text *t) {
    free(t->data);
    memset(t, 0, sizeof *t);
}

void rms_text_clear(rms_text *t) {
    t->len = 0;
    if (t->data)
        t->data[0] = '\0';
    else
        (void)rms_text_append(t, "", 0); // data is never NULL after a clear unless out of memory
}

int rms_text_append(rms_text *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->cap) {
        const size_t cap = (t->len + n + 1) * 2;
        char *d = realloc(t->data, cap);
        if (!d) return -1;
        t->data = d;
        t->cap = cap;
    }
    if (n) memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
    return 0;
}

int rms_text_append_str(rms_text *t, const char *s) { return rms_text_append(t, s, strlen(s)); }
