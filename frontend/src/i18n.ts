// The browser's share of the UI text, in the language the server chose for
// the page (<html data-ui-lang>).

const TEXT = {
  checking: { en: 'Checking…', ja: 'チェック中…' },
  passed: { en: 'Passed', ja: '合格' },
  notYet: { en: 'Not yet', ja: 'まだです' },
  checkFailed: { en: 'Check failed: ', ja: 'チェックできませんでした: ' },
  badResponse: { en: 'unexpected response from server', ja: 'サーバーの応答が不正です' },
  unreachable: { en: 'could not reach the server', ja: 'サーバーに接続できません' },
  output: { en: 'Output', ja: '出力' },
  run: { en: 'Run ▶', ja: '実行 ▶' },
  runTitle: { en: 'Type this into the terminal', ja: 'ターミナルに入力します' },
  notConnected: { en: 'Not connected', ja: '未接続' },
  copy: { en: 'Copy', ja: 'コピー' },
  copied: { en: 'Copied', ja: 'コピーしました' },
  copyFailed: { en: 'Select and copy by hand', ja: '選択してコピーしてください' },
  resetConfirm: {
    en: 'Reset your sandbox? Everything in it (files, images, containers) is deleted and a fresh one starts. Your progress is kept.',
    ja: 'サンドボックスをリセットしますか? 中のファイル・イメージ・コンテナはすべて削除され、新しいサンドボックスが起動します。進捗は残ります。',
  },
  resetFailed: { en: 'Reset failed: ', ja: 'リセットできませんでした: ' },
  failedChecks: { en: 'failed checks', ja: '回失敗' },
} satisfies Record<string, { en: string; ja: string }>;

export type TextKey = keyof typeof TEXT;

export function lang(): 'en' | 'ja' {
  return document.documentElement.dataset.uiLang === 'ja' ? 'ja' : 'en';
}

export function t(key: TextKey): string {
  return TEXT[key][lang()];
}
