// The student's terminal: an xterm.js Terminal attached over a websocket to
// the sandbox container, reconnecting with backoff when the socket drops.

import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import {
  FrameType,
  decodeFrame,
  decodeStatus,
  encodeBinaryInput,
  encodeInput,
  encodeResize,
  type TerminalStatus,
} from './protocol';

const RESIZE_DEBOUNCE_MS = 100;
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 10_000;

// Values written to .terminal-status[data-state]: the server's states plus
// the client-side "connecting" and "disconnected".
type DisplayState = TerminalStatus['state'] | 'connecting' | 'disconnected';

const DEFAULT_TEXT: Record<string, string> = {
  connecting: 'Connecting…',
  starting: 'Starting your sandbox…',
  ready: 'Connected',
  closed: 'Session ended',
  error: 'Error',
};

export class TerminalSession {
  readonly term: Terminal;
  private readonly fit = new FitAddon();
  private readonly url: string;
  private ws: WebSocket | null = null;
  private lastStatus: TerminalStatus | null = null;
  private backoffMs = BACKOFF_FIRST_MS;
  private reconnectTimer: number | undefined;
  private resizeTimer: number | undefined;
  private sentSize = ''; // "cols x rows" last sent on the current socket

  constructor(
    private readonly container: HTMLElement,
    private readonly statusEl: HTMLElement | null,
  ) {
    const path = container.dataset.ws ?? '';
    this.url = (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + path;

    this.term = new Terminal({
      cursorBlink: true,
      fontSize: 14,
      fontFamily:
        '"DejaVu Sans Mono", "Cascadia Mono", Menlo, Consolas, "Liberation Mono", ' +
        '"Noto Sans Mono CJK JP", "Noto Sans Mono", monospace',
      scrollback: 5000,
      allowProposedApi: true, // needed for term.unicode (Unicode 11 widths)
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
    this.term.open(container);

    this.term.onData((data) => this.sendFrame(encodeInput(data)));
    this.term.onBinary((data) => this.sendFrame(encodeBinaryInput(data)));
    this.term.onResize(() => this.sendResize());

    new ResizeObserver(() => this.scheduleFit()).observe(container);
    // Cell metrics change once web fonts have loaded.
    void document.fonts?.ready.then(() => this.scheduleFit());
    // Don't sit out a long backoff once the network is back.
    window.addEventListener('online', () => {
      if (this.reconnectTimer !== undefined) this.reconnectNow();
    });

    this.safeFit();
    this.connect();
  }

  /** Types text into the terminal as if the user had; false if not connected. */
  send(text: string): boolean {
    return this.sendFrame(encodeInput(text));
  }

  focus(): void {
    this.term.focus();
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    this.lastStatus = null;
    this.sentSize = '';
    this.setStatus('connecting', DEFAULT_TEXT.connecting);

    const ws = new WebSocket(this.url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;

    ws.onopen = () => {
      this.safeFit();
      this.sendResize();
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (!(ev.data instanceof ArrayBuffer)) return; // protocol is binary only
      const frame = decodeFrame(ev.data);
      if (!frame) return;
      switch (frame.type) {
        case FrameType.Output:
          // Output means the sandbox is up: a later drop starts backoff afresh.
          this.backoffMs = BACKOFF_FIRST_MS;
          this.term.write(frame.payload);
          break;
        case FrameType.Status: {
          const st = decodeStatus(frame.payload);
          this.lastStatus = st;
          if (st.state === 'ready') this.backoffMs = BACKOFF_FIRST_MS;
          this.setStatus(st.state, st.message || DEFAULT_TEXT[st.state] || st.state);
          break;
        }
        default:
          break; // unknown/reserved types are ignored for forward compatibility
      }
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.lastStatus?.state === 'closed' && ev.code === 1000) {
        // The server ended the session on purpose (e.g. the shell exited).
        this.setStatus('closed', this.lastStatus.message || DEFAULT_TEXT.closed, true);
        return;
      }
      this.scheduleReconnect();
    };
    // Errors are always followed by a close event; handling happens there.
    ws.onerror = () => {};
  }

  private scheduleReconnect(): void {
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    const prefix = this.lastStatus?.state === 'error' && this.lastStatus.message ? this.lastStatus.message + ' — ' : 'Disconnected — ';
    this.setStatus('disconnected', prefix + 'reconnecting…');
    this.reconnectTimer = window.setTimeout(() => this.connect(), delay);
  }

  /** Drops the current socket (if any) and connects again at once. */
  reconnect(): void {
    const ws = this.ws;
    this.ws = null; // its close event is then ignored
    ws?.close();
    this.reconnectNow();
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
    if (this.container.clientWidth === 0 || this.container.clientHeight === 0) return;
    try {
      this.fit.fit(); // fires term.onResize → sendResize when the size changed
    } catch {
      /* renderer not ready yet; the next resize will retry */
    }
  }

  private setStatus(state: DisplayState, text: string, offerReconnect = false): void {
    const el = this.statusEl;
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
    if (offerReconnect) {
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.className = 'terminal-reconnect';
      btn.textContent = 'Reconnect';
      btn.addEventListener('click', () => this.reconnectNow());
      el.append(' ', btn);
    }
  }
}
