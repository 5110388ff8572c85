#define PCRE2_CODE_UNIT_WIDTH 8
#include "src/text/tokenizer.h"

#include <cjson/cJSON.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/textfile.h"
#include "src/base/hashmap.h"
#include "src/base/path.h"

#define MAX_TEMPLATE_ITEMS 16
#define MAX_SPECIAL_IDS 8
#define BPE_CACHE_MAX_ENTRIES 200000
#define BPE_CACHE_MAX_WORD 256 /* longer pre-tokens are not cached */
#define PATH_LEN 4096

typedef struct added_token {
    char *content; // owned
    size_t len;
    int32_t id;
    int special, lstrip, rstrip, single_word, normalized;
} added_token;

/* One piece of the post-processor's "single" template: a special token's ids or the sequence. */
typedef struct template_item {
    int is_sequence;
    int n_ids;
    int32_t ids[MAX_SPECIAL_IDS];
} template_item;

/* Added tokens of one kind (normalized or not) and the regex that finds them leftmost-longest. */
typedef struct added_set {
    pcre2_code *re;          // alternation of the contents, longest first; NULL if none
    const added_token **by_len; // (n) sorted as in the regex; capture group i+1 = by_len[i]
    int64_t n;
} added_set;

struct rms_tokenizer {
    rms_strmap vocab;       // byte-level token text -> id
    rms_u64map merges;      // (left id << 32 | right id) -> (rank << 32 | merged id)
    int ignore_merges;
    int32_t byte_id[256];   // id of the single byte-level character of each byte
    char byte_char[256][3]; // UTF-8 of the byte-level character of each byte (1-2 bytes + NUL)
    added_token *added;     // (n_added), owned
    int64_t n_added;
    added_set raw, normalized;
    pcre2_code *pretok;     // the Split regex
    pcre2_code *word_start, *word_end, *space_run_start, *space_run_end; // single_word / lstrip / rstrip
    pcre2_match_data *md;
    template_item single[MAX_TEMPLATE_ITEMS];
    int n_single;           // 0: no post-processor
    int64_t vocab_size;
    rms_strmap cache;       // pre-token bytes -> offset into cache_ids (ids prefixed by count)
    int32_t *cache_ids;
    int64_t cache_len, cache_cap;
    // scratch for BPE of one word
    int32_t *sym;           // (scratch_cap) symbol ids
    int32_t *prev, *next;   // (scratch_cap) linked list
    uint64_t *heap;         // (scratch_cap) (rank << 32 | position)
    int64_t scratch_cap;
    char *mapped;           // (mapped_cap) byte-level mapped text of one word
    int64_t mapped_cap;
};

/* ------------------------------------------------------------------ loading */

/* The GPT-2 byte-level alphabet: printable Latin-1 bytes stand for themselves, the others map to
 * U+0100 onwards in byte order. */
static int byte_level_codepoint(int b) {
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return b;
    int n = 0;
    for (int c = 0; c < b; c++)
        if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) n++;
    return 256 + n;
}

static void utf8_encode(int cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = '\0';
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = '\0';
    }
}

static int json_is(const cJSON *obj, const char *key, const char *value) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) && strcmp(v->valuestring, value) == 0;
}

static int json_true(const cJSON *obj, const char *key) { return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, key)); }

static int json_null_or_missing(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return !v || cJSON_IsNull(v);
}

/* A JSON number that is an integral id in [0, RMS_TOKENIZER_MAX_ID). */
static int json_id(const cJSON *v, int32_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    const double d = v->valuedouble;
    if (!(d >= 0 && d < RMS_TOKENIZER_MAX_ID) || d != (double)(int32_t)d) return 0;
    *out = (int32_t)d;
    return 1;
}

static rms_status compile(pcre2_code **out, const char *pattern, uint32_t flags, const char *what, rms_err *err) {
    int code;
    PCRE2_SIZE off;
    *out = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, flags, &code, &off, NULL);
    if (!*out) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return rms_fail(err, RMS_ERR_UNSUPPORTED, "tokenizer.json: %s regex does not compile at offset %zu: %s", what,
                        (size_t)off, (const char *)msg);
    }
    pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE); // falls back to the interpreter if JIT is unavailable
    return RMS_OK;
}

static rms_status load_vocab(rms_tokenizer *t, const cJSON *model, rms_err *err) {
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) return rms_fail(err, RMS_ERR_FORMAT, "tokenizer.json: model.vocab is not an object");
    if (cJSON_GetArraySize(vocab) > RMS_TOKENIZER_MAX_ID)
        return rms_fail(err, RMS_ERR_FORMAT, "tokenizer.json: model.vocab has %d entries, above rmscore's limit of %d",
                        cJSON_GetArraySize(vocab), RMS_TOKENIZER_MAX_ID);
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int32_t id32;
        if (!json_id(e, &id32))
            return rms_fail(err, RMS_ERR_FORMAT, "tokenizer.json: vocab entry \"%.200s\" has no valid id (an integer "
                            "in [0, %d))", e->string, RMS_TOKENIZER_MAX_ID);
        const int64_t id = id32;
        if (rms_strmap_put(&t->vocab, e->string, strlen(e->string), id) != 0)
            return rms_fail(err, RMS_ERR_NOMEM, "out of memory loading the vocabulary");
        if (id + 1 > t->vocab_size) t->vocab_size = id + 1;
    }
    for (int b = 0; b < 256; b++) {
        utf8_encode(byte_level_codepoint(b), t->byte_char[b]);
        int64_t id;
        if (!rms_strmap_get(&t->vocab, t->byte_char[b], strlen(t->byte_char[b]), &id))
            return rms_fail(err, RMS_ERR_UNSUPPORTED,
                            "tokenizer.json: the vocabulary lacks the byte-level symbol of byte 0x%02x: not a "
                            "byte-level BPE tokenizer", b);
        t->byte_id[b] = (int32_t)id;
    }
    return RMS_OK;
}

/* One merge, "left right" (older files) or ["left", "right"] (newer files). */
static rms_status merge_parts(const cJSON *m, int64_t rank, const char **l, size_t *ll, const char **r, size_t *rl,
                              rms_err *err) {
    if (cJSON_IsString(m)) {
        const char *s = m->valuestring, *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' '))
            return rms_fail(err, RMS_ERR_FORMAT, "tokenizer.json: merge %lld \"%s\" is not \"left right\"", (long long)rank, s);
        *l = s;
        *ll = (size_t)(sp - s);
        *r = sp + 1;
        *rl = strlen(sp + 1);
        return RMS_OK;
    }
    if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) && cJSON_IsString(m->child->next)) {
        *l = m->child->valuestring;
        *ll = strlen(*l);
        *r = m->child->next->valuestring;
        *rl = strlen(*r);
        return RMS_OK;
    }
    return rms_fail(err, RMS_ERR_FORMAT, "tokenizer.json: merge %lld is neither \"left right\" nor a pair", (long long)rank);
}

static rms_status load_merges(rms_tokenizer *t, const cJSON *model, rms_err *err) {
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsArray(merges)) return rms_fail(err, RMS_ERR_FORMAT, "tokenizer.json: model.merges is not a list");
    if (cJSON_GetArraySize(merges) > RMS_TOKENIZER_MAX_MERGES)
        return rms_fail(err, RMS_ERR_FORMAT, "tokenizer.json: model.merges has %d entries, above rmscore's limit of %d",
                        cJSON_GetArraySize(merges), RMS_TOKENIZER_MAX_MERGES);
    char *joined = NULL;
    size_t joined_cap = 0;
    int64_t rank = 0;
    rms_status st = RMS_OK;
    for (const cJSON *m = merges->child; m && st == RMS_OK; m = m->next, rank++) {
        const char *l = NULL, *r = NULL;
        size_t ll = 0, rl = 0;
        if ((st = merge_parts(m, rank, &l, &ll, &r, &rl, err)) != RMS_OK) break;
        if (ll + rl + 1 > joined_cap) {
            joined_cap = (ll + rl + 1) * 2;
            char *j = realloc(joined, joined_cap);
            if (!j) { st = rms_fail(err, RMS_ERR_NOMEM, "out of memory loading merges"); break; }
            joined = j;
        }
        memcpy(joined, l, ll);
        memcpy(joined + ll, r, rl);
        int64_t lid, rid, mid;
        if (!rms_strmap_get(&t->vocab, l, ll, &lid) || !rms_strmap_get(&t->vocab, r, rl, &rid) ||
            !rms_strmap_get(&t->vocab, joined, ll + rl, &mid)) {
            st = rms_fail(err, RMS_ERR_FORMAT, "tokenizer.json: merge %lld uses a token missing from the vocabulary",
                          (long long)rank);
            break;
        }
        const uint64_t key = (uint64_t)lid << 32 | (uint64_t)rid;
        uint64_t old;
        if (rms_u64map_get(&t->merges, key, &old)) continue; // the first (lowest) rank wins
        if (rms_u64map_put(&t->merges, key, (uint64_t)rank << 32 | (uint64_t)mid) != 0)
            st = rms_fail(err, RMS_ERR_NOMEM, "out of memory loading merges");
    }
    free(joined);
    return st;
}

static rms_status load_model(rms_tokenizer *t, const cJSON *root, rms_err *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model) || !json_is(model, "type", "BPE"))
        return rms_fail(err, RMS_ERR_UNSUPPORTED, "tokenizer.json: model type is not BPE (rmscore reads Llama 3 byte-level BPE tokenizers)");
    if (json_true(model, "byte_fallback") || !json_null_or_missing(model, "dropout") ||
        !(json_null_or_missing(model, "continuing_subword_prefix") || json_is(model, "continuing_subword_prefix", "")) ||
        !(json_null_or_missing(model, "end_of_word_suffix") || json_is(model, "end_of_word_suffix", "")))
        return rms_fail(err, RMS_ERR_UNSUPPORTED,
                        "tokenizer.json: BPE options byte_fallback/dropout/continuing_subword_prefix/end_of_word_suffix "
                        "are not supported");
    t->ignore_merges = json_true(model, "ignore_merges");
    rms_status st = load_vocab(t, model, err);
    return st != RMS_OK ? st : load_merges(t, model, err);
}

/* The Split regex for PCRE2: \s and \S become \p{White_Space} / \P{White_Space}. HF runs the pattern
 * with Unicode White_Space semantics; PCRE2's UCP \s also matches U+180E (Mongolian vowel separator,
 * no longer a space since Unicode 6.3). Escapes are copied pairwise, so "\\s" stays a backslash + s.
 * Returns a malloc'd pattern or NULL. */
static char *pcre2_pattern_from_hf(const char *p) {
    const size_t n = strlen(p);
    char *out = malloc(n * 8 + 1), *o = out; // each "\s" grows to 15 bytes at most
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n && (p[i + 1] == 's' || p[i + 1] == 'S')) {
            o += sprintf(o, "\\%c{White_Space}", p[i + 1] == 's' ? 'p' : 'P');
            i++;
        } else if (p[i] == '\\' && i + 1 < n) {
            *o++ = p[i];
            *o++ = p[++i];
        } else {
            *o++ = p[i];
        }
    }
    *o = '\0';
    return out;
}

/* Llama 3: Sequence[Split(Regex, Isolated, invert false), ByteLevel(add_prefix_space false, use_regex false)]. */
static rms_status load_pre_tokenizer(rms_tokenizer *t, const cJSON *root, rms_err *err) {
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers");
    const cJSON *split = cJSON_IsArray(list) ? cJSON_GetArrayItem(list, 0) : NULL;
    const cJSON *bl = cJSON_IsArray(list) ? cJSON_GetArrayItem(list, 1) : NULL;
    const cJSON *pattern = cJSON_GetObjectItemCaseSensitive(split, "pattern");
    const cJSON *regex = cJSON_GetObjectItemCaseSensitive(pattern, "Regex");
    if (!json_is(pt, "type", "Sequence") || cJSON_GetArraySize(list) != 2 || !json_is(split, "type", "Split") ||
        !cJSON_IsString(regex) || !json_is(split, "behavior", "Isolated") || json_true(split, "invert") ||
        !json_is(bl, "type", "ByteLevel") || json_true(bl, "add_prefix_space") || json_true(bl, "use_regex"))
        return rms_fail(err, RMS_ERR_UNSUPPORTED,
                        "tokenizer.json: unsupported pre_tokenizer (rmscore reads the Llama 3 one: Sequence of a Split "
                        "regex, behavior Isolated, and ByteLevel without prefix space or regex)");
    char *pcre_pattern = pcre2_pattern_from_hf(regex->valuestring);
    if (!pcre_pattern) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    rms_status st = compile(&t->pretok, pcre_pattern, PCRE2_UTF | PCRE2_UCP, "pre_tokenizer Split", err);
    free(pcre_pattern);
    return st;
}

static int cmp_added_len_desc(const void *a, const void *b) {
    const added_token *x = *(const added_token *const *)a, *y = *(const added_token *const *)b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Regex "(tokA)|(tokB)|..." of literal contents, longest first: PCRE2's leftmost-first alternation
 * then finds the leftmost-longest match, as HF's Aho-Corasick (MatchKind::LeftmostLongest) does. */
static rms_status build_added_set(rms_tokenizer *t, added_set *set, int normalized, rms_err *err) {
    set->n = 0;
    set->by_len = malloc((size_t)(t->n_added > 0 ? t->n_added : 1) * sizeof *set->by_len);
    if (!set->by_len) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    size_t plen = 1;
    for (int64_t i = 0; i < t->n_added; i++)
        if (t->added[i].normalized == normalized) {
            set->by_len[set->n++] = &t->added[i];
            plen += 2 * t->added[i].len + 3;
        }
    if (set->n == 0) return RMS_OK;
    qsort(set->by_len, (size_t)set->n, sizeof *set->by_len, cmp_added_len_desc);
    char *pat = malloc(plen), *p = pat;
    if (!pat) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < set->n; i++) {
        if (i) *p++ = '|';
        *p++ = '(';
        for (size_t k = 0; k < set->by_len[i]->len; k++) {
            const unsigned char c = (unsigned char)set->by_len[i]->content[k];
            if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) *p++ = '\\';
            *p++ = (char)c;
        }
        *p++ = ')';
    }
    *p = '\0';
    rms_status st = compile(&set->re, pat, PCRE2_UTF, "added tokens", err);
    free(pat);
    return st;
}

static rms_status load_added_tokens(rms_tokenizer *t, const cJSON *root, rms_err *err) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (list && !cJSON_IsArray(list)) return rms_fail(err, RMS_ERR_FORMAT, "tokenizer.json: added_tokens is not a list");
    const int64_t n = list ? cJSON_GetArraySize(list) : 0;
    if (n > RMS_TOKENIZER_MAX_ADDED)
        return rms_fail(err, RMS_ERR_FORMAT, "tokenizer.json: added_tokens has %lld entries, above rmscore's limit of %d",
                        (long long)n, RMS_TOKENIZER_MAX_ADDED);
    t->added = calloc((size_t)(n > 0 ? n : 1), sizeof *t->added);
    if (!t->added) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    size_t total = 0;
    for (const cJSON *e = list ? list->child : NULL; e; e = e->next) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (cJSON_IsString(c) && (total += strlen(c->valuestring)) > RMS_TOKENIZER_MAX_ADDED_BYTES)
            return rms_fail(err, RMS_ERR_FORMAT, "tokenizer.json: the contents of added_tokens exceed rmscore's limit "
                            "of %d bytes together", RMS_TOKENIZER_MAX_ADDED_BYTES);
    }
    for (const cJSON *e = list ? list->child : NULL; e; e = e->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        int32_t id32;
        if (!json_id(id, &id32) || !cJSON_IsString(content))
            return rms_fail(err, RMS_ERR_FORMAT, "tokenizer.json: added token %lld has no valid id (an integer in [0, "
                            "%d)) or content", (long long)t->n_added, RMS_TOKENIZER_MAX_ID);
        if (content->valuestring[0] == '\0') continue; // HF ignores empty added tokens
        added_token *a = &t->added[t->n_added++];
        a->content = strdup(content->valuestring);
        if (!a->content) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        a->len = strlen(a->content);
        a->id = id32;
        a->special = json_true(e, "special");
        a->lstrip = json_true(e, "lstrip");
        a->rstrip = json_true(e, "rstrip");
        a->single_word = json_true(e, "single_word");
        const cJSON *norm = cJSON_GetObjectItemCaseSensitive(e, "normalized");
        a->normalized = norm ? cJSON_IsTrue(norm) : !a->special;
        if (a->id + 1 > t->vocab_size) t->vocab_size = a->id + 1;
    }
    rms_status st = build_added_set(t, &t->raw, 0, err);
    return st != RMS_OK ? st : build_added_set(t, &t->normalized, 1, err);
}

static rms_status load_special_ids(const cJSON *special, const char *name, template_item *item, rms_err *err) {
    const cJSON *entry = cJSON_GetObjectItemCaseSensitive(special, name);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(entry, "ids");
    if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) > MAX_SPECIAL_IDS)
        return rms_fail(err, RMS_ERR_FORMAT, "tokenizer.json: post_processor special token %s has no ids", name);
    for (const cJSON *i = ids->child; i; i = i->next) {
        if (!json_id(i, &item->ids[item->n_ids]))
            return rms_fail(err, RMS_ERR_FORMAT, "tokenizer.json: post_processor special token %.200s has a bad id",
                            name);
        item->n_ids++;
    }
    return RMS_OK;
}

static rms_status load_template(rms_tokenizer *t, const cJSON *tp, rms_err *err) {
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(tp, "single");
    const cJSON *special = cJSON_GetObjectItemCaseSensitive(tp, "special_tokens");
    if (!cJSON_IsArray(single) || cJSON_GetArraySize(single) > MAX_TEMPLATE_ITEMS)
        return rms_fail(err, RMS_ERR_FORMAT, "tokenizer.json: TemplateProcessing has no usable \"single\" template");
    int n_seq = 0;
    for (const cJSON *it = single->child; it; it = it->next) {
        template_item *item = &t->single[t->n_single++];
        memset(item, 0, sizeof *item);
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(it, "Sequence");
        if (seq && json_is(seq, "id", "A")) {
            item->is_sequence = 1;
            n_seq++;
        } else if (sp && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(sp, "id"))) {
            rms_status st = load_special_ids(special, cJSON_GetObjectItemCaseSensitive(sp, "id")->valuestring, item, err);
            if (st != RMS_OK) return st;
        } else {
            return rms_fail(err, RMS_ERR_UNSUPPORTED, "tokenizer.json: unsupported TemplateProcessing item");
        }
    }
    if (n_seq != 1) return rms_fail(err, RMS_ERR_UNSUPPORTED, "tokenizer.json: TemplateProcessing \"single\" must hold sequence A once");
    return RMS_OK;
}

/* null, TemplateProcessing, ByteLevel (ids unchanged), or a Sequence of those. */
static rms_status load_post_processor(rms_tokenizer *t, const cJSON *pp, rms_err *err) {
    if (!pp || cJSON_IsNull(pp)) return RMS_OK;
    if (json_is(pp, "type", "ByteLevel")) return RMS_OK;
    if (json_is(pp, "type", "TemplateProcessing")) {
        if (t->n_single) return rms_fail(err, RMS_ERR_UNSUPPORTED, "tokenizer.json: more than one TemplateProcessing");
        return load_template(t, pp, err);
    }
    if (json_is(pp, "type", "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(pp, "processors");
        for (const cJSON *p = cJSON_IsArray(list) ? list->child : NULL; p; p = p->next) {
            rms_status st = load_post_processor(t, p, err);
            if (st != RMS_OK) return st;
        }
        return RMS_OK;
    }
    return rms_fail(err, RMS_ERR_UNSUPPORTED, "tokenizer.json: unsupported post_processor (TemplateProcessing, ByteLevel or a Sequence of them)");
}

static rms_status load_json(rms_tokenizer *t, const cJSON *root, rms_err *err) {
    if (!cJSON_IsObject(root)) return rms_fail(err, RMS_ERR_FORMAT, "tokenizer.json is not a JSON object");
    if (!json_null_or_missing(root, "normalizer"))
        return rms_fail(err, RMS_ERR_UNSUPPORTED, "tokenizer.json: normalizers are not supported (Llama 3 has none)");
    rms_status st;
    if ((st = load_model(t, root, err)) != RMS_OK) return st;
    if ((st = load_pre_tokenizer(t, root, err)) != RMS_OK) return st;
    if ((st = load_added_tokens(t, root, err)) != RMS_OK) return st;
    if ((st = load_post_processor(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), err)) != RMS_OK) return st;
    // Rust regex \w and \s, as HF uses them for single_word / lstrip / rstrip
#define RUST_WORD "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]"
    const uint32_t u = PCRE2_UTF | PCRE2_UCP;
    if ((st = compile(&t->word_start, "^" RUST_WORD, u, "word", err)) != RMS_OK) return st;
    if ((st = compile(&t->word_end, RUST_WORD "$", u | PCRE2_DOLLAR_ENDONLY, "word", err)) != RMS_OK) return st;
    if ((st = compile(&t->space_run_start, "^\\p{White_Space}*", u, "space", err)) != RMS_OK) return st;
    if ((st = compile(&t->space_run_end, "\\p{White_Space}*$", u | PCRE2_DOLLAR_ENDONLY, "space", err)) != RMS_OK) return st;
#undef RUST_WORD
    t->md = pcre2_match_data_create((uint32_t)t->n_added + 8, NULL); // one pair per added-token group
    if (!t->md) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    return RMS_OK;
}

rms_status rms_tokenizer_load(rms_tokenizer **out, const char *dir, rms_err *err) {
    *out = NULL;
    char path[PATH_LEN];
    rms_status st = rms_path_join(path, sizeof path, dir, "tokenizer.json", err);
    if (st != RMS_OK) return st;
    cJSON *root;
    st = rms_read_json_file(path, &root, err);
    if (st != RMS_OK) return st;
    rms_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        cJSON_Delete(root);
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    }
    rms_strmap_init(&t->vocab);
    rms_u64map_init(&t->merges);
    rms_strmap_init(&t->cache);
    st = load_json(t, root, err);
    cJSON_Delete(root);
    if (st != RMS_OK) {
        rms_tokenizer_free(t);
        return rms_fail_prefix(err, st, "%s", dir);
    }
    *out = t;
    return RMS_OK;
}

void rms_tokenizer_free(rms_tokenizer *t) {
    if (!t) return;
    rms_strmap_free(&t->vocab);
    rms_u64map_free(&t->merges);
    rms_strmap_free(&t->cache);
    for (int64_t i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    pcre2_code *codes[] = {t->raw.re, t->normalized.re, t->pretok, t->word_start, t->word_end, t->space_run_start,
                           t->space_run_end};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) pcre2_code_free(codes[i]);
    free(t->raw.by_len);
    free(t->normalized.by_len);
    pcre2_match_data_free(t->md);
    free(t->cache_ids);
    free(t->sym);
    free(t->prev);
    free(t->next);
    free(t->heap);
    free(t->mapped);
    free(t);
}

int64_t rms_tokenizer_token_id(const rms_tokenizer *t, const char *token) {
    for (int64_t i = 0; i < t->n_added; i++)
        if (strcmp(t->added[i].content, token) == 0) return t->added[i].id;
    int64_t id;
    return rms_strmap_get(&t->vocab, token, strlen(token), &id) ? id : -1;
}

int64_t rms_tokenizer_vocab_size(const rms_tokenizer *t) {
    int64_t v = t->vocab_size; // also above the post-processor's ids, which encode emits too (found by fuzzing)
    for (int i = 0; i < t->n_single; i++)
        for (int k = 0; k < t->single[i].n_ids; k++)
            if (t->single[i].ids[k] + (int64_t)1 > v) v = t->single[i].ids[k] + (int64_t)1;
    return v;
}

/* ------------------------------------------------------------------ BPE */

static int ids_push(rms_ids *out, int32_t id) {
    if (rms_ids_reserve(out, out->n + 1) != 0) return -1;
    out->ids[out->n++] = id;
    return 0;
}

static int grow_scratch(rms_tokenizer *t, int64_t n) {
    if (n <= t->scratch_cap) return 0;
    const int64_t cap = n * 2;
    int32_t *sym = realloc(t->sym, (size_t)cap * sizeof *sym);
    if (sym) t->sym = sym;
    int32_t *prev = realloc(t->prev, (size_t)cap * sizeof *prev);
    if (prev) t->prev = prev;
    int32_t *next = realloc(t->next, (size_t)cap * sizeof *next);
    if (next) t->next = next;
    uint64_t *heap = realloc(t->heap, (size_t)cap * 2 * sizeof *heap);
    if (heap) t->heap = heap;
    if (!sym || !prev || !next || !heap) return -1;
    t->scratch_cap = cap;
    return 0;
}

static void heap_push(uint64_t *h, int64_t *n, uint64_t v) {
    int64_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, int64_t *n) {
    const uint64_t top = h[0], last = h[--(*n)];
    int64_t i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (h[c] >= last) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

/* Pushes the merge of symbols at positions i and next[i], if the pair has one: key (rank, position). */
static void push_pair(const rms_tokenizer *t, int64_t i, int64_t *hn) {
    const int32_t j = t->next[i];
    if (j < 0) return;
    uint64_t v;
    if (rms_u64map_get(&t->merges, (uint64_t)(uint32_t)t->sym[i] << 32 | (uint32_t)t->sym[j], &v))
        heap_push(t->heap, hn, (v >> 32) << 32 | (uint64_t)i);
}

/* BPE of one pre-token (raw bytes): symbols start as one byte each; the lowest-rank adjacent pair
 * (leftmost on ties) is merged until none is left, as HF's Word::merge_all. */
static int bpe_word(rms_tokenizer *t, const unsigned char *w, int64_t n, rms_ids *out) {
    if (grow_scratch(t, n) != 0) return -1;
    for (int64_t i = 0; i < n; i++) {
        t->sym[i] = t->byte_id[w[i]];
        t->prev[i] = (int32_t)i - 1;
        t->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    int64_t hn = 0;
    for (int64_t i = 0; i + 1 < n; i++) push_pair(t, i, &hn);
    while (hn > 0) {
        const uint64_t top = heap_pop(t->heap, &hn);
        const int64_t i = (int64_t)(top & 0xffffffffu);
        const int32_t j = t->next[i];
        if (t->sym[i] < 0 || j < 0) continue; // stale: symbol merged away or no right neighbour
        uint64_t v;
        if (!rms_u64map_get(&t->merges, (uint64_t)(uint32_t)t->sym[i] << 32 | (uint32_t)t->sym[j], &v) ||
            (v >> 32) != (top >> 32))
            continue; // stale: the pair changed since it was pushed
        t->sym[i] = (int32_t)(v & 0xffffffffu);
        t->sym[j] = -1;
        t->next[i] = t->next[j];
        if (t->next[j] >= 0) t->prev[t->next[j]] = (int32_t)i;
        if (t->prev[i] >= 0) push_pair(t, t->prev[i], &hn);
        push_pair(t, i, &hn);
    }
    for (int64_t i = 0; i >= 0 && i < n; i = t->next[i])
        if (ids_push(out, t->sym[i]) != 0) return -1;
    return 0;
}

/* The byte-level text of a pre-token, for the ignore_merges whole-word lookup. */
static int map_bytes(rms_tokenizer *t, const unsigned char *w, int64_t n, size_t *len) {
    if (2 * n + 1 > t->mapped_cap) {
        char *m = realloc(t->mapped, (size_t)(2 * n + 1) * 2);
        if (!m) return -1;
        t->mapped = m;
        t->mapped_cap = (2 * n + 1) * 2;
    }
    size_t k = 0;
    for (int64_t i = 0; i < n; i++)
        for (const char *c = t->byte_char[w[i]]; *c; c++) t->mapped[k++] = *c;
    *len = k;
    return 0;
}

static int cache_store(rms_tokenizer *t, const char *w, size_t n, const int32_t *ids, int64_t k) {
    if (t->cache.n >= BPE_CACHE_MAX_ENTRIES) {
        rms_strmap_clear(&t->cache);
        t->cache_len = 0;
    }
    if (t->cache_len + k + 1 > t->cache_cap) {
        const int64_t cap = (t->cache_len + k + 1) * 2;
        int32_t *c = realloc(t->cache_ids, (size_t)cap * sizeof *c);
        if (!c) return -1;
        t->cache_ids = c;
        t->cache_cap = cap;
    }
    t->cache_ids[t->cache_len] = (int32_t)k;
    memcpy(t->cache_ids + t->cache_len + 1, ids, (size_t)k * sizeof *ids);
    if (rms_strmap_put(&t->cache, w, n, t->cache_len) != 0) return -1;
    t->cache_len += k + 1;
    return 0;
}

static int encode_word(rms_tokenizer *t, const char *w, size_t n, rms_ids *out) {
    int64_t v;
    const int cacheable = n <= BPE_CACHE_MAX_WORD;
    if (cacheable && rms_strmap_get(&t->cache, w, n, &v)) {
        for (int32_t i = 0; i < t->cache_ids[v]; i++)
            if (ids_push(out, t->cache_ids[v + 1 + i]) != 0) return -1;
        return 0;
    }
    const int64_t start = out->n;
    size_t mlen;
    if (map_bytes(t, (const unsigned char *)w, (int64_t)n, &mlen) != 0) return -1;
    if (t->ignore_merges && rms_strmap_get(&t->vocab, t->mapped, mlen, &v)) {
        if (ids_push(out, (int32_t)v) != 0) return -1;
    } else if (bpe_word(t, (const unsigned char *)w, (int64_t)n, out) != 0) {
        return -1;
    }
    return cacheable ? cache_store(t, w, n, out->ids + start, out->n - start) : 0;
}

/* ------------------------------------------------------------------ pipeline */

/* Pre-tokenizes text[0, len) with the Split regex (matches and the gaps between them are pieces) and
 * BPE-encodes each piece. */
static rms_status encode_plain(rms_tokenizer *t, const char *text, size_t len, rms_ids *out, rms_err *err) {
    size_t pos = 0, last = 0;
    while (pos < len) {
        const int rc = pcre2_match(t->pretok, (PCRE2_SPTR)text, len, pos, PCRE2_NO_UTF_CHECK, t->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return rms_fail(err, RMS_ERR_INPUT, "pre-tokenizer regex failed (PCRE2 error %d)", rc);
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->md);
        const size_t s = ov[0], e = ov[1];
        if (s > last && encode_word(t, text + last, s - last, out) != 0) goto oom;
        if (e > s && encode_word(t, text + s, e - s, out) != 0) goto oom;
        last = e;
        pos = e > s ? e : e + 1;
        while (pos < len && ((unsigned char)text[pos] & 0xC0) == 0x80) pos++; // stay on a character boundary
    }
    if (last < len && encode_word(t, text + last, len - last, out) != 0) goto oom;
    return RMS_OK;
oom:
    return rms_fail(err, RMS_ERR_NOMEM, "out of memory while tokenizing");
}

static int regex_hits(const rms_tokenizer *t, const pcre2_code *re, const char *s, size_t len, size_t *start,
                      size_t *end) {
    if (pcre2_match(re, (PCRE2_SPTR)s, len, 0, PCRE2_NO_UTF_CHECK, t->md, NULL) < 0) return 0;
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->md);
    if (start) *start = ov[0];
    if (end) *end = ov[1];
    return 1;
}

static rms_status encode_normalized_pieces(rms_tokenizer *t, const char *text, size_t len, rms_ids *out, rms_err *err);

/* Splits text with one added-token set (HF AddedVocabulary::find_matches): matched tokens become their
 * ids; the pieces between go to `rest`. */
static rms_status split_added(rms_tokenizer *t, const added_set *set, const char *text, size_t len, rms_ids *out,
                              rms_status (*rest)(rms_tokenizer *, const char *, size_t, rms_ids *, rms_err *),
                              rms_err *err) {
    size_t done = 0, pos = 0;
    rms_status st;
    while (set->re && pos < len) {
        const int rc = pcre2_match(set->re, (PCRE2_SPTR)text, len, pos, PCRE2_NO_UTF_CHECK, t->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return rms_fail(err, RMS_ERR_INPUT, "added-token regex failed (PCRE2 error %d)", rc);
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->md);
        size_t start = ov[0], stop = ov[1];
        const added_token *tok = set->by_len[rc - 2];
        pos = stop;
        if (tok->single_word) {
            const int start_ok = start == 0 || !regex_hits(t, t->word_end, text, start, NULL, NULL);
            const int stop_ok = stop == len || !regex_hits(t, t->word_start, text + stop, len - stop, NULL, NULL);
            if (!start_ok || !stop_ok) continue;
        }
        if (tok->lstrip) {
            size_t s = start;
            regex_hits(t, t->space_run_end, text, start, &s, NULL);
            start = s > done ? s : done;
        }
        if (tok->rstrip) {
            size_t e = 0;
            regex_hits(t, t->space_run_start, text + stop, len - stop, NULL, &e);
            stop += e;
            pos = stop;
        }
        if (start > done && (st = rest(t, text + done, start - done, out, err)) != RMS_OK) return st;
        if (ids_push(out, tok->id) != 0) return rms_fail(err, RMS_ERR_NOMEM, "out of memory while tokenizing");
        done = stop;
    }
    return done < len ? rest(t, text + done, len - done, out, err) : RMS_OK;
}

static rms_status encode_normalized_pieces(rms_tokenizer *t, const char *text, size_t len, rms_ids *out, rms_err *err) {
    return split_added(t, &t->normalized, text, len, out, encode_plain, err); // no normalizer: text unchanged
}

rms_status rms_tokenizer_check_utf8(rms_tokenizer *t, const char *text, size_t len, rms_err *err) {
    // PCRE2 validates UTF-8 on a match without PCRE2_NO_UTF_CHECK (the error says where)
    const int rc = pcre2_match(t->pretok, (PCRE2_SPTR)text, len, 0, 0, t->md, NULL);
    if (rc >= 0 || rc == PCRE2_ERROR_NOMATCH) return RMS_OK;
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21)
        return rms_fail(err, RMS_ERR_INPUT, "invalid UTF-8 at byte %zu: %s", (size_t)pcre2_get_startchar(t->md),
                        (const char *)msg);
    return rms_fail(err, RMS_ERR_INPUT, "cannot tokenize: %s", (const char *)msg);
}

rms_status rms_tokenizer_encode(rms_tokenizer *t, const char *text, size_t len, int add_special, rms_ids *out,
                                rms_err *err) {
    const int64_t n0 = out->n;
    rms_status st = rms_tokenizer_check_utf8(t, text, len, err);
    if (st != RMS_OK) return st;
    for (int i = 0; add_special && i < t->n_single && st == RMS_OK; i++) {
        const template_item *item = &t->single[i];
        if (item->is_sequence) {
            st = split_added(t, &t->raw, text, len, out, encode_normalized_pieces, err);
            continue;
        }
        for (int k = 0; k < item->n_ids; k++)
            if (ids_push(out, item->ids[k]) != 0) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory while tokenizing");
    }
    if (!add_special || t->n_single == 0) st = split_added(t, &t->raw, text, len, out, encode_normalized_pieces, err);
    if (st != RMS_OK) out->n = n0;
    return st;
}
