// A small find box over the terminal (Ctrl+Shift+F): Enter finds the next
// match, Shift+Enter the previous one, Escape closes.

import type { SearchAddon } from '@xterm/addon-search';
import { t } from './i18n';

const DECORATIONS = {
  matchBackground: '#4c566a',
  matchOverviewRuler: '#e5c07b',
  activeMatchBackground: '#b58900',
  activeMatchColorOverviewRuler: '#ffcc00',
};

export class SearchBox {
  readonly el: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly count: HTMLElement;

  constructor(
    host: HTMLElement,
    private readonly addon: () => SearchAddon,
    private readonly done: () => void,
  ) {
    this.el = document.createElement('div');
    this.el.className = 'terminal-search';
    this.el.hidden = true;
    this.el.setAttribute('role', 'search');
    this.input = document.createElement('input');
    this.input.type = 'search';
    this.input.placeholder = t('web.term.find.input');
    this.input.setAttribute('aria-label', t('web.term.find.input'));
    this.count = document.createElement('span');
    this.count.className = 'terminal-search-count';
    const prev = button('↑', t('web.term.find.prev'), () => this.find(false));
    const next = button('↓', t('web.term.find.next'), () => this.find(true));
    const close = button('×', t('web.term.find.close'), () => this.close());
    this.el.append(this.input, this.count, prev, next, close);
    host.append(this.el);

    this.input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') {
        ev.preventDefault();
        this.find(!ev.shiftKey);
      } else if (ev.key === 'Escape') {
        ev.preventDefault();
        this.close();
      }
    });
    this.input.addEventListener('input', () => this.find(true, true));
  }

  open(): void {
    this.el.hidden = false;
    this.input.select();
    this.input.focus();
  }

  close(): void {
    this.el.hidden = true;
    this.addon().clearDecorations();
    this.count.textContent = '';
    this.done();
  }

  toggle(): void {
    if (this.el.hidden) this.open();
    else this.close();
  }

  private find(forward: boolean, incremental = false): void {
    const term = this.input.value;
    const addon = this.addon();
    if (!term) {
      addon.clearDecorations();
      this.count.textContent = '';
      return;
    }
    const opts = { incremental, decorations: DECORATIONS };
    this.watch(addon);
    const found = forward ? addon.findNext(term, opts) : addon.findPrevious(term, opts);
    if (!found) this.count.textContent = t('web.term.find.none');
  }

  private readonly watched = new WeakSet<SearchAddon>();

  private watch(addon: SearchAddon): void {
    if (this.watched.has(addon)) return;
    this.watched.add(addon);
    addon.onDidChangeResults((r) => {
      if (addon !== this.addon()) return;
      this.count.textContent = r.resultCount ? `${r.resultIndex + 1}/${r.resultCount}` : t('web.term.find.none');
    });
  }
}

function button(text: string, title: string, click: () => void): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.title = title;
  b.setAttribute('aria-label', title);
  b.addEventListener('click', click);
  return b;
}
