// The deflow dashboard: one ES module, no dependencies, no build. It reads /api with the token
// the user typed (kept in sessionStorage: this tab only, gone when it closes) and follows the
// event stream with fetch (so the token travels in a header, never in a URL). Every value from
// the server is put in the page as text (textContent), never as HTML.

const TOKEN_KEY = 'deflow.token';
const STATUSES = ['pending', 'running', 'paused', 'succeeded', 'failed', 'cancelled'];
const TASK_STATUSES = ['ready', 'leased', 'succeeded', 'failed'];
const view = document.getElementById('view');
const loginForm = document.getElementById('login');
const logoutButton = document.getElementById('logout');
const live = document.getElementById('live');

let token = sessionStorage.getItem(TOKEN_KEY);
/** Aborts what the current page fetches and follows when another page opens. */
let pageAbort = new AbortController();

class Unauthorized extends Error {}

function headers() {
  return token ? { authorization: `Bearer ${token}` } : {};
}

async function api(path, signal = pageAbort.signal) {
  const response = await fetch(path, { headers: headers(), signal });
  if (response.status === 401) throw new Unauthorized();
  const body = await response.json();
  if (!response.ok) throw new Error(body.message ?? `HTTP ${response.status}`);
  return body;
}

/** POSTs a JSON body to a write endpoint; rejects with the server's message when refused. */
async function apiPost(path, body = {}) {
  const response = await fetch(path, { method: 'POST', headers: { ...headers(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (response.status === 401) throw new Unauthorized();
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.message ?? `HTTP ${response.status}`);
  return answer;
}

/** Which run-control buttons a status allows (the server decides; this only hides the useless ones). */
const ACTIONS = [
  ['cancel', 'Cancel', (status) => status === 'pending' || status === 'running' || status === 'paused'],
  ['pause', 'Pause', (status) => status === 'running'],
  ['resume', 'Resume', (status) => status === 'paused'],
  ['retry', 'Retry', (status) => status === 'failed' || status === 'cancelled'],
];

/** Follows api/stream: calls onEvent(name, data) per event; reconnects until the page changes. */
function follow(query, onEvent, onReconnect) {
  const signal = pageAbort.signal;
  const run = async () => {
    let first = true;
    while (!signal.aborted) {
      try {
        if (!first) onReconnect?.();
        first = false;
        const response = await fetch(`api/stream${query}`, { headers: headers(), signal });
        if (response.status === 401) throw new Unauthorized();
        if (!response.ok || response.body === null) throw new Error(`stream: HTTP ${response.status}`);
        live.classList.add('on');
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let name = 'message';
            let data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith('event: ')) name = line.slice(7);
              else if (line.startsWith('data: ')) data += line.slice(6);
            }
            if (data !== '') onEvent(name, JSON.parse(data));
          }
        }
      } catch (error) {
        if (error instanceof Unauthorized) return showLogin('The token was refused.');
        if (signal.aborted) return;
      }
      live.classList.remove('on');
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
  };
  void run();
}

// --- small DOM helpers ------------------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === 'onclick' || key === 'onchange' || key === 'onsubmit') node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  return node;
}

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

const time = (ms) => (ms === null || ms === undefined ? '' : new Date(ms).toLocaleString());
const took = (w) => (w.finishedAt && (w.startedAt ?? w.createdAt) ? `${((w.finishedAt - (w.startedAt ?? w.createdAt)) / 1000).toFixed(1)} s` : '');
const statusCell = (status) => el('span', { class: `status status-${status}`, 'data-status': status }, status);
const errorText = (error) => (error ? `${error.name}${error.code ? ` [${error.code}]` : ''}: ${error.message}` : '');

function bar(done, total) {
  const percent = total > 0 ? Math.round((100 * done) / total) : 0;
  const fill = el('span');
  fill.style.width = `${percent}%`;
  return el('span', {}, el('span', { class: 'bar' }, fill), ` ${done}/${total}`);
}

// --- pages ------------------------------------------------------------------------------------

async function workflowsPage(params) {
  const name = params.get('name') ?? '';
  const key = params.get('key') ?? '';
  const status = params.get('status') ?? '';
  const cursor = params.get('cursor') ?? '';
  const query = new URLSearchParams();
  const filtered = new URLSearchParams();
  if (name) filtered.set('name', name);
  if (key) filtered.set('key', key);
  for (const [k, v] of filtered) query.set(k, v);
  if (status) query.set('status', status);
  if (cursor) query.set('cursor', cursor);
  query.set('limit', '25');

  const go = (changes) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value) next.set(key, value);
      else next.delete(key);
    }
    location.hash = `#/?${next}`;
  };
  const nameInput = el('input', { type: 'search', placeholder: 'name', value: name, 'aria-label': 'name' });
  const keyInput = el('input', { type: 'search', placeholder: 'business key', value: key, 'aria-label': 'key' });
  const chosen = () => ({ name: nameInput.value.trim(), key: keyInput.value.trim(), status: statusSelect.value, cursor: '' });
  const statusSelect = el('select', { 'aria-label': 'status' }, el('option', { value: '' }, 'any status'), ...STATUSES.map((s) => el('option', { value: s }, s)));
  statusSelect.value = status;
  const filters = el(
    'form',
    { class: 'filters', onsubmit: (event) => (event.preventDefault(), go(chosen())) },
    nameInput,
    keyInput,
    statusSelect,
    el('button', { type: 'submit' }, 'Filter'),
  );
  statusSelect.addEventListener('change', () => go(chosen()));
  const counts = el('div', { class: 'counts', 'data-testid': 'counts' });
  const body = el('tbody');
  const pager = el('div', { class: 'pager' });
  view.replaceChildren(el('h1', {}, 'Workflows'), counts, filters, el('table', {}, el('thead', {}, el('tr', {}, ...['id', 'name', 'status', 'steps left', 'created', 'took'].map((h) => el('th', {}, h)))), body), pager);

  const rows = new Map();
  const render = (w) => {
    const row = el(
      'tr',
      { 'data-workflow-id': w.id },
      el('td', {}, el('a', { href: `#/workflows/${encodeURIComponent(w.id)}` }, w.id)),
      el('td', {}, w.name),
      el('td', {}, statusCell(w.status)),
      el('td', {}, w.openSteps),
      el('td', {}, time(w.createdAt)),
      el('td', {}, took(w)),
    );
    const old = rows.get(w.id);
    if (old) old.replaceWith(row);
    rows.set(w.id, row);
    return row;
  };
  let countTimer = null;
  const refreshCounts = async () => {
    const result = await api(`api/counts${filtered.size > 0 ? `?${filtered}` : ''}`);
    counts.replaceChildren(
      ...STATUSES.map((s) => el('button', { type: 'button', 'data-count': s, onclick: () => go({ status: s, cursor: '' }) }, `${s}: ${result.counts[s] ?? 0}`)),
    );
  };
  const matches = (w) => (!name || w.name === name) && (!key || w.key === key) && (!status || w.status === status);
  const load = async () => {
    const page = await api(`api/workflows?${query}`);
    body.replaceChildren(...page.items.map(render));
    pager.replaceChildren(
      cursor ? el('button', { type: 'button', onclick: () => go({ cursor: '' }) }, 'Newest') : '',
      page.nextCursor ? el('button', { type: 'button', onclick: () => go({ cursor: page.nextCursor }) }, 'Older') : '',
    );
  };
  follow(
    '',
    (event, data) => {
      if (event === 'resync') void load();
      if (event !== 'workflow') return;
      if (rows.has(data.id)) render(data);
      else if (!cursor && matches(data)) body.prepend(render(data));
      // The server counts at most every few seconds: ask soon, and once more after that.
      clearTimeout(countTimer);
      countTimer = setTimeout(() => {
        void refreshCounts();
        countTimer = setTimeout(() => void refreshCounts(), 6000);
      }, 1000);
    },
    () => void load(),
  );
  await Promise.all([load(), refreshCounts()]);
}

/** Layers steps by their longest chain of dependencies (and addAfter anchors); draws boxes and edges. */
function dagSvg(steps, onPick) {
  const byId = new Map(steps.map((step) => [step.id, step]));
  const parents = (step) => [...step.deps.map((dep) => dep.stepId), ...(step.anchor ? [step.anchor.stepId] : [])].filter((id) => byId.has(id));
  const layer = new Map();
  const layerOf = (step, seen = new Set()) => {
    if (layer.has(step.id)) return layer.get(step.id);
    if (seen.has(step.id)) return 0;
    seen.add(step.id);
    const value = Math.max(-1, ...parents(step).map((id) => layerOf(byId.get(id), seen))) + 1;
    layer.set(step.id, value);
    return value;
  };
  const columns = [];
  for (const step of steps) (columns[layerOf(step)] ??= []).push(step);
  const W = 170;
  const H = 46;
  const GAP_X = 60;
  const GAP_Y = 18;
  const position = new Map();
  columns.forEach((column, x) => column.forEach((step, y) => position.set(step.id, { x: 10 + x * (W + GAP_X), y: 10 + y * (H + GAP_Y) })));
  const width = 20 + columns.length * (W + GAP_X);
  const height = 20 + Math.max(1, ...columns.map((column) => column.length)) * (H + GAP_Y);
  const root = svg('svg', { class: 'dag', width, height, viewBox: `0 0 ${width} ${height}`, 'data-testid': 'dag' });
  for (const step of steps) {
    const to = position.get(step.id);
    for (const id of parents(step)) {
      const from = position.get(id);
      const anchor = step.anchor && step.anchor.stepId === id;
      root.append(svg('line', { x1: from.x + W, y1: from.y + H / 2, x2: to.x, y2: to.y + H / 2, class: anchor ? 'anchor' : 'dep' }));
    }
  }
  for (const step of steps) {
    const { x, y } = position.get(step.id);
    const group = svg(
      'g',
      { class: step.status, 'data-step-id': step.id, 'data-status': step.status },
      svg('rect', { x, y, width: W, height: H }),
      svg('text', { x: x + 8, y: y + 18 }, `${step.name}`.slice(0, 24)),
      svg('text', { x: x + 8, y: y + 36 }, `${step.status} ${step.counts.done}/${step.counts.total}${step.counts.failed ? ` (${step.counts.failed} failed)` : ''}`),
    );
    group.addEventListener('click', () => onPick(step.id));
    root.append(group);
  }
  return root;
}

async function workflowPage(id) {
  const header = el('div');
  const dag = el('div');
  const stepsBody = el('tbody');
  const errors = el('div');
  const tasks = el('div');
  view.replaceChildren(
    el('p', {}, el('a', { href: '#/' }, '← workflows')),
    header,
    dag,
    el('h2', {}, 'Steps'),
    el('table', {}, el('thead', {}, el('tr', {}, ...['step', 'name', 'status', 'stage', 'tasks', 'error', ''].map((h) => el('th', {}, h)))), stepsBody),
    errors,
    tasks,
  );
  let picked = null;
  const outcome = el('p', { 'data-testid': 'action-outcome' });
  let status = '';
  const act = async (action, body = {}, label = action) => {
    outcome.textContent = '';
    try {
      const answer = await apiPost(`api/workflows/${encodeURIComponent(id)}/${action}`, body);
      outcome.textContent = answer.changed === false || answer.delivered === false ? `${label}: nothing to change` : `${label}: done`;
      await load();
    } catch (error) {
      if (error instanceof Unauthorized) return showLogin('The token was refused.');
      outcome.textContent = `${label} refused: ${error.message}`;
    }
  };
  // A signal: an event name and optional JSON data, to this workflow only.
  const signalName = el('input', { type: 'text', placeholder: 'event name', 'aria-label': 'event name', required: 'required' });
  const signalData = el('input', { type: 'text', placeholder: 'data (JSON, optional)', 'aria-label': 'event data' });
  const signalForm = el(
    'form',
    {
      class: 'filters',
      'data-testid': 'signal',
      onsubmit: (event) => {
        event.preventDefault();
        let data;
        try {
          data = signalData.value.trim() === '' ? undefined : JSON.parse(signalData.value);
        } catch {
          outcome.textContent = 'signal: the data is not JSON';
          return;
        }
        void act(`signals/${encodeURIComponent(signalName.value.trim())}`, data === undefined ? {} : { data }, `signal ${signalName.value.trim()}`);
      },
    },
    signalName,
    signalData,
    el('button', { type: 'submit' }, 'Signal'),
  );
  const showWorkflow = (w) => {
    status = w.status;
    header.replaceChildren(
      el('h1', {}, w.name, ' ', statusCell(w.status)),
      el(
        'div',
        { class: 'actions', 'data-testid': 'actions' },
        ...ACTIONS.filter(([, , allowed]) => allowed(w.status)).map(([action, label]) => el('button', { type: 'button', 'data-action': action, onclick: () => void act(action) }, label)),
        outcome,
      ),
      ['pending', 'running', 'paused'].includes(w.status) ? signalForm : '',
      el('p', {}, `id ${w.id} · created ${time(w.createdAt)}${w.finishedAt ? ` · finished ${time(w.finishedAt)} (${took(w)})` : ''}`),
      w.error ? el('p', { class: 'error' }, errorText(w.error)) : '',
    );
  };
  const showSteps = (steps) => {
    dag.replaceChildren(dagSvg(steps, pick));
    stepsBody.replaceChildren(
      ...steps.map((step) =>
        el(
          'tr',
          { 'data-step-id': step.id },
          el('td', {}, el('a', { class: 'step', onclick: () => pick(step.id) }, step.id)),
          el('td', {}, step.name),
          el('td', {}, statusCell(step.status)),
          el('td', {}, step.stage),
          el('td', {}, bar(step.counts.done, step.counts.total), step.counts.failed ? ` (${step.counts.failed} failed)` : ''),
          el('td', { class: 'error' }, errorText(step.error)),
          el(
            'td',
            {},
            status === 'failed' || status === 'cancelled'
              ? el('button', { type: 'button', 'data-retry-from': step.id, onclick: () => void act('retry', { from: step.name }, `retry from ${step.name}`) }, 'Retry from here')
              : '',
          ),
        ),
      ),
    );
    void showFailures(steps);
  };
  const showFailures = async (steps) => {
    const failing = steps.filter((step) => step.counts.failed > 0).slice(0, 10);
    const parts = [];
    for (const step of failing) {
      const page = await api(`api/workflows/${encodeURIComponent(id)}/steps/${encodeURIComponent(step.id)}/tasks?status=failed&limit=20`);
      parts.push(
        el('h3', {}, `Failed tasks of ${step.name}`),
        el(
          'ul',
          {},
          ...page.items.map((task) =>
            el('li', { class: 'error' }, `#${task.seq}: ${errorText(task.error)}`, task.error?.stack ? el('details', {}, el('summary', {}, 'stack'), el('pre', { 'data-testid': 'stack' }, task.error.stack)) : ''),
          ),
        ),
      );
    }
    errors.replaceChildren(...(parts.length ? [el('h2', {}, 'Errors'), ...parts] : []));
  };
  const pick = (stepId, cursor = '', status = '') => {
    picked = stepId;
    void showTasks(stepId, cursor, status);
  };
  const showTasks = async (stepId, cursor, status) => {
    const query = new URLSearchParams({ limit: '50' });
    if (cursor) query.set('cursor', cursor);
    if (status) query.set('status', status);
    const page = await api(`api/workflows/${encodeURIComponent(id)}/steps/${encodeURIComponent(stepId)}/tasks?${query}`);
    if (picked !== stepId) return;
    const select = el('select', { 'aria-label': 'task status', onchange: (event) => pick(stepId, '', event.target.value) }, el('option', { value: '' }, 'any status'), ...TASK_STATUSES.map((s) => el('option', { value: s }, s)));
    select.value = status;
    tasks.replaceChildren(
      el('h2', {}, `Tasks of step ${stepId}`),
      el('div', { class: 'filters' }, select),
      el(
        'table',
        { 'data-testid': 'tasks' },
        el('thead', {}, el('tr', {}, ...['seq', 'status', 'failed attempts', 'data', 'result', 'error'].map((h) => el('th', {}, h)))),
        el('tbody', {}, ...page.items.map((t) => el('tr', {}, el('td', {}, t.seq), el('td', {}, statusCell(t.status)), el('td', {}, t.failedCount), el('td', {}, t.data), el('td', {}, t.result ?? ''), el('td', { class: 'error' }, errorText(t.error))))),
      ),
      el(
        'div',
        { class: 'pager' },
        cursor ? el('button', { type: 'button', onclick: () => pick(stepId, '', status) }, 'First') : '',
        page.nextCursor ? el('button', { type: 'button', onclick: () => pick(stepId, page.nextCursor, status) }, 'Next') : '',
      ),
    );
  };
  const load = async () => {
    const detail = await api(`api/workflows/${encodeURIComponent(id)}`);
    showWorkflow(detail.workflow);
    showSteps(detail.steps);
  };
  follow(`?workflow=${encodeURIComponent(id)}`, (event, data) => {
    if (event === 'workflow' && data.id === id) showWorkflow(data);
    else if (event === 'steps' && data.workflowId === id) showSteps(data.steps);
    else if (event === 'resync') void load();
  });
  await load();
}

async function nodesPage() {
  const page = await api('api/nodes');
  view.replaceChildren(
    el('h1', {}, 'Nodes'),
    el(
      'table',
      { 'data-testid': 'nodes' },
      el('thead', {}, el('tr', {}, ...['id', 'host', 'pid', 'queues', 'runs steps', 'started', 'last heartbeat', 'live'].map((h) => el('th', {}, h)))),
      el('tbody', {}, ...page.items.map((n) => el('tr', {}, el('td', {}, n.id), el('td', {}, n.host), el('td', {}, n.pid), el('td', {}, (n.queues ?? ['default']).join(', ')), el('td', {}, (n.handlers ?? []).join(', ') || 'any'), el('td', {}, time(n.startedAt)), el('td', {}, time(n.heartbeatAt)), el('td', {}, n.live ? 'yes' : 'no')))),
    ),
  );
}

// --- routing and sign-in ----------------------------------------------------------------------

function showLogin(message = '') {
  pageAbort.abort();
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  view.replaceChildren();
  loginForm.hidden = false;
  logoutButton.hidden = true;
  document.getElementById('login-error').textContent = message;
}

async function route() {
  pageAbort.abort();
  pageAbort = new AbortController();
  live.classList.remove('on');
  const hash = location.hash.slice(1) || '/';
  const [path, search = ''] = hash.split('?');
  try {
    if (path.startsWith('/workflows/')) await workflowPage(decodeURIComponent(path.slice('/workflows/'.length)));
    else if (path === '/nodes') await nodesPage();
    else await workflowsPage(new URLSearchParams(search));
  } catch (error) {
    if (error instanceof Unauthorized) showLogin(token ? 'The token was refused.' : '');
    else if (error.name !== 'AbortError') view.replaceChildren(el('p', { class: 'error' }, error.message));
  }
}

loginForm.addEventListener('submit', (event) => {
  event.preventDefault();
  token = document.getElementById('token').value.trim();
  sessionStorage.setItem(TOKEN_KEY, token);
  document.getElementById('token').value = '';
  loginForm.hidden = true;
  logoutButton.hidden = false;
  void route();
});
logoutButton.addEventListener('click', () => showLogin());
window.addEventListener('hashchange', () => void route());
logoutButton.hidden = token === null;
void route();
