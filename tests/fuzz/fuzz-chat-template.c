/* fuzz-chat-template.c — the chat-template interpreter (src/text/chat_template.h, jinja.h) on arbitrary templates
 * and messages, as `prepare` and `render` run it. Input: TEMPLATE \0 MESSAGES-JSON: the template is written as
 * SCRATCH/ct/chat_template.jinja beside a fixed tokenizer_config.json (bos, eos as an {"content"} object, pad,
 * additional_special_tokens) and loaded with --template auto; the messages are parsed as JSON (a fixed two-turn
 * conversation when they are not JSON or absent) and rendered with add_generation_prompt = the last byte's bit 0.
 * The limits of jinja.h bound every render (iterations, depth, output, memory). */
#include "tests/fuzz/fuzz_util.h"

#include "src/text/chat_template.h"

static const char CONFIG[] =
    "{\"bos_token\": \"<|begin_of_text|>\", \"eos_token\": {\"content\": \"<|eot_id|>\", \"lstrip\": false},"
    " \"pad_token\": \"<pad>\", \"unk_token\": null, \"additional_special_tokens\": [\"<a>\", \"<b>\"]}";
static const char DEFAULT_MESSAGES[] =
    "[{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi \\u00e9\"},"
    " {\"role\": \"assistant\", \"content\": \"Hello!\"}]";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_write_file("ct/tokenizer_config.json", CONFIG, sizeof CONFIG - 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    const size_t tlen = nul ? (size_t)(nul - data) : size;
    fuzz_write_file("ct/chat_template.jinja", data, tlen);
    char dir[8192];
    FUZZ_PRINT(dir, "%s", fuzz_path("ct"));
    rms_chat_template ct;
    rms_err err;
    if (rms_chat_template_load(&ct, dir, "auto", &err) != RMS_OK) {
        if (!err.msg[0]) abort();
        return 0;
    }
    rms_json_doc *doc = rms_json_doc_new();
    if (!doc) abort();
    rms_json *messages = NULL;
    if (!nul || rms_json_parse(doc, (const char *)nul + 1, size - tlen - 1, &messages, &err) != RMS_OK)
        if (rms_json_parse(doc, DEFAULT_MESSAGES, sizeof DEFAULT_MESSAGES - 1, &messages, &err) != RMS_OK) abort();
    rms_text out;
    rms_text_init(&out);
    const int add_generation_prompt = size ? data[size - 1] & 1 : 0;
    const rms_status st = rms_chat_template_render(&ct, messages, add_generation_prompt, &out, &err);
    if (st == RMS_OK) {
        if (out.len > RMS_JINJA_MAX_OUTPUT) abort();
        fuzz_touch(out.data, out.len);
    } else if (!err.msg[0]) {
        abort();
    }
    rms_text_free(&out);
    rms_json_doc_free(doc);
    rms_chat_template_free(&ct);
    return 0;
}
