/**
 * Deterministic text for the simulated provider: the same run and token index always produce the
 * same token, so a retried or replayed stream is identical and tests can assert on the output.
 */
const vocabulary = [
  'palyra',
  'runs',
  'every',
  'request',
  'through',
  'a',
  'durable',
  'workflow',
  'that',
  'never',
  'loses',
  'work',
  'and',
  'keeps',
  'budgets',
  'within',
  'their',
  'limits',
  'while',
  'operators',
  'watch',
  'the',
  'history',
  'in',
  'temporal',
];

/** FNV-1a, enough to spread seeds over the vocabulary without any dependency. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function simulatedToken(seed: string, index: number): string {
  const word = vocabulary[hash(`${seed}:${index}`) % vocabulary.length] as string;
  return index === 0 ? word : ` ${word}`;
}

export function simulatedText(seed: string, tokenCount: number): string {
  let text = '';
  for (let i = 0; i < tokenCount; i++) text += simulatedToken(seed, i);
  return text;
}
