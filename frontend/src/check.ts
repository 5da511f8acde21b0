// "Check" buttons: ask the server to grade a step and show the verdict.

import { t } from './i18n';
interface CheckResponse {
  passed: boolean;
  message?: string;
  output?: string;
  exitCode?: number;
}

export function initCheckButtons(root: ParentNode = document): void {
  root.querySelectorAll<HTMLButtonElement>('button.check-button[data-url]').forEach((button) => {
    button.addEventListener('click', () => void runCheck(button));
  });
}

async function runCheck(button: HTMLButtonElement): Promise<void> {
  const section = button.closest<HTMLElement>('section.step');
  const result = button.closest('.check')?.querySelector<HTMLElement>('.check-result') ?? null;
  const url = button.dataset.url;
  if (!url || button.disabled) return;

  button.disabled = true;
  section?.setAttribute('aria-busy', 'true');
  show(result, 'checking', t('web.check.checking'));
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { Accept: 'application/json' },
      credentials: 'same-origin',
    });
    const body = await readJSON(res);
    if (!res.ok) {
      const err = typeof body?.error === 'string' && body.error ? body.error : `${res.status} ${res.statusText}`.trim();
      show(result, 'error', t('web.check.failed', err));
      return;
    }
    if (!body || typeof body.passed !== 'boolean') {
      show(result, 'error', t('web.check.failed', t('web.badResponse')));
      return;
    }
    const r = body as unknown as CheckResponse;
    if (section) {
      // A step passed once stays passed (the server counts it so).
      if (section.dataset.status !== 'passed') section.dataset.status = r.passed ? 'passed' : 'failed';
      stepDone(section);
    }
    show(result, r.passed ? 'passed' : 'failed', r.message || (r.passed ? t('web.check.passed') : t('web.check.notYet')), r.output);
  } catch (e) {
    // fetch only rejects when the server couldn't be reached at all.
    const why = e instanceof Error ? e.message : String(e);
    show(result, 'error', t('web.check.failed', t('web.unreachable', why)));
  } finally {
    button.disabled = false;
    section?.removeAttribute('aria-busy');
  }
}

// Non-JSON bodies (proxy error pages, empty 502s) yield null, not a throw.
async function readJSON(res: Response): Promise<Record<string, unknown> | null> {
  try {
    const v: unknown = await res.json();
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

// The checker's output goes in a collapsed <details> so the verdict stays readable.
function show(el: HTMLElement | null, kind: string, message: string, output?: string): void {
  if (!el) return;
  el.dataset.result = kind;
  el.textContent = message;
  if (output && output.trim()) {
    const details = document.createElement('details');
    details.className = 'check-output';
    const summary = document.createElement('summary');
    summary.textContent = t('web.check.output');
    const pre = document.createElement('pre');
    pre.textContent = output;
    details.append(summary, pre);
    el.append(details);
  }
}

// stepDone brings the step list and the progress bar up to date, and offers
// the step's hints after a failure.
function stepDone(section: HTMLElement): void {
  const id = section.dataset.step ?? '';
  const item = document.querySelector<HTMLElement>(`.step-nav li[data-step="${CSS.escape(id)}"]`);
  if (item) item.dataset.status = section.dataset.status;
  const all = document.querySelectorAll('section.step .check-button').length;
  const done = document.querySelectorAll('section.step[data-status="passed"] .check-button').length;
  const bar = document.querySelector<HTMLProgressElement>('.lab-progress progress');
  if (bar) {
    bar.max = all;
    bar.value = done;
  }
  const count = document.querySelector('.lab-progress .count');
  if (count) count.textContent = `${done}/${all}`;
  const hints = section.querySelector<HTMLElement>('.hints');
  if (hints && section.dataset.status === 'failed') hints.hidden = false;
}

// Hints are revealed one at a time; the button goes once all are shown.
export function initHints(root: ParentNode = document): void {
  root.querySelectorAll<HTMLButtonElement>('.hints .hint-button').forEach((button) => {
    button.addEventListener('click', () => {
      const box = button.closest('.hints');
      const next = box?.querySelector<HTMLElement>('.hint[hidden]');
      if (next) next.hidden = false;
      const left = box?.querySelectorAll('.hint[hidden]').length ?? 0;
      button.hidden = left === 0;
      button.textContent = button.textContent?.replace(/\(\d+\)/, `(${left})`) ?? '';
    });
  });
}

// resume scrolls to the first step not yet passed, unless the address
// names a place: a student continues where they left off.
export function resume(): void {
  if (location.hash) return;
  const passed = document.querySelector('section.step[data-status="passed"]');
  const next = document.querySelector<HTMLElement>('section.step:not([data-status="passed"])');
  if (passed && next) next.scrollIntoView({ block: 'start' });
}
