/* chat_template.h — the chat templates rmscore renders exactly as transformers' apply_chat_template
 * (add_generation_prompt=False) renders their Jinja originals:
 *
 *   tulu    Tülu 3: "<|system|>\n{c}\n", "<|user|>\n{c}\n", "<|assistant|>\n{c}{eos}" + "\n" unless
 *           last; other roles render nothing; no BOS.
 *   llama3  Llama 3: "{bos}" before the first message, then per message
 *           "<|start_header_id|>{role}<|end_header_id|>\n\n{content|trim}<|eot_id|>" (trim = Python str.strip()).
 *
 * `auto` recognises the template by the exact chat_template string of tokenizer_config.json, where a
 * newline inside a Jinja string literal may be spelled as the escape \n or as a real newline (both render
 * the same). bos/eos come from tokenizer_config.json (a string or an {"content": ...} object).
 *
 * Ownership: rms_chat_template is a plain value; the rendered text goes into a caller-owned rms_text.
 */
#ifndef RMS_CHAT_TEMPLATE_H
#define RMS_CHAT_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "io/conversation.h"
#include "src/base/status.h"
#include "src/base/text.h"

typedef enum rms_template_kind {
    RMS_TEMPLATE_TULU = 0,
    RMS_TEMPLATE_LLAMA3 = 1,
} rms_template_kind;

#define RMS_SPECIAL_TOKEN_MAX 128

typedef struct rms_chat_template {
    rms_template_kind kind;
    char bos[RMS_SPECIAL_TOKEN_MAX];
    char eos[RMS_SPECIAL_TOKEN_MAX];
} rms_chat_template;


/* The name of a template kind: "tulu", "llama3". */
const char *rms_template_name(rms_template_kind k);

/* Reads DIR/tokenizer_config.json; name is "auto", "tulu" or "llama3". An unrecognised chat_template
 * with "auto" is an RMS_ERR_UNSUPPORTED error naming the options. */
rms_status rms_chat_template_load(rms_chat_template *ct, const char *dir, const char *name, rms_err *err);

/* Renders the conversation into out (replacing its contents). */
rms_status rms_chat_template_render(const rms_chat_template *ct, const rms_message *msgs, int64_t n, rms_text *out,
                                    rms_err *err);

/* Python str.strip() on UTF-8: the [*start, *end) byte range without leading/trailing whitespace
 * (str.isspace() code points). Exposed for tests. */
void rms_python_strip(const char *s, size_t len, size_t *start, size_t *end);

#endif
