/* text.h — a growable byte buffer (UTF-8 text that may hold NUL bytes; always NUL-terminated).
 * init/free pair; the buffer owns `data`. Appends return 0, or -1 when out of memory (then the
 * buffer is unchanged). */
#ifndef RMS_TEXT_H
#define RMS_TEXT_H

#include <stddef.h>

typedef struct rms_text {
    char *data; /* (cap), NUL-terminated after len bytes */
    size_t len, cap;
} rms_text;

void rms_text_init(rms_text *t);
void rms_text_free(rms_text *t);
/* Empties the text, keeping its allocation. */
void rms_text_clear(rms_text *t);
int rms_text_append(rms_text *t, const char *s, size_t n);
int rms_text_append_str(rms_text *t, const char *s);

#endif
