// Entry point: wires the server-rendered pages (see the DOM contract in the
// templates) to their behaviour. Loaded as <script type="module">, so the DOM
// is parsed by the time this runs.

import '@xterm/xterm/css/xterm.css';
import './app.css';

import { initCheckButtons, initHints, resume } from './check';
import { initClassPage } from './class';
import { initCopyBlocks, initExecBlocks } from './exec';
import { initSandbox } from './sandbox';
import { TerminalSession } from './terminal';
import type { Terminal } from '@xterm/xterm';

declare global {
  interface Window {
    // Handle for end-to-end tests (they read term.buffer.active).
    handson?: { term: Terminal; send(text: string): boolean };
  }
}

// Preview links written in a guide open in a tab of their own, with no
// handle back to this page (the preview is the student's code).
function initPreviewLinks(): void {
  for (const a of document.querySelectorAll<HTMLAnchorElement>('.guide a[href^="/preview/open?"]')) {
    a.target = '_blank';
    a.rel = 'noopener';
  }
}

function initLabPage(): void {
  initPreviewLinks();
  initCheckButtons();
  initHints();
  initCopyBlocks();
  resume();

  const container = document.getElementById('terminal');
  if (!container?.dataset.ws) return;
  const status = document.querySelector<HTMLElement>('.terminal-status');
  const session = new TerminalSession(container, status);

  // After a reset the old shells are gone: new sessions, clean screens.
  initSandbox((fresh) => session.reconnect({ fresh }));

  initExecBlocks((text) => {
    const sent = session.send(text);
    session.focus();
    return sent;
  });

  window.handson = { term: session.term, send: (text) => session.send(text) };
}

function initLoginPage(): void {
  const user = document.querySelector<HTMLInputElement>('main.login input[name="username"]');
  if (user && !user.value && document.activeElement === document.body) user.focus();
}

function main(): void {
  switch (document.body.dataset.page) {
    case 'lab':
      initLabPage();
      break;
    case 'login':
      initLoginPage();
      break;
    case 'class':
      initClassPage();
      break;
    case 'watch': {
      // An instructor's read-only view of a student's terminal.
      const container = document.getElementById('terminal');
      if (container) new TerminalSession(container, document.querySelector<HTMLElement>('.terminal-status'));
      break;
    }
  }
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', main, { once: true });
} else {
  main();
}
