import type { PalyraConfig } from './schema';

/** What a redacted value reads as. */
export const redactedMarker = '[redacted]';

/**
 * Keys whose string values are secrets, wherever they appear: tokens, secrets, passwords, API keys,
 * credentials, private keys, token hashes. `…Env` keys name an environment variable, not its value,
 * so they stay (`apiKeyEnv: OPENAI_API_KEY` helps; the key itself never enters config).
 */
const secretKeyPattern = /token|secret|passw(or)?d|pwd|api[-_]?key|credential|private[-_]?key|sha256|authorization/i;
const isSecretKey = (key: string) => secretKeyPattern.test(key) && !/Env$/.test(key);

/** Secrets shorter than this are not listed by `configSecrets`: replacing them everywhere would mangle text. */
export const minListedSecretLength = 4;

/**
 * The config with every secret replaced by `[redacted]`: string values under secret-looking keys
 * (auth tokens and their hashes, passwords, API keys), and in every string that is a URL, its
 * userinfo (user and password) and secret-looking query parameters (database URL, provider base
 * URLs, the Temporal UI URL). Numbers and booleans are never secrets (`maxOutputTokens` stays).
 */
export function redactConfig(config: PalyraConfig): unknown {
  return redactValue(config, false);
}

/**
 * The literal secret values of the config (and, for providers, the API key their `apiKeyEnv`
 * names, read from `env`), for scrubbing them from any text: each once, longest first.
 */
export function configSecrets(config: PalyraConfig, env: NodeJS.ProcessEnv = process.env): string[] {
  const found = new Set<string>();
  collectSecrets(config, false, found);
  for (const provider of config.providers) {
    const key = provider.apiKeyEnv ? env[provider.apiKeyEnv] : undefined;
    if (key) found.add(key);
  }
  return [...found].filter((secret) => secret.length >= minListedSecretLength).sort((a, b) => b.length - a.length);
}

/** Replaces every occurrence of each secret in every string of `value` (objects and arrays copied). */
export function scrubSecrets<T>(value: T, secrets: readonly string[]): T {
  if (secrets.length === 0) return value;
  const scrub = (item: unknown): unknown => {
    if (typeof item === 'string') return secrets.reduce((text, secret) => text.split(secret).join(redactedMarker), item);
    if (Array.isArray(item)) return item.map(scrub);
    if (item !== null && typeof item === 'object') {
      return Object.fromEntries(Object.entries(item).map(([key, entry]) => [key, scrub(entry)]));
    }
    return item;
  };
  return scrub(value) as T;
}

function redactValue(value: unknown, underSecretKey: boolean): unknown {
  if (typeof value === 'string') return underSecretKey ? redactedMarker : redactUrlCredentials(value);
  if (Array.isArray(value)) return value.map((item) => redactValue(item, underSecretKey));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, redactValue(entry, isSecretKey(key))]));
  }
  return value;
}

function collectSecrets(value: unknown, underSecretKey: boolean, found: Set<string>): void {
  if (typeof value === 'string') {
    if (underSecretKey) found.add(value);
    else for (const secret of urlSecrets(value)) found.add(secret);
  } else if (Array.isArray(value)) {
    for (const item of value) collectSecrets(item, underSecretKey, found);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, entry] of Object.entries(value)) collectSecrets(entry, isSecretKey(key), found);
  }
}

/** `scheme://user:password@host…`: matched without parsing, so a URL `URL` refuses is still caught. */
const userinfoPattern = /^([a-z][a-z0-9+.-]*:\/\/)([^@/?#]*)@/i;

function redactUrlCredentials(text: string): string {
  const userinfo = userinfoPattern.exec(text);
  let redacted = userinfo ? `${userinfo[1]}${redactedMarker}@${text.slice(userinfo[0].length)}` : text;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(redacted) || !redacted.includes('?')) return redacted;
  try {
    const url = new URL(redacted);
    let changed = false;
    for (const key of [...url.searchParams.keys()]) {
      if (isSecretKey(key)) {
        url.searchParams.set(key, redactedMarker);
        changed = true;
      }
    }
    if (changed) redacted = url.toString().replace(encodeURIComponent(redactedMarker), redactedMarker);
  } catch {
    // Not a URL after all: only its userinfo (if any) was redacted.
  }
  return redacted;
}

function urlSecrets(text: string): string[] {
  const secrets: string[] = [];
  const userinfo = userinfoPattern.exec(text);
  if (userinfo?.[2]) {
    const [user, ...rest] = userinfo[2].split(':');
    const password = rest.join(':');
    if (password) secrets.push(password, safeDecode(password));
    else if (user) secrets.push(user, safeDecode(user));
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text) && text.includes('?')) {
    try {
      for (const [key, entry] of new URL(text).searchParams) if (isSecretKey(key) && entry) secrets.push(entry);
    } catch {
      // Not a URL.
    }
  }
  return secrets;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * An error with every secret scrubbed from its message and stack (and from its cause's), changed in
 * place so its class and fields (a provider error's kind, retry-after) stay as they were.
 */
export function scrubError<E>(error: E, secrets: readonly string[]): E {
  if (!(error instanceof Error) || secrets.length === 0) return error;
  error.message = scrubSecrets(error.message, secrets);
  if (error.stack) error.stack = scrubSecrets(error.stack, secrets);
  if (error.cause instanceof Error) scrubError(error.cause, secrets);
  return error;
}
