// The terminal's share of the UI text, in the page's language.

import { lang } from './i18n';

const TEXT = {
  connecting: { en: 'Connecting…', ja: '接続中…' },
  starting: { en: 'Starting your sandbox…', ja: 'サンドボックスを起動中…' },
  ready: { en: 'Connected', ja: '接続しました' },
  closed: { en: 'Session ended', ja: 'セッションが終了しました' },
  error: { en: 'Error', ja: 'エラー' },
  disconnected: { en: 'Disconnected — reconnecting in {s} s…', ja: '切断されました — {s} 秒後に再接続します…' },
  reconnecting: { en: 'reconnecting in {s} s…', ja: '{s} 秒後に再接続します…' },
  reconnect: { en: 'Reconnect', ja: '再接続' },
  newShell: { en: 'new shell', ja: '新しいシェル' },
  watching: { en: 'Watching (read-only) — ', ja: '閲覧中(読み取り専用) — ' },
  smaller: { en: 'Smaller font (Ctrl+-)', ja: '文字を小さく (Ctrl+-)' },
  larger: { en: 'Larger font (Ctrl+=)', ja: '文字を大きく (Ctrl+=)' },
  find: { en: 'Find', ja: '検索' },
  findTitle: { en: 'Find in the terminal (Ctrl+Shift+F)', ja: 'ターミナル内を検索 (Ctrl+Shift+F)' },
  findPlaceholder: { en: 'Find in terminal', ja: 'ターミナル内を検索' },
  prevMatch: { en: 'Previous match (Shift+Enter)', ja: '前を検索 (Shift+Enter)' },
  nextMatch: { en: 'Next match (Enter)', ja: '次を検索 (Enter)' },
  closeFind: { en: 'Close (Escape)', ja: '閉じる (Escape)' },
  noMatch: { en: 'no match', ja: '見つかりません' },
  terminals: { en: 'Terminals', ja: 'ターミナル' },
  terminalN: { en: 'Terminal {n}', ja: 'ターミナル {n}' },
  closeTerminalN: { en: 'Close terminal {n}', ja: 'ターミナル {n} を閉じる' },
  newTerminal: { en: 'New terminal', ja: '新しいターミナル' },
  rec: { en: 'REC', ja: '記録中' },
  recTitle: {
    en: 'This terminal is recorded (output and window size) for your instructor.',
    ja: 'このターミナルは講師のために記録されています(出力とウィンドウサイズ)。',
  },
  readonly: { en: 'read-only', ja: '読み取り専用' },
  readonlyTitle: { en: 'You are watching; what you type is not sent.', ja: '閲覧中です。入力は送信されません。' },
} satisfies Record<string, { en: string; ja: string }>;

export type TermTextKey = keyof typeof TEXT;

/** The text for key, with {name} placeholders filled from vars. */
export function tt(key: TermTextKey, vars: Record<string, string | number> = {}): string {
  return TEXT[key][lang()].replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? ''));
}
