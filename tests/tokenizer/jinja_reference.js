#!/usr/bin/env node
// jinja_reference.js — chat templates rendered by Hugging Face's JavaScript Jinja (npm @huggingface/jinja),
// the interpreter transformers.js uses for apply_chat_template.
//
//   node jinja_reference.js render JOBS.json OUT.jsonl
//       JOBS.json: {"templates": [{"name", "source", "vars": {...}}], "conversations": [...],
//                   "jobs": [[template index, conversation index, add_generation_prompt], ...]}
//       OUT.jsonl: one line per job, in order: {"ok": true, "text": "..."} or {"ok": false, "error": "..."}
//       (a template that does not parse gives {"ok": false, "error": "parse: ..."} for each of its jobs).
//   node jinja_reference.js version        prints the @huggingface/jinja version
//
// As transformers.js' PreTrainedTokenizer.apply_chat_template (src/tokenizers.js) renders:
//   new Template(source).render({messages, add_generation_prompt, tools: null, documents: null, ...specials})
// where specials are the tokenizer's bos/eos/unk/sep/pad/cls/mask tokens that are set (a string, or the
// "content" of an AddedToken object), passed by the driver in "vars". Template() preprocesses with
// lstrip_blocks and trim_blocks and drops one trailing newline; raise_exception, strftime_now, range,
// namespace and the constants true/false/none are the library's own globals (setupGlobals).
// transformers.js does not pass additional_special_tokens ("TODO" in its SPECIAL_TOKEN_ATTRIBUTES); the
// driver passes it here all the same, as Python transformers does, so that both references see the same
// variables and any difference is the interpreters'.
//
// Node's module path: set NODE_PATH to the repo's node_modules if this file is run from elsewhere.
'use strict';

const fs = require('fs');
const path = require('path');

function loadJinja() {
  try {
    return require('@huggingface/jinja');
  } catch (e) {
    return require(path.join(__dirname, '..', '..', 'node_modules', '@huggingface', 'jinja'));
  }
}

function jinjaVersion() {
  let dir;
  try {
    dir = path.dirname(require.resolve('@huggingface/jinja/package.json'));
  } catch (e) {
    dir = path.join(__dirname, '..', '..', 'node_modules', '@huggingface', 'jinja');
  }
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
}

function message(e) {
  if (e === undefined || e === null) return String(e);
  const name = e.constructor && e.constructor.name ? e.constructor.name : 'Error';
  return `${name}: ${e.message !== undefined ? e.message : String(e)}`;
}

function main() {
  const [mode, jobsFile, outFile] = process.argv.slice(2);
  if (mode === 'version') {
    process.stdout.write(jinjaVersion() + '\n');
    return;
  }
  if (mode !== 'render' || !jobsFile || !outFile) {
    process.stderr.write('usage: jinja_reference.js render JOBS.json OUT.jsonl | version\n');
    process.exit(2);
  }
  const { Template } = loadJinja();
  const spec = JSON.parse(fs.readFileSync(jobsFile, 'utf8'));
  const compiled = spec.templates.map((t) => {
    try {
      return { template: new Template(t.source) };
    } catch (e) {
      return { error: 'parse: ' + message(e) };
    }
  });
  const fd = fs.openSync(outFile, 'w');
  let buf = [];
  const flush = () => {
    if (buf.length) fs.writeSync(fd, buf.join(''));
    buf = [];
  };
  for (const [ti, ci, agp] of spec.jobs) {
    const c = compiled[ti];
    let res;
    if (c.error !== undefined) {
      res = { ok: false, error: c.error };
    } else {
      // A fresh copy of the conversation per render: a template cannot change what the next one sees.
      const messages = JSON.parse(JSON.stringify(spec.conversations[ci]));
      try {
        const text = c.template.render({
          messages,
          add_generation_prompt: !!agp,
          tools: null,
          documents: null,
          ...spec.templates[ti].vars,
        });
        res = typeof text === 'string' ? { ok: true, text } : { ok: false, error: 'render returned ' + typeof text };
      } catch (e) {
        res = { ok: false, error: message(e) };
      }
    }
    buf.push(JSON.stringify(res) + '\n');
    if (buf.length >= 256) flush();
  }
  flush();
  fs.closeSync(fd);
}

try {
  main();
} catch (e) {
  process.stderr.write(`jinja_reference.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
}
