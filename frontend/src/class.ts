// The instructor's class page: the progress grid and the "needs help" list
// follow students' checks live (server-sent events), without a reload.

import { count, t } from './i18n';
interface AttemptEvent {
  user: number;
  lab: string;
  step: string;
  passed: boolean;
  status: 'passed' | 'failed';
  attempts: number;
  message: string;
}

const STUCK_ATTEMPTS = 3; // as the server's stuckAttempts

interface Preparation {
  lab: string;
  total: number;
  ready: number;
  failed: number;
  took?: number;
  done: boolean;
}

export function initClassPage(): void {
  const main = document.querySelector<HTMLElement>('main.class[data-events]');
  if (!main?.dataset.events) return;
  followPreparation(main);
  const live = main.querySelector<HTMLElement>('.live');
  const source = new EventSource(main.dataset.events);
  source.onopen = () => live?.setAttribute('data-state', 'on');
  source.onerror = () => live?.setAttribute('data-state', 'off');
  source.addEventListener('attempt', (ev) => update(main, JSON.parse((ev as MessageEvent<string>).data) as AttemptEvent));
}

function update(main: HTMLElement, ev: AttemptEvent): void {
  const row = main.querySelector<HTMLTableRowElement>(`tr[data-user="${ev.user}"]`);
  const cell = row?.querySelector<HTMLElement>(`td.cell[data-lab="${CSS.escape(ev.lab)}"][data-step="${CSS.escape(ev.step)}"]`);
  if (!row || !cell) return; // a lab or student this page does not show: reload shows it
  cell.dataset.status = ev.status;
  cell.dataset.attempts = String(ev.attempts);
  cell.textContent = ev.status === 'passed' ? '✓' : '✗' + ev.attempts;
  cell.title = `${ev.lab}/${ev.step}: ${count('web.class.attempts', ev.attempts)}${ev.message ? ' — ' + ev.message : ''}`;
  cell.classList.remove('flash');
  void cell.offsetWidth; // restart the animation
  cell.classList.add('flash');
  const done = row.querySelector<HTMLElement>('td.done');
  if (done) done.textContent = String(row.querySelectorAll('td.cell[data-status="passed"]').length);

  const stuck = ev.status === 'failed' && ev.attempts >= STUCK_ATTEMPTS;
  cell.toggleAttribute('data-stuck', stuck);
  const list = main.querySelector<HTMLElement>('.stuck-list');
  if (!list) return;
  const sel = `li[data-user="${ev.user}"][data-lab="${CSS.escape(ev.lab)}"][data-step="${CSS.escape(ev.step)}"]`;
  list.querySelector(sel)?.remove();
  if (stuck) {
    const li = document.createElement('li');
    li.dataset.user = String(ev.user);
    li.dataset.lab = ev.lab;
    li.dataset.step = ev.step;
    const name = row.querySelector('th')?.firstChild?.textContent?.trim() ?? String(ev.user);
    li.textContent = `${name} — ${ev.lab}/${ev.step}: ${count('web.class.failed', ev.attempts)}${ev.message ? ' (' + ev.message + ')' : ''}`;
    list.append(li);
  }
  const none = list.querySelector('li.none');
  if (none) none.toggleAttribute('hidden', list.children.length > 1);
}

// followPreparation updates the class's running preparation (sandboxes
// started before the lesson) every 2 s until it is over.
function followPreparation(main: HTMLElement): void {
  const el = main.querySelector<HTMLElement>('.prepare-status[data-url]');
  if (!el || el.hidden || el.hasAttribute('data-done')) return;
  const poll = async (): Promise<void> => {
    try {
      const res = await fetch(el.dataset.url!, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      if (res.ok) {
        const p = (await res.json()) as Preparation;
        el.textContent = p.done
          ? t('web.class.prepare.done', p.lab, p.ready, p.total, p.failed, Math.round(p.took ?? 0))
          : t('web.class.prepare.running', p.lab, p.ready, p.total, p.failed);
        if (p.done) {
          el.toggleAttribute('data-done', true);
          return;
        }
      }
    } catch {
      /* the server is away: try again */
    }
    window.setTimeout(() => void poll(), 2000);
  };
  window.setTimeout(() => void poll(), 2000);
}
