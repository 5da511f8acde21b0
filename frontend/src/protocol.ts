// Terminal websocket protocol: every message is one binary frame whose first
// byte is the frame type and whose remaining bytes are the payload.
// Keep this file in sync with the Go side (internal/terminal).

export const FrameType = {
  Input: 0x01, // client→server: bytes typed by the user
  Output: 0x02, // server→client: raw TTY bytes
  Resize: 0x03, // client→server: cols uint16 BE, rows uint16 BE
  Ack: 0x04, // client→server: absolute output offset processed, uint64 BE
  Hello: 0x05, // both ways: UTF-8 JSON HelloRequest / HelloReply
  Status: 0x06, // server→client: UTF-8 JSON TerminalStatus
} as const;

export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export interface Frame {
  type: number;
  payload: Uint8Array;
}

export type TerminalState = 'starting' | 'ready' | 'closed' | 'error';

export interface TerminalStatus {
  state: TerminalState;
  message: string;
  code?: string; // the catalog key of the terminal's own news (web.term.news.*)
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeFrame(type: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array<ArrayBuffer> {
  const frame = new Uint8Array(1 + payload.length);
  frame[0] = type;
  frame.set(payload, 1);
  return frame;
}

// Returns null for an empty message, which carries no type byte.
export function decodeFrame(data: ArrayBuffer | Uint8Array): Frame | null {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.length === 0) return null;
  return { type: bytes[0], payload: bytes.subarray(1) };
}

export function encodeInput(text: string): Uint8Array<ArrayBuffer> {
  return encodeFrame(FrameType.Input, encoder.encode(text));
}

// The server accepts messages up to 64 KiB: a long paste goes as several
// INPUT frames, in order (the TTY gets the same bytes).
export const MAX_INPUT = 32 * 1024;

export function encodeInputFrames(text: string): Uint8Array<ArrayBuffer>[] {
  const bytes = encoder.encode(text);
  if (bytes.length <= MAX_INPUT) return [encodeFrame(FrameType.Input, bytes)];
  const frames: Uint8Array<ArrayBuffer>[] = [];
  for (let i = 0; i < bytes.length; i += MAX_INPUT) frames.push(encodeFrame(FrameType.Input, bytes.subarray(i, i + MAX_INPUT)));
  return frames;
}

// xterm's onBinary hands over a string whose char codes are raw bytes
// (e.g. non-UTF-8 mouse reports); they must not be UTF-8 encoded again.
export function encodeBinaryInput(data: string): Uint8Array<ArrayBuffer> {
  const payload = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) payload[i] = data.charCodeAt(i) & 0xff;
  return encodeFrame(FrameType.Input, payload);
}

export function encodeResize(cols: number, rows: number): Uint8Array<ArrayBuffer> {
  const payload = new Uint8Array(4);
  const view = new DataView(payload.buffer);
  view.setUint16(0, cols, false);
  view.setUint16(2, rows, false);
  return encodeFrame(FrameType.Resize, payload);
}

// Tolerates a malformed payload so one bad frame can't kill the session.
export function decodeStatus(payload: Uint8Array): TerminalStatus {
  try {
    const v = JSON.parse(decoder.decode(payload)) as Partial<TerminalStatus>;
    return {
      state: (v.state ?? 'error') as TerminalState,
      message: typeof v.message === 'string' ? v.message : '',
      code: typeof v.code === 'string' ? v.code : undefined,
    };
  } catch {
    return { state: 'error', message: 'Malformed status from server' };
  }
}

// HELLO, client → server: the first frame of a connection. Without it the
// server starts a throwaway shell that ends with the socket.
export interface HelloRequest {
  session?: string; // id from an earlier reply ('' or absent: none)
  offset: number; // output bytes of that session this page already has
  fresh?: boolean; // a new shell even if the tab has one (after a reset)
  cols?: number;
  rows?: number;
}

// HELLO, server → client: output continues from `offset`.
export interface HelloReply {
  session: string;
  offset: number;
  replay?: boolean; // bytes before `offset` are lost: clear the screen first
  new?: boolean; // a new shell was started
  readonly?: boolean; // a viewer: input is dropped by the server
  recording?: boolean; // the session is recorded (asciicast)
}

export function encodeHello(req: HelloRequest): Uint8Array<ArrayBuffer> {
  return encodeFrame(FrameType.Hello, encoder.encode(JSON.stringify(req)));
}

export function decodeHello(payload: Uint8Array): HelloReply | null {
  try {
    const v = JSON.parse(decoder.decode(payload)) as Partial<HelloReply>;
    if (typeof v.session !== 'string' || typeof v.offset !== 'number') return null;
    return { ...v, session: v.session, offset: v.offset };
  } catch {
    return null;
  }
}

// ACK: every output byte before `offset` has been written to the screen.
export function encodeAck(offset: number): Uint8Array<ArrayBuffer> {
  const payload = new Uint8Array(8);
  new DataView(payload.buffer).setBigUint64(0, BigInt(offset), false);
  return encodeFrame(FrameType.Ack, payload);
}
