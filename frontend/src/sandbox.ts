// News about the student's sandbox (server-sent events) and the reset
// button. The terminal shows start progress itself; this shows the place in
// line while many sandboxes start (a Check may be what waits), and what
// happens to the sandbox later: recovered, stopped when idle or over its
// disk limit, reset.

import { t } from './i18n';
interface SandboxEvent {
  kind: string;
  phase?: string;
  message: string;
}

// Kinds after which the old shell is gone and a new connection is wanted.
const RECONNECT = new Set(['recovered', 'removed']);

export function initSandbox(reconnect: (fresh: boolean) => void): void {
  const notice = document.querySelector<HTMLElement>('.sandbox-notice[data-events]');
  if (notice?.dataset.events) {
    const source = new EventSource(notice.dataset.events);
    for (const kind of ['queued', 'recovered', 'stopped', 'removed', 'disk']) {
      source.addEventListener(kind, (ev) => {
        const data = JSON.parse((ev as MessageEvent<string>).data) as SandboxEvent;
        show(notice, kind, data.message);
        // After a reset the old screen belongs to a sandbox that is gone.
        if (RECONNECT.has(kind)) reconnect(kind === 'removed');
      });
    }
    // A new start clears old news once the sandbox is ready again, and
    // the place in line once its start begins.
    source.addEventListener('phase', (ev) => {
      const data = JSON.parse((ev as MessageEvent<string>).data) as SandboxEvent;
      if ((data.phase === 'ready' && notice.dataset.kind !== 'disk') || notice.dataset.kind === 'queued') notice.hidden = true;
    });
  }

  const reset = document.querySelector<HTMLButtonElement>('button.sandbox-reset[data-url]');
  reset?.addEventListener('click', async () => {
    if (!confirm(t('web.reset.confirm'))) return;
    reset.disabled = true;
    try {
      const res = await fetch(reset.dataset.url!, { method: 'POST', credentials: 'same-origin', headers: { Accept: 'application/json' } });
      if (!res.ok) {
        const body = (await res.json().catch(() => ({}))) as { error?: string };
        if (notice) show(notice, 'error', t('web.reset.failed', body.error ?? `${res.status} ${res.statusText}`));
      }
    } catch (err) {
      if (notice) show(notice, 'error', t('web.reset.failed', t('web.unreachable', String(err))));
    } finally {
      reset.disabled = false;
    }
  });
}

function show(el: HTMLElement, kind: string, text: string): void {
  el.dataset.kind = kind;
  el.textContent = text;
  el.hidden = false;
}
