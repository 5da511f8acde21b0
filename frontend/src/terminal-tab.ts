// One terminal of the lab page: an xterm.js Terminal attached over a
// websocket to a server-side session (docs/terminal.md). The session
// outlives the socket: a reconnect resumes at the byte this page has, a
// reload replays the session's recent output. Output is acknowledged as
// xterm finishes writing it, so a flood (`yes`) paces the shell instead of
// freezing the page.

import { Terminal, type ITerminalAddon } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { WebglAddon } from '@xterm/addon-webgl';
import { SearchAddon } from '@xterm/addon-search';
import {
  FrameType,
  decodeFrame,
  decodeHello,
  decodeStatus,
  encodeAck,
  encodeBinaryInput,
  encodeHello,
  encodeInputFrames,
  encodeResize,
  type HelloReply,
  type TerminalStatus,
} from './protocol';
import { said, t } from './i18n';

const RESIZE_DEBOUNCE_MS = 100;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10_000;
const ACK_EVERY = 32 * 1024; // bytes written by xterm between two ACKs

// Values written to .terminal-status[data-state]: the server's states plus
// the client-side "connecting" and "disconnected".
export type DisplayState = TerminalStatus['state'] | 'connecting' | 'disconnected';

export interface TabState {
  state: DisplayState;
  text: string;
  offerReconnect: boolean;
  readonly: boolean;
  recording: boolean;
}

// What a state says when the server's status has no message of its own.
const STATE_TEXT: Record<string, string> = {
  connecting: 'web.term.connecting',
  starting: 'web.term.starting',
  ready: 'web.term.ready',
  closed: 'web.term.closed',
  error: 'web.term.error',
};

function defaultText(state: string): string {
  return STATE_TEXT[state] ? t(STATE_TEXT[state]) : state;
}

export interface TabOptions {
  tab: string; // the server's tab id
  wsPath: string; // /api/labs/{lab}/terminal
  viewUser?: string; // watch this student's terminal read-only
  fontSize: number;
  fresh?: boolean; // start a new shell for this tab (a new "+" tab)
  onState: (tab: TerminalTab, st: TabState) => void;
  onKey?: (ev: KeyboardEvent) => boolean; // false: handled by the page
}

export class TerminalTab {
  readonly term: Terminal;
  readonly search = new SearchAddon();
  readonly el: HTMLElement;
  private readonly fit = new FitAddon();
  private ws: WebSocket | null = null;
  private lastStatus: TerminalStatus | null = null;
  private backoffMs = BACKOFF_FIRST_MS;
  private reconnectTimer: number | undefined;
  private resizeTimer: number | undefined;
  private sentSize = ''; // "cols x rows" last sent on the current socket
  private closed = false; // disposed

  // The session and how far this page has it: `received` counts output
  // bytes handed to xterm, `written` those xterm has processed, `acked`
  // the last offset acknowledged. `gen` changes when the stream restarts,
  // so that callbacks of older writes are ignored.
  private session = '';
  private received = 0;
  private written = 0;
  private acked = 0;
  private gen = 0;
  private fresh: boolean;
  private readonly storageKey: string;
  private state: TabState = { state: 'connecting', text: t('web.term.connecting'), offerReconnect: false, readonly: false, recording: false };

  constructor(
    host: HTMLElement,
    private readonly opts: TabOptions,
  ) {
    this.fresh = !!opts.fresh;
    this.storageKey = `handson.term:${opts.wsPath}:${opts.viewUser ?? ''}:${opts.tab}`;
    if (!this.fresh) this.session = storageGet(this.storageKey);

    this.el = document.createElement('div');
    this.el.className = 'terminal-view';
    this.el.dataset.tab = opts.tab;
    host.append(this.el);

    const readonly = !!opts.viewUser;
    this.term = new Terminal({
      cursorBlink: !readonly,
      disableStdin: readonly,
      fontSize: opts.fontSize,
      fontFamily:
        '"DejaVu Sans Mono", "Cascadia Mono", Menlo, Consolas, "Liberation Mono", ' +
        '"Noto Sans Mono CJK JP", "Noto Sans Mono", monospace',
      scrollback: 5000,
      allowProposedApi: true, // needed for term.unicode (Unicode 11 widths) and search decorations
      macOptionIsMeta: true,
      rightClickSelectsWord: false, // right click opens the menu with Paste
      theme: {
        background: '#16181d',
        foreground: '#d8dee9',
        cursor: '#f0f0f0',
        cursorAccent: '#16181d',
        selectionBackground: '#3b4252',
        black: '#1d2027',
        red: '#e06c75',
        green: '#98c379',
        yellow: '#e5c07b',
        blue: '#61afef',
        magenta: '#c678dd',
        cyan: '#56b6c2',
        white: '#d8dee9',
        brightBlack: '#5c6370',
        brightRed: '#ef8891',
        brightGreen: '#b5e08f',
        brightYellow: '#f2d28e',
        brightBlue: '#7fc1ff',
        brightMagenta: '#d99cee',
        brightCyan: '#78d0da',
        brightWhite: '#ffffff',
      },
    });
    this.term.loadAddon(this.fit);
    // Match the sandbox's wcwidth for CJK and emoji so the cursor lines up.
    this.term.loadAddon(new Unicode11Addon());
    this.term.unicode.activeVersion = '11';
    this.term.loadAddon(new WebLinksAddon());
    this.term.loadAddon(this.search);
    this.term.open(this.el);
    this.loadWebgl();

    this.term.attachCustomKeyEventHandler((ev) => this.onKey(ev));
    this.term.onData((data) => this.sendInput(data));
    this.term.onBinary((data) => this.sendFrame(encodeBinaryInput(data)));
    this.term.onResize(() => this.sendResize());
    // Copy on select (as in most terminals); the clipboard keeps the last selection.
    let copyTimer: number | undefined;
    this.term.onSelectionChange(() => {
      window.clearTimeout(copyTimer); // once the mouse has settled
      copyTimer = window.setTimeout(() => {
        if (this.term.hasSelection()) void this.copySelection();
      }, 150);
    });

    new ResizeObserver(() => this.scheduleFit()).observe(this.el);
    // Cell metrics change once web fonts have loaded.
    void document.fonts?.ready.then(() => this.scheduleFit());

    this.safeFit();
    this.connect();
  }

  get tab(): string {
    return this.opts.tab;
  }

  get status(): TabState {
    return this.state;
  }

  // WebGL is much faster for floods; without it (no GPU, context lost)
  // xterm's DOM renderer takes over.
  private loadWebgl(): void {
    try {
      const webgl = new WebglAddon();
      webgl.onContextLoss(() => webgl.dispose());
      this.term.loadAddon(webgl as ITerminalAddon);
      this.el.dataset.renderer = 'webgl';
    } catch {
      this.el.dataset.renderer = 'dom';
    }
  }

  /** Types text into the terminal as if the user had; false if not connected. */
  send(text: string): boolean {
    if (this.opts.viewUser) return false;
    return this.sendInput(text);
  }

  private sendInput(text: string): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    for (const f of encodeInputFrames(text)) this.ws.send(f);
    return true;
  }

  focus(): void {
    this.term.focus();
  }

  setFontSize(px: number): void {
    this.term.options.fontSize = px;
    this.safeFit();
  }

  /** Called when the tab becomes visible. */
  shown(): void {
    this.safeFit();
    this.term.refresh(0, this.term.rows - 1);
  }

  /** Ends this tab's connection for good (its shell ends after the grace period). */
  dispose(): void {
    this.closed = true;
    window.clearTimeout(this.reconnectTimer);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, 'tab closed');
    storageDel(this.storageKey);
    this.term.dispose();
    this.el.remove();
  }

  /**
   * Drops the current socket (if any) and connects again at once. With
   * fresh, the tab's shell is replaced by a new one (after a sandbox reset).
   */
  reconnect(opts: { fresh?: boolean } = {}): void {
    if (opts.fresh) {
      this.fresh = true;
      this.session = '';
      storageDel(this.storageKey);
    }
    const ws = this.ws;
    this.ws = null; // its close event is then ignored
    ws?.close();
    this.reconnectNow();
  }

  /** Reconnects at once if a reconnect is pending (the network is back). */
  poke(): void {
    if (this.reconnectTimer !== undefined && !this.closed) this.reconnectNow();
  }

  private url(): string {
    const q = new URLSearchParams({ tab: this.opts.tab });
    if (this.opts.viewUser) {
      q.set('view', '1');
      q.set('user', this.opts.viewUser);
    }
    return (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + this.opts.wsPath + '?' + q.toString();
  }

  private connect(): void {
    if (this.closed) return;
    this.reconnectTimer = undefined;
    this.lastStatus = null;
    this.sentSize = '';
    this.setStatus('connecting', t('web.term.connecting'));

    const ws = new WebSocket(this.url());
    ws.binaryType = 'arraybuffer';
    this.ws = ws;

    ws.onopen = () => {
      this.safeFit();
      const { cols, rows } = this.term;
      // A page that has output of the session asks for what follows; a
      // fresh page (offset 0) gets a replay of the session's recent output.
      ws.send(encodeHello({ session: this.session, offset: this.session ? this.received : 0, fresh: this.fresh || undefined, cols, rows }));
      this.sentSize = `${cols}x${rows}`;
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (this.ws !== ws || !(ev.data instanceof ArrayBuffer)) return; // protocol is binary only
      const frame = decodeFrame(ev.data);
      if (!frame) return;
      switch (frame.type) {
        case FrameType.Output:
          this.output(frame.payload);
          break;
        case FrameType.Hello: {
          const reply = decodeHello(frame.payload);
          if (reply) this.hello(reply);
          break;
        }
        case FrameType.Status: {
          const st = decodeStatus(frame.payload);
          this.lastStatus = st;
          if (st.state === 'ready') this.backoffMs = BACKOFF_FIRST_MS;
          // The terminal's own news comes as a catalog key: said here in
          // the page's language; other news comes said already.
          let text = (st.code && said(st.code)) || st.message || defaultText(st.state);
          if (this.opts.viewUser && st.state === 'ready') text = t('web.term.watching', text);
          this.setStatus(st.state, text);
          break;
        }
        default:
          break; // unknown types are ignored for forward compatibility
      }
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.lastStatus?.state === 'closed' && ev.code === 1000) {
        // The server ended the session on purpose (e.g. the shell exited):
        // a new connection would start a new shell, so the student decides.
        this.session = '';
        storageDel(this.storageKey);
        this.setStatus('closed', this.lastStatus.message || t('web.term.closed'), true);
        return;
      }
      this.scheduleReconnect();
    };
    // Errors are always followed by a close event; handling happens there.
    ws.onerror = () => {};
  }

  private hello(reply: HelloReply): void {
    const sameStream = reply.session === this.session && reply.offset === this.received && !reply.replay;
    if (!sameStream) {
      this.gen++;
      if (reply.replay) {
        this.term.reset(); // what the screen had is not continued
      } else if (reply.new && this.received > 0) {
        this.term.write(`\r\n\x1b[2m── ${t('web.term.newShell')} ──\x1b[0m\r\n`);
      }
      this.received = this.written = this.acked = reply.offset;
    }
    this.session = reply.session;
    this.fresh = false;
    if (!this.opts.viewUser) storageSet(this.storageKey, reply.session);
    this.state.readonly = !!reply.readonly;
    this.state.recording = !!reply.recording;
    this.backoffMs = BACKOFF_FIRST_MS;
    this.emit();
  }

  private output(data: Uint8Array): void {
    const gen = this.gen;
    const n = data.length;
    this.received += n;
    // Output means the sandbox is up: a later drop starts backoff afresh.
    this.backoffMs = BACKOFF_FIRST_MS;
    this.term.write(data, () => {
      if (gen !== this.gen) return;
      this.written += n;
      // Every 32 KiB, and whenever xterm has caught up: the server resumes
      // the shell only once the lag is below its low watermark.
      if (this.written - this.acked >= ACK_EVERY || (this.written === this.received && this.written > this.acked)) {
        this.acked = this.written;
        this.sendFrame(encodeAck(this.written));
      }
    });
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    const s = Math.round(delay / 1000) || 1;
    const text = this.lastStatus?.state === 'error' && this.lastStatus.message ? t('web.term.reconnecting', this.lastStatus.message, s) : t('web.term.disconnected', s);
    this.setStatus('disconnected', text);
    this.reconnectTimer = window.setTimeout(() => this.connect(), delay);
  }

  private reconnectNow(): void {
    window.clearTimeout(this.reconnectTimer);
    this.backoffMs = BACKOFF_FIRST_MS;
    this.connect();
  }

  private sendFrame(frame: Uint8Array<ArrayBuffer>): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(frame);
    return true;
  }

  private sendResize(): void {
    if (this.opts.viewUser) return;
    const { cols, rows } = this.term;
    const size = `${cols}x${rows}`;
    if (size === this.sentSize) return;
    if (this.sendFrame(encodeResize(cols, rows))) this.sentSize = size;
  }

  private scheduleFit(): void {
    window.clearTimeout(this.resizeTimer);
    this.resizeTimer = window.setTimeout(() => this.safeFit(), RESIZE_DEBOUNCE_MS);
  }

  // fit() throws or yields nonsense while the container is hidden (0×0).
  private safeFit(): void {
    if (this.el.clientWidth === 0 || this.el.clientHeight === 0) return;
    try {
      this.fit.fit(); // fires term.onResize → sendResize when the size changed
    } catch {
      /* renderer not ready yet; the next resize will retry */
    }
  }

  // Keys the page handles before xterm: copy/paste with Ctrl+Shift (Ctrl+C
  // and Ctrl+V stay the shell's), then the page's own shortcuts.
  private onKey(ev: KeyboardEvent): boolean {
    if (ev.isComposing || ev.keyCode === 229) return true; // an IME is composing: hands off
    if (ev.type !== 'keydown') return true;
    const ctrlShift = ev.ctrlKey && ev.shiftKey && !ev.altKey && !ev.metaKey;
    if (ctrlShift && ev.code === 'KeyC') {
      ev.preventDefault(); // not the browser's inspector
      void this.copySelection();
      return false;
    }
    if (ctrlShift && ev.code === 'KeyV') {
      // Let the browser paste: xterm gets the paste event and sends the
      // text (bracketed when the shell asked for it).
      return false;
    }
    return this.opts.onKey ? this.opts.onKey(ev) : true;
  }

  private async copySelection(): Promise<void> {
    const text = this.term.getSelection();
    if (!text) return;
    try {
      await navigator.clipboard.writeText(text);
      return;
    } catch {
      /* no async clipboard (plain http, Safari without a gesture): below */
    }
    // xterm answers the copy event of its focused textarea with the selection.
    try {
      document.execCommand('copy');
    } catch {
      /* nothing more to try */
    }
  }

  private setStatus(state: DisplayState, text: string, offerReconnect = false): void {
    this.state.state = state;
    this.state.text = text;
    this.state.offerReconnect = offerReconnect;
    this.emit();
  }

  private emit(): void {
    this.opts.onState(this, { ...this.state });
  }
}

function storageGet(key: string): string {
  try {
    return sessionStorage.getItem(key) ?? '';
  } catch {
    return '';
  }
}

function storageSet(key: string, value: string): void {
  try {
    sessionStorage.setItem(key, value);
  } catch {
    /* storage disabled: a reload then starts a new shell */
  }
}

function storageDel(key: string): void {
  try {
    sessionStorage.removeItem(key);
  } catch {
    /* ignore */
  }
}
