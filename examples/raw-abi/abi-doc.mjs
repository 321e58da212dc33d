// Reads the machine-readable block of docs/abi.md (between the lines
// "```json abi" and "```") and evaluates its size formulas. This harness takes
// every constant, offset, default and formula it uses from that block: what
// the document says is what runs.
import { readFileSync } from 'node:fs';

/** the JSON block of docs/abi.md */
export function readAbiDoc(file) {
  const text = readFileSync(file, 'utf8');
  const m = /^```json abi\n([\s\S]*?)^```$/m.exec(text);
  if (!m) throw new Error(`${file}: no \`\`\`json abi block`);
  const doc = JSON.parse(m[1]);
  // 64-bit constants beyond 2^53 are decimal strings: keep them exact
  doc.big = Object.fromEntries(Object.entries(doc.constants).map(([k, v]) => [k, BigInt(v)]));
  return doc;
}

/**
 * Evaluate a formula of the document: integers, constant names, [H_FIELD]
 * (the value of that header word, from `header`), + - * and
 * align(x, a) (x rounded up to a multiple of a).
 */
export function evaluate(formula, doc, header) {
  const toks = formula.match(/\[[A-Z0-9_]+\]|[A-Za-z_][A-Za-z0-9_]*|\d+|[-+*(),]/g) ?? [];
  if (toks.join('') !== formula.replace(/\s+/g, '')) throw new Error(`formula "${formula}": cannot read it`);
  let i = 0;
  const peek = () => toks[i];
  const take = (t) => { if (toks[i] !== t) throw new Error(`formula "${formula}": expected ${t}`); i++; };
  const atom = () => {
    const t = toks[i++];
    if (t === '(') { const v = sum(); take(')'); return v; }
    if (t === 'align') { take('('); const x = sum(); take(','); const a = sum(); take(')'); return Math.ceil(x / a) * a; }
    if (/^\d+$/.test(t)) return Number(t);
    if (t.startsWith('[')) {
      const f = t.slice(1, -1);
      if (!(f in header)) throw new Error(`formula "${formula}": header word ${f} has no value yet`);
      return header[f];
    }
    if (t in doc.constants) return Number(doc.constants[t]);
    throw new Error(`formula "${formula}": unknown name ${t}`);
  };
  const product = () => { let v = atom(); while (peek() === '*') { i++; v *= atom(); } return v; };
  const sum = () => {
    let v = product();
    while (peek() === '+' || peek() === '-') { const op = toks[i++]; const w = product(); v = op === '+' ? v + w : v - w; }
    return v;
  };
  const v = sum();
  if (i !== toks.length) throw new Error(`formula "${formula}": trailing ${toks[i]}`);
  return v;
}
