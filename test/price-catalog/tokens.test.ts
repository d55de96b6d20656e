import { encode as encodeCl100k } from 'gpt-tokenizer/cjs/encoding/cl100k_base';
import { encodeChat as encodeChatO200k } from 'gpt-tokenizer/cjs/encoding/o200k_base';
import type { ChatMessage } from '../../src/domain/chat';
import { countPromptTokens, countTextTokens, unknownModelSafetyFactor } from '../../src/price-catalog/tokens';

const chat: ChatMessage[] = [
  { role: 'system', content: 'You answer in one short sentence.' },
  { role: 'user', content: 'What is the capital of France, and why is it famous?' },
];
const wordCount = chat.map((message) => message.content.split(/\s+/).length).reduce((a, b) => a + b);

describe('countPromptTokens', () => {
  it('counts an OpenAI chat model exactly, message framing included', () => {
    const counted = countPromptTokens(chat, 'gpt-4o');
    expect(counted.precision).toBe('exact');
    expect(counted.inputTokens).toBe(encodeChatO200k(chat, 'gpt-4o').length);
    // Framing adds three tokens per message plus three to prime the reply, on top of the words.
    expect(counted.inputTokens).toBeGreaterThan(wordCount + 3 * chat.length);
  });

  it('uses the encoding the model was trained with (cl100k for gpt-4, o200k for gpt-4o)', () => {
    const cjk: ChatMessage[] = [{ role: 'user', content: '東京は日本の首都であり、世界最大の都市圏の一つです。' }];
    expect(countPromptTokens(cjk, 'gpt-4').inputTokens).toBeGreaterThan(countPromptTokens(cjk, 'gpt-4o').inputTokens);
  });

  it.each(['claude-sonnet-4-5', 'llama-3.1-70b', 'sim-standard'])(
    'inflates %s, which gpt-tokenizer does not know, by the safety factor',
    (modelId) => {
      const counted = countPromptTokens(chat, modelId);
      expect(counted.precision).toBe('estimated');
      expect(counted.inputTokens).toBe(Math.ceil(countPromptTokens(chat, 'gpt-4').inputTokens * unknownModelSafetyFactor));
    },
  );

  it('counts text that looks like special tokens as ordinary text instead of throwing', () => {
    const tricky: ChatMessage[] = [{ role: 'user', content: 'print("<|endoftext|>") and <|im_end|>' }];
    expect(countPromptTokens(tricky, 'gpt-4o').inputTokens).toBeGreaterThan(10);
    expect(countPromptTokens(tricky, 'some-local-model').precision).toBe('estimated');
  });
});

describe('countTextTokens', () => {
  const text = 'Paris is the capital of France, famous for the Eiffel Tower and its museums.';

  it('counts output text for a known model exactly, with no chat framing', () => {
    expect(countTextTokens(text, 'gpt-4')).toBe(encodeCl100k(text).length);
    expect(countTextTokens(text, 'gpt-4o')).toBeGreaterThanOrEqual(text.split(' ').length);
    expect(countTextTokens('', 'gpt-4o')).toBe(0);
  });

  it('inflates output text for an unknown model by the safety factor', () => {
    expect(countTextTokens(text, 'mistral-large-latest')).toBe(Math.ceil(encodeCl100k(text).length * unknownModelSafetyFactor));
  });
});
