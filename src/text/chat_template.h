/* chat_template.h — a model's chat template, rendered as transformers' apply_chat_template renders it:
 * the Jinja source interpreted (jinja.h) with the variables transformers passes.
 *
 * Sources (`name` of rms_chat_template_load):
 *   auto    the model directory's template: DIR/chat_template.jinja when present (transformers prefers it),
 *           else tokenizer_config.json's "chat_template" (a string, or the list form
 *           [{"name", "template"}] of which "default" is used, as transformers does without tools).
 *   tulu    built-in Tülu 3 source: "<|user|>\n{c}\n<|assistant|>\n{c}{eos}" ..., no BOS.
 *   llama3  built-in Llama 3 source: "{bos}<|start_header_id|>{role}<|end_header_id|>\n\n{c|trim}<|eot_id|>".
 * A file template that is one of the built-in sources (newlines inside its string literals spelled as the
 * escape \n or as real newlines, which Jinja reads alike) is named after it ("tulu"); any other is named
 * after its file ("tokenizer_config.json", "tokenizer_config.json:default", "chat_template.jinja").
 *
 * Variables of a render, as transformers: messages (the conversation: any JSON list), add_generation_prompt,
 * tools = None, documents = None, and the special-tokens map of tokenizer_config.json (bos_token,
 * eos_token, unk_token, sep_token, pad_token, cls_token, mask_token when set — a string or an
 * {"content": ...} object — and additional_special_tokens); raise_exception and strftime_now.
 *
 * Ownership: rms_chat_template is caller-allocated; load fills it (it owns the compiled template and the
 * special tokens), rms_chat_template_free releases them. Rendered text goes into a caller-owned rms_text.
 */
#ifndef RMS_CHAT_TEMPLATE_H
#define RMS_CHAT_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "io/json_value.h"
#include "src/base/status.h"
#include "src/base/text.h"
#include "src/text/jinja.h"

typedef struct rms_chat_template {
    char name[64];          // "tulu", "llama3", or the file it came from (see above)
    char sha256[65];        // hex SHA-256 of the template source rendered
    rms_jinja *jinja;       // owned
    rms_json_doc *specials; // owned: the special-token values
    rms_jinja_var vars[16]; // the special tokens as variables (values in specials)
    int n_vars;
    char bos[128];          // bos_token content ("" when none), for callers that need it
} rms_chat_template;

/* Reads DIR's template (name: "auto", "tulu" or "llama3"; see above) and special tokens. Errors:
 * RMS_ERR_ARG (another name), RMS_ERR_UNSUPPORTED (auto without a template in DIR), RMS_ERR_FORMAT (a file
 * that is not valid JSON, a template that does not parse: the message names the construct, line and column). */
rms_status rms_chat_template_load(rms_chat_template *ct, const char *dir, const char *name, rms_err *err);
void rms_chat_template_free(rms_chat_template *ct);

/* Renders messages (a JSON value: the conversation) into out (replacing its contents). A template error
 * (raise_exception, an undefined value used, a limit passed) is RMS_ERR_INPUT with the template's message. */
rms_status rms_chat_template_render(const rms_chat_template *ct, const rms_json *messages, int add_generation_prompt,
                                    rms_text *out, rms_err *err);


#endif
