// The browser's share of the one message catalog (internal/i18n, the keys
// under "web."). The server puts them in each page, in the page's language,
// as JSON: <script type="application/json" id="messages">. t and count
// format them as Go's i18n.T and i18n.Count do; frontend/i18n_test.go runs
// format against Go's fmt.

export type Arg = string | number;

let page: Record<string, string> | undefined;

function messages(): Record<string, string> {
  if (!page) {
    try {
      page = JSON.parse(document.getElementById('messages')?.textContent ?? '{}') as Record<string, string>;
    } catch {
      page = {};
    }
  }
  return page;
}

/** key's text, formatted with args; an unknown key shows itself, as in Go. */
export function t(key: string, ...args: Arg[]): string {
  const s = messages()[key];
  if (s === undefined) return key;
  return args.length ? format(s, args) : s;
}

/** key's text when the page was sent it, else "" (a key the server named). */
export function said(key: string): string {
  return key in messages() ? t(key) : '';
}

/** n of a unit: key + ".one" for exactly one, where the language has it. */
export function count(key: string, n: number): string {
  return t(plural(messages(), key, n), n);
}

export function plural(m: Record<string, string>, key: string, n: number): string {
  return n === 1 && key + '.one' in m ? key + '.one' : key;
}

/**
 * s formatted as Go's fmt.Sprintf formats it, for the verbs the browser's
 * keys may use (TestCatalogComplete): %s, %d, %[n]s, %[n]d and %%, with
 * Go's %!d(MISSING), %!d(BADINDEX), %!d(string=x) and %!(EXTRA …).
 */
export function format(s: string, args: readonly Arg[]): string {
  let next = 0;
  let reordered = false;
  const out = s.replace(/%%|%(?:\[(\d+)\])?([sd])/g, (_, index: string | undefined, c: string | undefined) => {
    if (!c) return '%';
    if (index !== undefined) {
      reordered = true;
      const i = Number(index);
      if (i < 1 || i > args.length) return `%!${c}(BADINDEX)`;
      next = i - 1;
    }
    if (next >= args.length) return `%!${c}(MISSING)`;
    const a = args[next++];
    const ok = c === 's' ? typeof a === 'string' : Number.isInteger(a);
    return ok ? String(a) : `%!${c}(${goType(a)}=${a})`;
  });
  if (reordered || next >= args.length) return out;
  return out + '%!(EXTRA ' + args.slice(next).map((a) => `${goType(a)}=${a}`).join(', ') + ')';
}

function goType(a: Arg): string {
  return typeof a === 'string' ? 'string' : Number.isInteger(a) ? 'int' : 'float64';
}
