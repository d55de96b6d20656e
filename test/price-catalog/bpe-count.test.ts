import { countTokens as countCl100k, encodeChat as encodeChatCl100k } from 'gpt-tokenizer/cjs/encoding/cl100k_base';
import { countTokens as countO200k, encodeChat as encodeChatO200k } from 'gpt-tokenizer/cjs/encoding/o200k_base';
import { encodeChat as encodeChatHarmony } from 'gpt-tokenizer/cjs/encoding/o200k_harmony';
import type { ChatMessage } from '../../src/domain/chat';
import { longPieceChars } from '../../src/price-catalog/bpe-count';
import { countPromptTokens, countTextTokens, createStreamedTokenCounter } from '../../src/price-catalog/tokens';

const textOnly = { disallowedSpecial: new Set<string>() };

/** Runs of one kind of character are one regex piece each: the inputs the library merges in quadratic time. */
const longPieces: [string, string][] = [
  ['lower-case letters', 'x'.repeat(3_000)],
  ['capitals', 'X'.repeat(3_000)],
  ['two letters alternating', 'ab'.repeat(1_500)],
  ['punctuation', '!'.repeat(3_000)],
  ['spaces', ' '.repeat(3_000)],
  ['spaces and newlines', ' \n'.repeat(1_500)],
  ['CJK', '東京'.repeat(700)],
  ['letters with combining marks', 'e\u0301'.repeat(1_500)],
  ['emoji', '🙂'.repeat(700)],
  ['a long word mixed into prose', `Paris ${'tokencounter'.repeat(300)} is famous.\n`],
  ['special-token look-alikes', '<|endoftext|>'.repeat(300)],
];
const prose = 'Paris is the capital of France, famous for the Eiffel Tower and its museums. ';

describe('counting long pieces', () => {
  it('takes pieces longer than the threshold in these samples', () => {
    expect(longPieces.every(([, text]) => text.length > longPieceChars)).toBe(true);
  });

  it.each(longPieces)('counts %s exactly as gpt-tokenizer does', (_kind, text) => {
    expect(countTextTokens(text, 'gpt-4')).toBe(countCl100k(text, textOnly));
    expect(countTextTokens(text, 'gpt-4o')).toBe(countO200k(text, textOnly));
  });

  it.each([
    ['gpt-4', encodeChatCl100k],
    ['gpt-4o', encodeChatO200k],
    ['gpt-oss-20b', encodeChatHarmony],
  ] as const)('counts a chat for %s exactly as encodeChat does, framing included', (model, encodeChat) => {
    const chat: ChatMessage[] = [
      { role: 'system', content: 'You answer in one short sentence.' },
      { role: 'user', content: `${prose}${'y'.repeat(2_000)} ${prose}` },
      { role: 'assistant', content: '' },
      { role: 'user', content: '<|im_start|>assistant' },
    ];
    expect(countPromptTokens(chat, model)).toEqual({ inputTokens: encodeChat(chat, model, textOnly).length, precision: 'exact' });
  });

  it('would undercount if long pieces were cut into chunks: byte-pair merging is greedy, not optimal', () => {
    // Why bpe-count.ts merges a long piece whole instead of chunking it: "tokentoken" is 3 tokens,
    // each half 1 token, so chunk counts are not an upper bound on the real count.
    expect(countTextTokens('tokentoken', 'gpt-4o')).toBe(3);
    expect(countTextTokens('token', 'gpt-4o') * 2).toBe(2);
  });
});

describe('counting the largest request the API accepts', () => {
  // Issue 14: one message of 512,000 × "x" (the content limit) and one of 204,800 × "y ", 0.9 MB.
  const worstCase: ChatMessage[] = [
    { role: 'user', content: 'x'.repeat(512 * 1024) },
    { role: 'user', content: 'y '.repeat(204_800) },
  ];

  it.each(['gpt-4o', 'gpt-4', 'sim-standard'])('counts it for %s in bounded time, at the exact count', (model) => {
    const started = performance.now();
    const counted = countPromptTokens(worstCase, model);
    const elapsedMs = performance.now() - started;
    // Measured 0.3–0.8 s on a 2-core machine; it took minutes before.
    expect(elapsedMs).toBeLessThan(5_000);
    // A run of "x" tiles into 8-character tokens in both encodings, so the exact count of the long
    // run is 64 times that of a sample the library itself counts quickly.
    const sample = 'x'.repeat(8 * 1024);
    const exactRun = model === 'gpt-4o' ? countO200k(sample, textOnly) : countCl100k(sample, textOnly);
    const exactPairs = 204_800 + 1; // "y" then " y" × 204,799 then the trailing space
    const framing = countPromptTokens(
      worstCase.map((message) => ({ ...message, content: '' })),
      model,
    ).inputTokens;
    const exact = exactRun * 64 + exactPairs;
    if (model === 'sim-standard') expect(counted.inputTokens).toBeGreaterThanOrEqual(exact + framing);
    else expect(counted.inputTokens).toBe(exact + framing);
  });

  it('streams it in bounded time, one huge chunk or many small ones', () => {
    const started = performance.now();
    const whole = createStreamedTokenCounter('gpt-4o');
    whole.add('x'.repeat(512 * 1024));
    const chunked = createStreamedTokenCounter('gpt-4o');
    const chunk = 'x'.repeat(1_000);
    for (let i = 0; i < 512; i++) chunked.add(chunk);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(whole.tokens).toBe(countTextTokens('x'.repeat(512 * 1024), 'gpt-4o'));
    expect(chunked.tokens).toBe(512 * countO200k(chunk, textOnly));
  });
});
