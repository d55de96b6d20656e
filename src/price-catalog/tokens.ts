import type * as EncodingModule from 'gpt-tokenizer/cjs/encoding/o200k_base';
import { chatModelParams, modelToEncodingMap, type ChatModelName } from 'gpt-tokenizer/cjs/mapping';
import type { ChatMessage } from '../domain/chat';
import { bpeCoreOf, countTextWithCore } from './bpe-count';

/**
 * How much to inflate a count for models gpt-tokenizer does not know. Their tokenizers differ from
 * OpenAI's (Claude, Llama, Mistral and Gemini each have their own vocabulary); we count with cl100k —
 * which splits text more finely than o200k, so it is the higher of the two — and inflate by a quarter
 * so the estimate is an upper bound for common vocabularies. It is a heuristic, not a guarantee:
 * settlement uses the usage the provider reports.
 */
export const unknownModelSafetyFactor = 1.25;

type EncodingModule = Pick<typeof EncodingModule, 'encodeChat' | 'default'>;
type SupportedEncoding = 'o200k_base' | 'o200k_harmony' | 'cl100k_base';

/**
 * Each encoding's BPE table takes a few hundred milliseconds and tens of MB to build, so an encoding
 * loads on first use instead of whenever this module is imported.
 */
const encodingLoaders: Record<SupportedEncoding, () => EncodingModule> = {
  /* eslint-disable @typescript-eslint/no-require-imports -- lazy loading needs require() */
  o200k_base: () => require('gpt-tokenizer/cjs/encoding/o200k_base') as EncodingModule,
  o200k_harmony: () => require('gpt-tokenizer/cjs/encoding/o200k_harmony') as EncodingModule,
  cl100k_base: () => require('gpt-tokenizer/cjs/encoding/cl100k_base') as EncodingModule,
  /* eslint-enable @typescript-eslint/no-require-imports */
};

/** Chat framing from gpt-tokenizer; text through bpe-count.ts, whose cost is linear in the text. */
interface Encoding {
  encodeChat: EncodingModule['encodeChat'];
  countText(text: string): number;
}
const loadedEncodings = new Map<SupportedEncoding, Encoding>();

function encoding(name: SupportedEncoding): Encoding {
  let loaded = loadedEncodings.get(name);
  if (!loaded) {
    const module = encodingLoaders[name]();
    const core = bpeCoreOf(module.default);
    loaded = { encodeChat: module.encodeChat, countText: (text) => countTextWithCore(core, text) };
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

/**
 * A chat's tokens: gpt-tokenizer encodes each message's content on its own between framing tokens,
 * so the framing of the same chat with empty contents plus each content's count is what
 * `encodeChat(...).length` gives, without the library's quadratic merge on a long content.
 */
function countChat(name: SupportedEncoding, messages: ChatMessage[], model: ChatModelName): number {
  const counter = encoding(name);
  const framing = counter.encodeChat(
    messages.map((message) => ({ ...message, content: '' })),
    model,
    textOnly,
  ).length;
  return messages.reduce((total, message) => total + counter.countText(message.content), framing);
}

/** Tokens a chat prompt costs, including each message's framing and the primed assistant reply. */
export function countPromptTokens(
  messages: ChatMessage[],
  modelId: string,
): { inputTokens: number; precision: 'exact' | 'estimated' } {
  const known = knownChatModel(modelId);
  if (known) return { inputTokens: countChat(known.encoding, messages, known.model), precision: 'exact' };
  const count = countChat(fallback.encoding, messages, fallback.chatModel);
  return { inputTokens: Math.ceil(count * unknownModelSafetyFactor), precision: 'estimated' };
}

/** Tokens in generated text (no chat framing); inflated like prompts for models we cannot count exactly. */
export function countTextTokens(text: string, modelId: string): number {
  const known = knownChatModel(modelId);
  if (known) return encoding(known.encoding).countText(text);
  return Math.ceil(encoding(fallback.encoding).countText(text) * unknownModelSafetyFactor);
}

/**
 * Counts a stream's output as it arrives, chunk by chunk, so a heartbeat can say how many tokens
 * were streamed without re-counting the whole text each time (linear in the output). Chunks are
 * counted apart, which usually splits tokens a whole-text count would merge, but not always: byte-pair
 * merging is greedy, and "token" + "token" is 2 tokens where "tokentoken" is 3. So the running
 * figure is an estimate for heartbeats, not a bound; the final figures re-count the whole output.
 */
export function createStreamedTokenCounter(modelId: string): { add(text: string): void; readonly tokens: number } {
  const known = knownChatModel(modelId);
  const counter = encoding(known ? known.encoding : fallback.encoding);
  let raw = 0;
  return {
    add(text) {
      raw += counter.countText(text);
    },
    get tokens() {
      return known ? raw : Math.ceil(raw * unknownModelSafetyFactor);
    },
  };
}
