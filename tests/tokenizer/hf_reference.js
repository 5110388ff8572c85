#!/usr/bin/env node
// hf_reference.js — the Hugging Face `tokenizers` (Rust) reference, via npm @anush008/tokenizers.
//
//   node hf_reference.js encode TOKENIZER_JSON special|no-special IN.jsonl  > ids.jsonl
//       IN.jsonl: one JSON string per line; prints one JSON array of ids per line, as
//       HF tokenizer(text, add_special_tokens=...)["input_ids"].
//   node hf_reference.js bench  TOKENIZER_JSON special|no-special IN.jsonl [REPEATS]
//       encodes every line (one encode call per line, like `rmscore tokenize`), prints
//       `hf: BYTES bytes LINES lines TOKENS tokens SECONDS s MB/s` (best of REPEATS) on stdout,
//       then a `hf-batch: ...` line for one encodeBatch call over all lines (Rust thread pool).
//
// Node's module path: set NODE_PATH to the repo's node_modules if this file is run from elsewhere.
'use strict';

const fs = require('fs');
const path = require('path');

function loadTokenizers() {
  try {
    return require('@anush008/tokenizers');
  } catch (e) {
    // Fall back to the repo root's node_modules (tests/tokenizer/ → ../../node_modules).
    return require(path.join(__dirname, '..', '..', 'node_modules', '@anush008', 'tokenizers'));
  }
}

function readLines(file) {
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l, i) => {
    const v = JSON.parse(l);
    if (typeof v !== 'string') throw new Error(`line ${i + 1}: not a JSON string`);
    return v;
  });
}

async function main() {
  const [mode, tokFile, special, inFile, repeatsArg] = process.argv.slice(2);
  if (!mode || !tokFile || !special || !inFile || !['encode', 'bench'].includes(mode) ||
      !['special', 'no-special'].includes(special)) {
    process.stderr.write('usage: hf_reference.js encode|bench TOKENIZER_JSON special|no-special IN.jsonl [REPEATS]\n');
    process.exit(2);
  }
  const { Tokenizer } = loadTokenizers();
  const tok = Tokenizer.fromFile(tokFile);
  const opts = { addSpecialTokens: special === 'special' };
  const texts = readLines(inFile);

  if (mode === 'encode') {
    const out = [];
    for (const t of texts) {
      const enc = await tok.encode(t, null, opts);
      out.push(JSON.stringify(enc.getIds()));
    }
    out.push('');
    fs.writeSync(1, out.join('\n'));
    return;
  }

  // bench
  const repeats = Math.max(1, parseInt(repeatsArg || '3', 10));
  let bytes = 0;
  for (const t of texts) bytes += Buffer.byteLength(t, 'utf8');
  let best = Infinity;
  let ntok = 0;
  for (let r = 0; r < repeats; r++) {
    ntok = 0;
    const t0 = process.hrtime.bigint();
    for (const t of texts) {
      const enc = await tok.encode(t, null, opts);
      ntok += enc.getLength();
    }
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (s < best) best = s;
  }
  process.stdout.write(`hf: ${bytes} bytes ${texts.length} lines ${ntok} tokens ${best.toFixed(3)} s ` +
                       `${(bytes / 1e6 / best).toFixed(2)} MB/s\n`);
  // encodeBatch: the Rust side encodes the whole batch with its own thread pool (all cores).
  let bestBatch = Infinity;
  for (let r = 0; r < repeats; r++) {
    const t0 = process.hrtime.bigint();
    const encs = await tok.encodeBatch(texts, opts);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (encs.length !== texts.length) throw new Error('encodeBatch returned a wrong count');
    if (s < bestBatch) bestBatch = s;
  }
  process.stdout.write(`hf-batch: ${bytes} bytes ${texts.length} lines ${bestBatch.toFixed(3)} s ` +
                       `${(bytes / 1e6 / bestBatch).toFixed(2)} MB/s (encodeBatch, multi-threaded)\n`);
}

main().catch((e) => {
  process.stderr.write(`hf_reference.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
