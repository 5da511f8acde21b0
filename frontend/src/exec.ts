// "Run ▶" buttons on the guide's runnable code blocks.

import { t } from './i18n';
const LABEL = (): string => t('run');

/** run types text into the terminal and returns false if it couldn't. */
export function initExecBlocks(run: (text: string) => boolean, root: ParentNode = document): void {
  root.querySelectorAll<HTMLElement>('.codeblock[data-role="exec"]').forEach((block) => {
    if (block.querySelector(':scope > .run-button')) return;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'run-button';
    button.textContent = LABEL();
    button.title = t('runTitle');
    let resetTimer: number | undefined;
    button.addEventListener('click', () => {
      const code = block.querySelector('code') ?? block.querySelector('pre') ?? block;
      // Enter sends CR, so multi-line blocks run line by line as if typed.
      const text = (code.textContent ?? '').trim().replace(/\r?\n/g, '\r');
      if (!text || run(text + '\r')) return;
      // Say so rather than fail silently while the terminal is reconnecting.
      button.textContent = t('notConnected');
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
