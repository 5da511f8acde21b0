// "Run ▶" buttons on the guide's runnable code blocks.

import { t } from './i18n';
const LABEL = (): string => t('web.run');

/** run types text into the terminal and returns false if it couldn't. */
export function initExecBlocks(run: (text: string) => boolean, root: ParentNode = document): void {
  root.querySelectorAll<HTMLElement>('.codeblock[data-role="exec"]').forEach((block) => {
    if (block.querySelector(':scope > .run-button')) return;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'run-button';
    button.textContent = LABEL();
    button.title = t('web.run.title');
    let resetTimer: number | undefined;
    button.addEventListener('click', () => {
      const code = block.querySelector('code') ?? block.querySelector('pre') ?? block;
      // Enter sends CR, so multi-line blocks run line by line as if typed.
      const text = (code.textContent ?? '').trim().replace(/\r?\n/g, '\r');
      if (!text || run(text + '\r')) return;
      // Say so rather than fail silently while the terminal is reconnecting.
      button.textContent = t('web.run.notConnected');
      button.dataset.state = 'error';
      window.clearTimeout(resetTimer);
      resetTimer = window.setTimeout(() => {
        button.textContent = LABEL();
        delete button.dataset.state;
      }, 2000);
    });
    block.append(button);
  });
}

// "Copy" buttons on the guide's copy blocks. The Clipboard API needs a
// secure context (https or localhost); elsewhere the old execCommand works.
export function initCopyBlocks(root: ParentNode = document): void {
  root.querySelectorAll<HTMLElement>('.codeblock[data-role="copy"]').forEach((block) => {
    if (block.querySelector(':scope > .run-button')) return;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'run-button copy-button';
    button.textContent = t('web.copy');
    button.addEventListener('click', async () => {
      const text = (block.querySelector('code')?.textContent ?? '').replace(/\n$/, '');
      let ok = false;
      try {
        await navigator.clipboard.writeText(text);
        ok = true;
      } catch {
        const area = document.createElement('textarea');
        area.value = text;
        document.body.append(area);
        area.select();
        ok = document.execCommand('copy');
        area.remove();
      }
      button.textContent = ok ? t('web.copy.done') : t('web.copy.failed');
      window.setTimeout(() => (button.textContent = t('web.copy')), 1500);
    });
    block.append(button);
  });
}
