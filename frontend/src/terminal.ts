// The terminal pane of the lab page: one or more terminals (tabs) of the
// student's sandbox, each a server-side session that survives reloads and
// reconnects (terminal-tab.ts), with a tab strip, a font size control, a
// find box and the connection state in the status bar.
//
// Keys: Ctrl+Shift+C copies (selecting copies too), Ctrl+Shift+V or the
// right-click menu pastes, Ctrl+Shift+F finds, Ctrl+= / Ctrl+- / Ctrl+0
// change the font size.

import type { Terminal } from '@xterm/xterm';
import { SearchBox } from './search';
import { TerminalTab, type TabState } from './terminal-tab';
import { t } from './i18n';

const MAX_TABS = 8; // the server's limit too
const FONT_MIN = 9;
const FONT_MAX = 32;
const FONT_DEFAULT = 14;

interface SavedTabs {
  tabs: string[];
  active: string;
}

export class TerminalSession {
  private readonly tabs = new Map<string, TerminalTab>();
  private active!: TerminalTab;
  private readonly wsPath: string;
  private readonly viewUser: string | undefined;
  private readonly strip: HTMLElement | null = null;
  private readonly badges: HTMLElement;
  private readonly searchBox: SearchBox;
  private fontSize: number;

  constructor(
    private readonly container: HTMLElement,
    private readonly statusEl: HTMLElement | null,
  ) {
    this.wsPath = container.dataset.ws ?? '';
    this.viewUser = container.dataset.viewUser || undefined;
    this.fontSize = clampFont(Number(localGet('handson.fontSize')) || FONT_DEFAULT);

    const bar = statusEl?.parentElement ?? null;
    this.badges = document.createElement('span');
    this.badges.className = 'terminal-badges';
    statusEl?.after(this.badges);
    if (bar) {
      if (!this.viewUser) {
        this.strip = document.createElement('div');
        this.strip.className = 'terminal-tabs';
        this.strip.setAttribute('role', 'tablist');
        this.strip.setAttribute('aria-label', t('web.term.tabs'));
        bar.prepend(this.strip);
      }
      const tools = document.createElement('div');
      tools.className = 'terminal-tools';
      tools.append(
        toolButton('A−', t('web.term.smaller'), () => this.zoom(-1)),
        toolButton('A+', t('web.term.larger'), () => this.zoom(+1)),
        toolButton(t('web.term.find'), t('web.term.find.title'), () => this.searchBox.toggle()),
      );
      (statusEl ?? bar.lastChild)?.before(tools);
    }
    this.searchBox = new SearchBox(container.parentElement ?? container, () => this.active.search, () => this.focus());

    const saved = this.loadTabs();
    const first = container.dataset.tab || saved.active;
    for (const id of saved.tabs) this.addTab(id, false);
    if (!this.tabs.has(first)) this.addTab(first, false);
    this.select(first);

    // Don't sit out a long backoff once the network is back.
    window.addEventListener('online', () => this.tabs.forEach((t) => t.poke()));
  }

  /** The active tab's terminal. */
  get term(): Terminal {
    return this.active.term;
  }

  /** Types text into the active terminal as if the user had; false if not connected. */
  send(text: string): boolean {
    return this.active.send(text);
  }

  focus(): void {
    this.active.focus();
  }

  /**
   * Reconnects every tab at once (after the sandbox recovered or was
   * reset). With fresh, each tab gets a new shell instead of resuming its
   * session (whose sandbox is gone).
   */
  reconnect(opts: { fresh?: boolean } = {}): void {
    this.tabs.forEach((t) => t.reconnect(opts));
  }

  /** Opens a new terminal tab with a new shell and shows it. */
  newTab(): void {
    if (this.tabs.size >= MAX_TABS) return;
    let n = 1;
    while (this.tabs.has(String(n))) n++;
    const id = String(n);
    this.addTab(id, true);
    this.select(id);
    this.focus();
  }

  closeTab(id: string): void {
    const t = this.tabs.get(id);
    if (!t || this.tabs.size === 1) return;
    this.tabs.delete(id);
    t.dispose();
    if (this.active === t) this.select(this.tabs.keys().next().value!);
    else this.render();
    this.saveTabs();
  }

  select(id: string): void {
    const t = this.tabs.get(id);
    if (!t) return;
    this.active = t;
    for (const other of this.tabs.values()) other.el.hidden = other !== t;
    t.shown();
    // The end-to-end tests read window.handson.term: the visible one.
    const h = (window as { handson?: { term: Terminal } }).handson;
    if (h) h.term = t.term;
    this.render();
    this.showStatus(t.status);
    this.saveTabs();
  }

  private addTab(id: string, fresh: boolean): void {
    const t = new TerminalTab(this.container, {
      tab: id,
      wsPath: this.wsPath,
      viewUser: this.viewUser,
      fontSize: this.fontSize,
      fresh,
      onState: (tab, st) => {
        if (tab === this.active) this.showStatus(st);
        this.strip?.querySelector<HTMLElement>(`[data-tab="${tab.tab}"]`)?.setAttribute('data-state', st.state);
      },
      onKey: (ev) => this.onKey(ev),
    });
    t.el.hidden = true;
    this.tabs.set(id, t);
    this.saveTabs();
  }

  // Page shortcuts typed in a terminal; false: handled here.
  private onKey(ev: KeyboardEvent): boolean {
    const ctrl = ev.ctrlKey && !ev.altKey && !ev.metaKey;
    if (ctrl && ev.shiftKey && ev.code === 'KeyF') {
      ev.preventDefault();
      this.searchBox.toggle();
      return false;
    }
    if (ctrl && !ev.shiftKey && (ev.key === '=' || ev.key === '+')) {
      ev.preventDefault();
      this.zoom(+1);
      return false;
    }
    if (ctrl && !ev.shiftKey && ev.key === '-') {
      ev.preventDefault();
      this.zoom(-1);
      return false;
    }
    if (ctrl && !ev.shiftKey && ev.key === '0') {
      ev.preventDefault();
      this.zoom(0);
      return false;
    }
    return true;
  }

  private zoom(step: number): void {
    this.fontSize = step === 0 ? FONT_DEFAULT : clampFont(this.fontSize + step);
    localSet('handson.fontSize', String(this.fontSize));
    this.tabs.forEach((t) => t.setFontSize(this.fontSize));
  }

  private render(): void {
    const strip = this.strip;
    if (!strip) return;
    strip.replaceChildren();
    for (const [id, tab] of this.tabs) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'terminal-tab';
      b.setAttribute('role', 'tab');
      b.setAttribute('aria-selected', String(tab === this.active));
      b.dataset.tab = id;
      b.dataset.state = tab.status.state;
      b.title = t('web.term.tab', Number(id));
      b.textContent = id;
      b.addEventListener('click', () => {
        this.select(id);
        this.focus();
      });
      if (this.tabs.size > 1) {
        const x = document.createElement('span');
        x.className = 'terminal-tab-close';
        x.textContent = '×';
        x.title = t('web.term.tab.close', Number(id));
        x.addEventListener('click', (ev) => {
          ev.stopPropagation();
          this.closeTab(id);
        });
        b.append(x);
      }
      strip.append(b);
    }
    if (this.tabs.size < MAX_TABS) {
      const add = document.createElement('button');
      add.type = 'button';
      add.className = 'terminal-tab-add';
      add.textContent = '+';
      add.title = t('web.term.tab.new');
      add.setAttribute('aria-label', t('web.term.tab.new'));
      add.addEventListener('click', () => this.newTab());
      strip.append(add);
    }
  }

  private showStatus(st: TabState): void {
    const el = this.statusEl;
    if (el) {
      el.dataset.state = st.state;
      el.textContent = st.text;
      if (st.offerReconnect) {
        const btn = document.createElement('button');
        btn.type = 'button';
        btn.className = 'terminal-reconnect';
        btn.textContent = t('web.term.reconnect');
        btn.addEventListener('click', () => this.active.reconnect());
        el.append(' ', btn);
      }
    }
    this.badges.replaceChildren();
    if (st.recording) this.badges.append(badge(t('web.term.rec'), 'recording', t('web.term.rec.title')));
    if (st.readonly) this.badges.append(badge(t('web.term.readonly'), 'readonly', t('web.term.readonly.title')));
  }

  private loadTabs(): SavedTabs {
    try {
      const v = JSON.parse(sessionStorage.getItem(this.tabsKey()) ?? '') as SavedTabs;
      const tabs = v.tabs.filter((t) => /^[0-9]{1,2}$/.test(t)).slice(0, MAX_TABS);
      if (tabs.length) return { tabs, active: tabs.includes(v.active) ? v.active : tabs[0] };
    } catch {
      /* nothing saved */
    }
    return { tabs: [], active: '1' };
  }

  private saveTabs(): void {
    if (this.viewUser) return;
    try {
      sessionStorage.setItem(this.tabsKey(), JSON.stringify({ tabs: [...this.tabs.keys()], active: this.active?.tab ?? '1' }));
    } catch {
      /* storage disabled */
    }
  }

  private tabsKey(): string {
    return 'handson.tabs:' + this.wsPath;
  }
}

function clampFont(px: number): number {
  return Math.min(FONT_MAX, Math.max(FONT_MIN, Math.round(px)));
}

function toolButton(text: string, title: string, click: () => void): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'terminal-tool';
  b.textContent = text;
  b.title = title;
  b.setAttribute('aria-label', title);
  b.addEventListener('click', click);
  return b;
}

function badge(text: string, kind: string, title: string): HTMLElement {
  const s = document.createElement('span');
  s.className = 'terminal-badge';
  s.dataset.kind = kind;
  s.textContent = text;
  s.title = title;
  return s;
}

function localGet(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function localSet(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    /* storage disabled */
  }
}
