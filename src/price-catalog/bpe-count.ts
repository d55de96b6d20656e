/**
 * Token counting with a cost linear in the text (up to a log factor), giving the same count as
 * gpt-tokenizer's `countTokens`.
 *
 * gpt-tokenizer (like tiktoken) splits text into pieces with a regex, then byte-pair merges each
 * piece by rescanning all of it for the lowest-ranked pair after every merge: quadratic in the
 * piece's length. A piece is a run of letters, of punctuation or of whitespace, so a prompt of
 * 512,000 × "x" is one piece and took minutes to count (issue 14). Here pieces up to
 * `longPieceChars` go to the library's own merge (cached, fast for words); longer ones to
 * `countLongPiece`, the same greedy merge driven by a heap. The count stays exact (reservations
 * need the real count, never less), so `precision` is unaffected.
 */

/**
 * The parts of gpt-tokenizer's `BytePairEncodingCore` we drive. Its typings mark them private, so
 * `bpeCoreOf` checks them at load: an upgrade that renames them fails loudly, not silently slow.
 */
interface BpeCore {
  tokenSplitRegex: RegExp;
  getBpeRankFromString(piece: string): number | undefined;
  getBpeRankFromBytes(bytes: Uint8Array): number | undefined;
  bytePairEncode(piece: string): number[];
}

/**
 * Above this many characters a piece is merged with the heap. Below it the library's quadratic
 * merge costs at most `longPieceChars` steps per character, and ordinary words (a few characters)
 * keep its merge cache.
 */
export const longPieceChars = 256;

export function bpeCoreOf(encodingApi: unknown): BpeCore {
  const core = (encodingApi as { bytePairEncodingCoreProcessor?: Partial<BpeCore> } | null)?.bytePairEncodingCoreProcessor;
  if (
    !core ||
    !(core.tokenSplitRegex instanceof RegExp) ||
    typeof core.getBpeRankFromString !== 'function' ||
    typeof core.getBpeRankFromBytes !== 'function' ||
    typeof core.bytePairEncode !== 'function'
  ) {
    throw new Error('gpt-tokenizer internals changed: bytePairEncodingCoreProcessor lacks what bpe-count.ts needs');
  }
  return core as BpeCore;
}

/**
 * What `countTokens(text, { disallowedSpecial: new Set() })` returns: every character is text
 * (special-token look-alikes included), so there is no special-token scan, only pieces.
 */
export function countTextWithCore(core: BpeCore, text: string): number {
  let tokens = 0;
  for (const [piece] of text.matchAll(core.tokenSplitRegex)) {
    if (core.getBpeRankFromString(piece) !== undefined) tokens += 1;
    else if (piece.length <= longPieceChars) tokens += core.bytePairEncode(piece).length;
    else tokens += countLongPiece(core, piece);
  }
  return tokens;
}

const utf8 = new TextEncoder();

/**
 * The number of tokens gpt-tokenizer's `bytePairMerge` yields for `piece`, in O(n log n): repeatedly
 * merge the adjacent pair of parts with the lowest rank, the leftmost on a tie, until no pair is in
 * the vocabulary. Parts are a linked list over byte offsets; candidate pairs sit in a min-heap keyed
 * by (rank, offset), and an entry whose rank no longer matches its part is stale and skipped. Since
 * offsets increase along the list, (rank, offset) order is the library's "lowest rank, leftmost".
 */
export function countLongPiece(core: BpeCore, piece: string): number {
  const bytes = utf8.encode(piece);
  const n = bytes.length;
  // All-ASCII (one byte per character): look pairs up by substring, without decoding bytes.
  const rankOf =
    n === piece.length
      ? (start: number, end: number) => core.getBpeRankFromString(piece.slice(start, end))
      : (start: number, end: number) => core.getBpeRankFromBytes(bytes.subarray(start, end));

  // next[i]: offset of the part after the part starting at i (n for the last). pairRank[i]: rank of
  // merging part i with its successor; noPair when not in the vocabulary, merged when i is gone.
  const noPair = -1;
  const merged = -2;
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const pairRank = new Int32Array(n);
  // Each part pushes once at the start and each merge pushes at most twice: 3n entries at most.
  const heap = new Float64Array(3 * n);
  let heapSize = 0;
  const width = n + 1;

  const push = (key: number) => {
    let i = heapSize++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const parentKey = heap[parent] as number;
      if (parentKey <= key) break;
      heap[i] = parentKey;
      i = parent;
    }
    heap[i] = key;
  };
  const popMin = (): number => {
    const min = heap[0] as number;
    const last = heap[--heapSize] as number;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= heapSize) break;
      if (child + 1 < heapSize && (heap[child + 1] as number) < (heap[child] as number)) child += 1;
      if ((heap[child] as number) >= last) break;
      heap[i] = heap[child] as number;
      i = child;
    }
    heap[i] = last;
    return min;
  };
  const rankPair = (start: number) => {
    const second = next[start] as number;
    const end = second < n ? (next[second] as number) : n + 1;
    const rank = end <= n ? rankOf(start, end) : undefined;
    pairRank[start] = rank ?? noPair;
    if (rank !== undefined) push(rank * width + start);
  };

  for (let i = 0; i < n; i++) {
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  for (let i = 0; i < n; i++) rankPair(i);

  let parts = n;
  while (heapSize > 0) {
    const key = popMin();
    const start = key % width;
    const rank = (key - start) / width;
    if (pairRank[start] !== rank) continue;
    const absorbed = next[start] as number;
    const after = next[absorbed] as number;
    pairRank[absorbed] = merged;
    next[start] = after;
    if (after < n) prev[after] = start;
    parts -= 1;
    rankPair(start);
    const before = prev[start] as number;
    if (before >= 0) rankPair(before);
  }
  return parts;
}
