import type * as EncodingModule from 'gpt-tokenizer/cjs/encoding/o200k_base';
import { chatModelParams, modelToEncodingMap, type ChatModelName } from 'gpt-tokenizer/cjs/mapping';
import type { ChatMessage } from '../domain/chat';

/**
 * How much to inflate a count for models gpt-tokenizer does not know. Their tokenizers differ from
 * OpenAI's (Claude, Llama, Mistral and Gemini each have their own vocabulary); we count with cl100k —
 * which splits text more finely than o200k, so it is the higher of the two — and inflate by a quarter
 * so the estimate is an upper bound for common vocabularies. It is a heuristic, not a guarantee:
 * settlement uses the usage the provider reports.
 */
export const unknownModelSafetyFactor = 1.25;

type Encoding = Pick<typeof EncodingModule, 'encodeChat' | 'countTokens'>;
type SupportedEncoding = 'o200k_base' | 'o200k_harmony' | 'cl100k_base';

/**
 * Each encoding's BPE table takes a few hundred milliseconds and tens of MB to build, so an encoding
 * loads on first use instead of whenever this module is imported.
 */
const encodingLoaders: Record<SupportedEncoding, () => Encoding> = {
  /* eslint-disable @typescript-eslint/no-require-imports -- lazy loading needs require() */
  o200k_base: () => require('gpt-tokenizer/cjs/encoding/o200k_base') as Encoding,
  o200k_harmony: () => require('gpt-tokenizer/cjs/encoding/o200k_harmony') as Encoding,
  cl100k_base: () => require('gpt-tokenizer/cjs/encoding/cl100k_base') as Encoding,
  /* eslint-enable @typescript-eslint/no-require-imports */
};
const loadedEncodings = new Map<SupportedEncoding, Encoding>();

function encoding(name: SupportedEncoding): Encoding {
  let loaded = loadedEncodings.get(name);
  if (!loaded) {
    loaded = encodingLoaders[name]();
    loadedEncodings.set(name, loaded);
  }
  return loaded;
}

/** Stand-in for unknown models: the ChatML framing OpenAI chat models share, counted with cl100k. */
const fallback = { encoding: 'cl100k_base', chatModel: 'gpt-4' } as const satisfies {
  encoding: SupportedEncoding;
  chatModel: ChatModelName;
};

/**
 * Prompt text is data: a message that contains `<|endoftext|>` is billed as those characters, and
 * gpt-tokenizer would otherwise throw on it.
 */
const textOnly = { disallowedSpecial: new Set<string>() };

/** A model gpt-tokenizer can count exactly: it knows the chat format and the encoding is one we load. */
function knownChatModel(modelId: string): { model: ChatModelName; encoding: SupportedEncoding } | null {
  if (!Object.hasOwn(chatModelParams, modelId)) return null;
  const model = modelId as ChatModelName;
  // gpt-tokenizer maps only the models that differ from its default; the rest use o200k_base.
  const encodingName: string = (modelToEncodingMap as Partial<Record<string, string>>)[model] ?? 'o200k_base';
  if (!Object.hasOwn(encodingLoaders, encodingName)) return null;
  return { model, encoding: encodingName as SupportedEncoding };
}

/** Tokens a chat prompt costs, including each message's framing and the primed assistant reply. */
export function countPromptTokens(
  messages: ChatMessage[],
  modelId: string,
): { inputTokens: number; precision: 'exact' | 'estimated' } {
  const known = knownChatModel(modelId);
  if (known) {
    return { inputTokens: encoding(known.encoding).encodeChat(messages, known.model, textOnly).length, precision: 'exact' };
  }
  const count = encoding(fallback.encoding).encodeChat(messages, fallback.chatModel, textOnly).length;
  return { inputTokens: Math.ceil(count * unknownModelSafetyFactor), precision: 'estimated' };
}

/** Tokens in generated text (no chat framing); inflated like prompts for models we cannot count exactly. */
export function countTextTokens(text: string, modelId: string): number {
  const known = knownChatModel(modelId);
  if (known) return encoding(known.encoding).countTokens(text, textOnly);
  return Math.ceil(encoding(fallback.encoding).countTokens(text, textOnly) * unknownModelSafetyFactor);
}

/**
 * Counts a stream's output as it arrives, chunk by chunk, so a heartbeat can say how many tokens
 * were streamed without re-counting the whole text each time (linear in the output). Pieces are
 * counted apart, which can only split tokens a whole-text count would merge: the running figure is
 * at least the whole text's count, an upper bound for billing what a stopped stream consumed.
 */
export function createStreamedTokenCounter(modelId: string): { add(text: string): void; readonly tokens: number } {
  const known = knownChatModel(modelId);
  const counter = encoding(known ? known.encoding : fallback.encoding);
  let raw = 0;
  return {
    add(text) {
      raw += counter.countTokens(text, textOnly);
    },
    get tokens() {
      return known ? raw : Math.ceil(raw * unknownModelSafetyFactor);
    },
  };
}
