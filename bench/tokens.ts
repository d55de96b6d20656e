/**
 * Token counting time on the inputs of issue 14: runs without a break (one regex piece each, which
 * gpt-tokenizer's merge handles in quadratic time) up to the largest request the API accepts, and
 * ordinary text of the same sizes. Each case is the median of a few runs, for gpt-4o (o200k) and
 * sim-standard (an unknown model, counted with cl100k). For the smaller runs it also times
 * gpt-tokenizer's own `countTokens`, the cost before the fix; the larger ones would take minutes.
 *
 *   npm run bench -- tokens [repeats=3]
 */
import { performance } from 'node:perf_hooks';
import { clearMergeCache, countTokens as libraryCountO200k } from 'gpt-tokenizer/cjs/encoding/o200k_base';
import type { ChatMessage } from '../src/domain/chat';
import { countPromptTokens } from '../src/price-catalog/tokens';
import { reportMeasures } from './results';

const repeats = Number(process.argv[2] ?? 3);
const libraryMaxChars = 80_000;
const prose =
  'Paris is the capital of France, famous for the Eiffel Tower, its museums and 2,000 years of history. ' +
  'Budgets are reserved before a call and settled with the usage the provider reports.\n';

const ordinary = (chars: number) => prose.repeat(Math.ceil(chars / prose.length)).slice(0, chars);
const user = (content: string): ChatMessage => ({ role: 'user', content });

const cases: { name: string; messages: ChatMessage[] }[] = [
  ...[20_000, 40_000, 80_000, 512 * 1024].flatMap((chars) => [
    { name: `"x" × ${chars.toLocaleString('en')}`, messages: [user('x'.repeat(chars))] },
    { name: `ordinary × ${chars.toLocaleString('en')}`, messages: [user(ordinary(chars))] },
  ]),
  { name: '"y " × 204,800', messages: [user('y '.repeat(204_800))] },
  { name: 'issue 14 request (0.9 MB)', messages: [user('x'.repeat(512 * 1024)), user('y '.repeat(204_800))] },
  { name: 'ordinary × 934,688 (0.9 MB)', messages: [user(ordinary(512 * 1024)), user(ordinary(409_600))] },
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function time(count: () => number): { ms: number; tokens: number } {
  const samples: number[] = [];
  let tokens = 0;
  for (let i = 0; i < repeats; i++) {
    const started = performance.now();
    tokens = count();
    samples.push(performance.now() - started);
  }
  return { ms: median(samples), tokens };
}

const models = ['gpt-4o', 'sim-standard'];
for (const model of models) countPromptTokens([user('x'.repeat(20_000))], model); // loads the encoding, warms up
const textOnly = { disallowedSpecial: new Set<string>() };
libraryCountO200k('warm up', textOnly);

const results = cases.flatMap(({ name, messages }) => {
  const chars = messages.reduce((total, message) => total + message.content.length, 0);
  return models.map((model) => {
    const { ms, tokens } = time(() => countPromptTokens(messages, model).inputTokens);
    const before =
      model === 'gpt-4o' && chars <= libraryMaxChars
        ? time(() => {
            clearMergeCache(); // it caches whole pieces: a repeat would time a lookup
            return messages.reduce((total, message) => total + libraryCountO200k(message.content, textOnly), 0);
          }).ms
        : null;
    return { case: name, model, chars, tokens, ms, tokensPerMs: tokens / ms, libraryMs: before };
  });
});

const fixed = (value: number) => value.toLocaleString('en', { maximumFractionDigits: 1 });
reportMeasures(
  'tokens',
  results.map((r) => [
    `${r.case}, ${r.model}`,
    `${fixed(r.ms)} ms, ${r.tokens.toLocaleString('en')} tokens, ${fixed(r.tokensPerMs)} tokens/ms` +
      (r.libraryMs === null ? '' : ` (gpt-tokenizer countTokens: ${fixed(r.libraryMs)} ms)`),
  ]),
  [`median of ${repeats} runs; ${new Date().toISOString().slice(0, 10)}`],
  { date: new Date().toISOString(), repeats, results },
);
