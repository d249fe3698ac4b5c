/**
 * Text that came from elsewhere (a command's stderr, an exception, a message off the wire)
 * made fit to store and to show. PostgreSQL refuses a NUL in `text` (22021) and `\u0000` or
 * an unpaired surrogate in `jsonb` (22P05), so an outcome carrying one could never be
 * written; other control characters would reach people's terminals. Control characters
 * other than tab and newlines become visible `\xNN` escapes, unpaired surrogates U+FFFD.
 */
const UNSAFE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function safeText(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : '\ufffd';
  });
}

/** `safeText` applied to every string of a JSON value, keys included. */
export function safeValue<T>(value: T): T {
  if (typeof value === 'string') return safeText(value) as T;
  if (Array.isArray(value)) return value.map(safeValue) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [safeText(key), safeValue(v)])) as T;
  }
  return value;
}

/**
 * Whether JSON text may hold something `safeText` would change: JSON carries control
 * characters (but DEL) and unpaired surrogates only as escapes, and decoded UTF-8 holds no
 * unpaired surrogate, so text without one of those needs no second look (the common case,
 * checked without parsing anything twice).
 */
export function mayNeedSafeText(json: string): boolean {
  return /\\(u00[01][0-9a-f]|u007f|ud[89a-f]|[bf])|\x7f/i.test(json);
}
