/* jinja.h — an interpreter of the Jinja subset chat templates use, configured as transformers configures
 * jinja2 for apply_chat_template: ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
 * extensions: loopcontrols, {% generation %}), no autoescape, one trailing newline of the source dropped;
 * filters tojson as transformers overrides it (json.dumps(ensure_ascii=False, indent, separators,
 * sort_keys)); globals raise_exception(message), strftime_now(format), namespace(...), range(...).
 *
 * Supported: text, {{ }}, {% %}, {# #} with whitespace control (-, +); statements for (loop.*, else,
 * `if` filter, unpacking, break/continue), if/elif/else, set (also `a, b = ...`, `ns.attr = ...`, block set),
 * macro/call/caller, filter blocks, raw, generation; expressions as Jinja parses them (literals, lists,
 * tuples, dicts, + - * / // % **, ~, comparisons, in / not in, and/or/not, `x if c else y`, indexing,
 * slicing, attributes, calls, filters, tests) and the str/dict/list methods templates call (.strip(),
 * .startswith(), .split(), .items(), .get(), ...). Anything else — an unknown tag, filter, test, method or
 * global — is an error naming it and its line and column, never different text.
 *
 * Values follow Python: str of None is "None", of True "True"; 1 == 1.0; `/` is true division; `%` and
 * `//` floor; strings index and slice by code point. Undefined values (a missing variable, key or attribute)
 * print as "" and are false, and raise an error when used otherwise, as jinja2's default Undefined.
 *
 * Bounded: nesting of macro calls (RMS_JINJA_MAX_DEPTH), loop iterations per render
 * (RMS_JINJA_MAX_ITERATIONS), output size (RMS_JINJA_MAX_OUTPUT) and memory per render
 * (RMS_JINJA_MAX_MEMORY); a render past them is an error.
 *
 * Ownership: rms_jinja_compile makes a template the caller frees with rms_jinja_free; it keeps no
 * pointer into the source. A render allocates its values in an arena freed before it returns; the
 * variables' JSON values are read, never kept.
 */
#ifndef RMS_JINJA_H
#define RMS_JINJA_H

#include <stddef.h>
#include <stdint.h>

#include "io/json_value.h"
#include "src/base/status.h"
#include "src/base/text.h"

#define RMS_JINJA_MAX_DEPTH 64                  // macro calls in progress
#define RMS_JINJA_MAX_ITERATIONS 1000000        // loop iterations and macro calls per render
#define RMS_JINJA_MAX_OUTPUT ((size_t)64 << 20)  // bytes of rendered text (and of any one string)
#define RMS_JINJA_MAX_MEMORY ((size_t)512 << 20) // bytes of values per render

typedef struct rms_jinja rms_jinja;

/* One variable of a render: its name and its JSON value. */
typedef struct rms_jinja_var {
    const char *name;
    const rms_json *value;
} rms_jinja_var;

/* Parses source (len bytes) into *t. A syntax error or a construct outside the subset is RMS_ERR_FORMAT:
 * "chat template line 3 column 12: unknown filter 'wordwrap'". */
rms_status rms_jinja_compile(rms_jinja **t, const char *source, size_t len, rms_err *err);
void rms_jinja_free(rms_jinja *t);

/* Renders t with the variables into out (replaced). Errors are RMS_ERR_INPUT: raise_exception's message
 * ("chat template raised: Conversation roles must alternate ..."), an undefined value used, a type error,
 * a limit passed — each with the line and column in the template. */
rms_status rms_jinja_render(const rms_jinja *t, const rms_jinja_var *vars, int n_vars, rms_text *out, rms_err *err);

#endif
