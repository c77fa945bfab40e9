// The live state page: plain JS, no build. The token stays in sessionStorage and goes only to this API.
const API = '/api/v1/whatsapp';
const PAGE_SIZE = 50;
const HISTORY = 20;
const STATES = ['idle', 'connecting', 'qr', 'connected', 'backoff', 'failed'];
const SHORT = {
  idle: 'idle',
  connecting: 'conn',
  qr: 'qr',
  connected: 'up',
  backoff: 'wait',
  failed: 'fail',
};
// Statechart layout: [column, row] of each box.
const LAYOUT = {
  qr: [1, 0],
  idle: [0, 1],
  connecting: [1, 1],
  connected: [2, 1],
  backoff: [1, 2],
  failed: [2, 2],
};

const $ = (id) => document.getElementById(id);
const esc = (v) =>
  String(v ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );

const state = {
  token: sessionStorage.getItem('wa-token') || '',
  sessions: new Map(),
  history: new Map(), // id → recent transitions, newest first
  graph: null,
  filter: 'all',
  query: '',
  page: 1,
  selected: null,
  task: null, // the last reconnect's task id
  stream: null,
  split: null,
  qr: { id: null, url: null, at: 0 },
};

function flash(text) {
  const el = $('message');
  el.textContent = text;
  el.classList.add('show');
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => el.classList.remove('show'), 2500);
}

async function api(method, path, { accept } = {}) {
  const res = await fetch(API + path, {
    method,
    headers: { authorization: `Bearer ${state.token}`, ...(accept ? { accept } : {}) },
  });
  if (res.status === 401) {
    logout('The token was refused');
    throw new Error('unauthorized');
  }
  return res;
}

// ---- data ------------------------------------------------------------------------------------

async function loadSessions() {
  const all = new Map();
  for (let page = 1; ; page++) {
    const res = await api('GET', `/sessions/?page=${page}&page_size=500`);
    if (!res.ok) throw new Error(`GET /sessions/ answered ${res.status}`);
    const body = await res.json();
    for (const s of body.items) all.set(s.id, s);
    if (page * body.page_size >= body.total) break;
  }
  state.sessions = all;
  schedule();
}

const fetching = new Set();
async function fetchSession(id) {
  if (fetching.has(id)) return;
  fetching.add(id);
  try {
    const res = await api('GET', `/sessions/${id}/`);
    if (res.ok) state.sessions.set(id, await res.json());
    else if (res.status === 404) state.sessions.delete(id);
    schedule();
  } finally {
    fetching.delete(id);
  }
}

async function loadHistory(id) {
  const res = await api('GET', `/sessions/${id}/events/?page_size=${HISTORY}`);
  if (!res.ok) return;
  const body = await res.json();
  const known = state.history.get(id) ?? [];
  const ids = new Set(known.map((e) => String(e.id)));
  const merged = [...known, ...body.items.filter((e) => !ids.has(String(e.id)))];
  merged.sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1));
  state.history.set(id, merged.slice(0, HISTORY));
  schedule();
}

function applyTransition(d) {
  const list = state.history.get(d.session_id) ?? [];
  list.unshift(d);
  state.history.set(d.session_id, list.slice(0, HISTORY));
  const s = state.sessions.get(d.session_id);
  if (!d.session) {
    // The actor is gone: the session was deleted.
    state.sessions.delete(d.session_id);
  } else if (!s) {
    fetchSession(d.session_id);
  } else {
    Object.assign(s, {
      status: d.session.status,
      attempt: d.session.attempt,
      max_attempts: d.session.max_attempts,
      next_retry_at: d.session.next_retry_at,
      failure_reason: d.session.failure_reason,
      last_error: d.session.last_error ?? s.last_error,
    });
  }
  if (d.session_id === state.selected && d.to === 'qr') state.qr.at = 0;
  schedule();
}

function openStream() {
  state.stream?.close();
  // EventSource cannot send headers: the stream takes the token as ?access_token= (masked in server logs).
  // On a reconnect it sends Last-Event-ID itself, and the server replays what was missed.
  const es = new EventSource(
    `${API}/sessions/events/stream/?access_token=${encodeURIComponent(state.token)}`,
  );
  state.stream = es;
  const live = $('live');
  es.addEventListener('open', () => {
    live.textContent = 'live';
    live.className = 'live on';
  });
  es.addEventListener('error', () => {
    live.textContent = es.readyState === EventSource.CLOSED ? 'offline' : 'reconnecting…';
    live.className = es.readyState === EventSource.CLOSED ? 'live off' : 'live retrying';
  });
  es.addEventListener('transition', (e) => applyTransition(JSON.parse(e.data)));
}

// ---- actions ---------------------------------------------------------------------------------

async function act(id, action) {
  const res = await api('POST', `/sessions/${id}/${action}/`);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    flash(body.error?.message ?? `${action} failed (${res.status})`);
    return;
  }
  if (action === 'reconnect') {
    state.task = body.task_id;
    flash(`reconnect scheduled · task ${body.task_id.slice(0, 8)}`);
  } else {
    flash(`${action}: session ${id}`);
    if (body.id) state.sessions.set(body.id, { ...state.sessions.get(body.id), ...body });
  }
  schedule();
}

// ---- rendering -------------------------------------------------------------------------------

let frame = 0;
function schedule() {
  if (!frame) frame = requestAnimationFrame(render);
}

function visible() {
  const q = state.query.trim().toLowerCase();
  const out = [];
  for (const s of state.sessions.values()) {
    if (state.filter !== 'all' && s.status !== state.filter) continue;
    if (q && !String(s.id).includes(q) && !String(s.device_name).toLowerCase().includes(q)) continue;
    out.push(s);
  }
  return out.sort((a, b) => a.id - b.id);
}

function countdown(at) {
  if (!at) return '–';
  const ms = Date.parse(at) - Date.now();
  if (ms <= 0) return 'now';
  const s = Math.ceil(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

const errorText = (s) =>
  s.failure_reason && s.status === 'failed'
    ? `${s.failure_reason}${s.last_error ? ` (${s.last_error.code})` : ''}`
    : s.last_error
      ? `${s.last_error.reason} (${s.last_error.code})`
      : '';

function mini(status) {
  return `<span class="mini s-${status}">${STATES.map(
    (st) => `<span class="${st === status ? `on s-${st}` : ''}" title="${st}">${SHORT[st]}</span>`,
  ).join('')}</span>`;
}

function buttons(s) {
  const running = !['idle', 'failed'].includes(s.status);
  return `<button data-act="start" data-id="${s.id}" ${running ? 'disabled' : ''}>start</button>
    <button data-act="stop" data-id="${s.id}" ${s.status === 'idle' ? 'disabled' : ''}>stop</button>
    <button data-act="reconnect" data-id="${s.id}">reconnect</button>`;
}

function renderCounts() {
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const s of state.sessions.values()) counts[s.status] = (counts[s.status] ?? 0) + 1;
  const pill = (key, label, n) =>
    `<button data-filter="${key}" class="${state.filter === key ? 'active' : ''}">` +
    `${key === 'all' ? '' : `<span class="dot s-${key}"></span>`}${label} <b>${n}</b></button>`;
  $('counts').innerHTML =
    pill('all', 'all', state.sessions.size) + STATES.map((s) => pill(s, s, counts[s])).join('');
}

function renderRows() {
  const list = visible();
  const pages = Math.max(1, Math.ceil(list.length / PAGE_SIZE));
  state.page = Math.min(state.page, pages);
  const slice = list.slice((state.page - 1) * PAGE_SIZE, state.page * PAGE_SIZE);
  $('page').textContent = `${state.page} / ${pages} · ${list.length} sessions`;
  $('prev').disabled = state.page <= 1;
  $('next').disabled = state.page >= pages;
  $('rows').innerHTML = slice.length
    ? slice
        .map(
          (
            s,
          ) => `<tr class="row${s.id === state.selected ? ' selected' : ''}" data-id="${s.id}" data-status="${s.status}">
      <td><span class="id">#${s.id}</span><span class="name">${esc(s.device_name)}</span></td>
      <td>${mini(s.status)}</td>
      <td class="num">${s.attempt}/${s.max_attempts}</td>
      <td class="num" data-retry="${s.status === 'backoff' ? esc(s.next_retry_at ?? '') : ''}">${s.status === 'backoff' ? countdown(s.next_retry_at) : '–'}</td>
      <td class="err">${esc(errorText(s))}</td>
      <td class="actions">${buttons(s)}</td></tr>`,
        )
        .join('')
    : `<tr><td colspan="6" class="empty">No sessions${state.filter === 'all' ? '' : ` in ${state.filter}`}.</td></tr>`;
}

function box(name, current) {
  const [c, r] = LAYOUT[name];
  return { name, x: 10 + c * 160, y: 10 + r * 76, w: 110, h: 34, on: name === current };
}

function edgePath(a, b, bend) {
  const ax = a.x + a.w / 2;
  const ay = a.y + a.h / 2;
  const bx = b.x + b.w / 2;
  const by = b.y + b.h / 2;
  const dx = bx - ax;
  const dy = by - ay;
  const len = Math.hypot(dx, dy) || 1;
  // Clip each end to its box's border.
  const clip = (w, h) => Math.min(Math.abs(w / 2 / (dx / len || 1e-9)), Math.abs(h / 2 / (dy / len || 1e-9)));
  const sa = clip(a.w, a.h) + 2;
  const sb = clip(b.w, b.h) + 5;
  const x1 = ax + (dx / len) * sa;
  const y1 = ay + (dy / len) * sa;
  const x2 = bx - (dx / len) * sb;
  const y2 = by - (dy / len) * sb;
  const mx = (x1 + x2) / 2 - (dy / len) * bend;
  const my = (y1 + y2) / 2 + (dx / len) * bend;
  return `M${x1.toFixed(1)},${y1.toFixed(1)} Q${mx.toFixed(1)},${my.toFixed(1)} ${x2.toFixed(1)},${y2.toFixed(1)}`;
}

/** Events that lead to one state from (almost) everywhere are drawn as a note, not as arrows. */
function splitGraph(graph) {
  const byEvent = new Map();
  for (const e of graph.edges) {
    for (const ev of e.events) {
      const key = `${ev}>${e.to}`;
      byEvent.set(key, (byEvent.get(key) ?? 0) + 1);
    }
  }
  const global = new Set(
    [...byEvent].filter(([k, n]) => n >= 4 || k.startsWith('session.restore>')).map(([k]) => k),
  );
  const edges = graph.edges
    .map((e) => ({ ...e, events: e.events.filter((ev) => !global.has(`${ev}>${e.to}`)) }))
    .filter((e) => e.events.length > 0);
  const notes = new Map();
  for (const key of global) {
    const [ev, to] = key.split('>');
    const list = notes.get(ev) ?? [];
    list.push(to);
    notes.set(ev, list);
  }
  return { edges, notes: [...notes].map(([ev, tos]) => `${ev} → ${tos.join(' / ')}`) };
}

function crosses(a, b, boxes) {
  const ax = a.x + a.w / 2;
  const ay = a.y + a.h / 2;
  const bx = b.x + b.w / 2;
  const by = b.y + b.h / 2;
  return Object.values(boxes).some((o) => {
    if (o === a || o === b) return false;
    for (let t = 0.1; t < 1; t += 0.05) {
      const x = ax + (bx - ax) * t;
      const y = ay + (by - ay) * t;
      if (x > o.x && x < o.x + o.w && y > o.y && y < o.y + o.h) return true;
    }
    return false;
  });
}

function chart(current, last) {
  const graph = state.graph ?? { states: STATES, edges: [] };
  if (!state.split) state.split = splitGraph(graph);
  const { edges, notes } = state.split;
  const boxes = Object.fromEntries(graph.states.map((n) => [n, box(n, current)]));
  const paths = edges
    .filter((e) => boxes[e.from] && boxes[e.to])
    .map((e) => {
      const isLast = last && last.from === e.from && last.to === e.to;
      const bend = crosses(boxes[e.from], boxes[e.to], boxes) ? 70 : 12;
      return `<path d="${edgePath(boxes[e.from], boxes[e.to], bend)}" class="${isLast ? 'last' : ''}"
        marker-end="url(#${isLast ? 'arrow-last' : 'arrow'})"><title>${e.from} → ${e.to}: ${esc(e.events.join(', '))}</title></path>`;
    })
    .join('');
  const nodes = Object.values(boxes)
    .map(
      (
        b,
      ) => `<g class="s-${b.name}${b.on ? ' on' : ''}" data-state="${b.name}"><rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" rx="8"></rect>
      <text x="${b.x + b.w / 2}" y="${b.y + b.h / 2}">${b.name}</text></g>`,
    )
    .join('');
  const marker = (id) =>
    `<marker id="${id}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"></path></marker>`;
  return `<svg class="chart" viewBox="0 0 440 196" role="img" aria-label="statechart, current state ${current}">
    <defs>${marker('arrow')}${marker('arrow-last')}</defs>${paths}${nodes}</svg>
    <div class="notes">${notes.map((n) => `<span>${esc(n)}</span>`).join('')}</div>`;
}

function renderDetail() {
  const el = $('detail');
  const s = state.sessions.get(state.selected);
  if (!s) {
    el.innerHTML =
      '<p class="hint">Select a session to see its statechart, QR code and recent transitions.</p>';
    return;
  }
  const history = state.history.get(s.id) ?? [];
  const last = history[0];
  const when = (at) => new Date(at).toLocaleTimeString();
  el.innerHTML = `
    <h2>#${s.id} ${esc(s.device_name)}</h2>
    <div class="meta">owner ${s.usuario_id}${s.phone_number ? ` · +${esc(s.phone_number)}` : ''} · desired ${s.desired_state}</div>
    ${chart(s.status, last)}
    <div class="buttons">${buttons(s)}</div>
    <dl>
      <dt>state</dt><dd data-field="status"><span class="dot s-${s.status}"></span> ${s.status}</dd>
      <dt>attempt</dt><dd data-field="attempt">${s.attempt}/${s.max_attempts}</dd>
      <dt>next retry</dt><dd data-retry="${s.status === 'backoff' ? esc(s.next_retry_at ?? '') : ''}">${s.status === 'backoff' ? countdown(s.next_retry_at) : '–'}</dd>
      <dt>last error</dt><dd>${s.last_error ? `${esc(s.last_error.reason)} (${s.last_error.code}) · ${esc(s.last_error.message)}` : '–'}</dd>
      ${s.failure_reason ? `<dt>failure</dt><dd>${esc(s.failure_reason)}</dd>` : ''}
    </dl>
    ${s.status === 'qr' ? `<div class="qr"><img id="qr-img" alt="QR code for session ${s.id}" ${state.qr.id === s.id && state.qr.url ? `src="${state.qr.url}"` : ''}><small>Scan with WhatsApp › Linked devices</small></div>` : ''}
    <h3>Recent transitions</h3>
    <table class="history" id="history">${
      history.length
        ? history
            .map(
              (
                e,
              ) => `<tr class="${state.task && e.task_id === state.task ? 'task' : ''}" data-task="${esc(e.task_id ?? '')}">
          <td class="t">${when(e.at)}</td><td>${e.from} → <b>${e.to}</b></td><td>${esc(e.event)}</td>
          <td class="why">${e.code ?? ''} ${esc(e.reason ?? '')}${e.attempt ? ` · #${e.attempt}` : ''}</td></tr>`,
            )
            .join('')
        : '<tr><td>none yet</td></tr>'
    }</table>`;
}

async function refreshQr() {
  const s = state.sessions.get(state.selected);
  if (s?.status !== 'qr') {
    if (state.qr.url) URL.revokeObjectURL(state.qr.url);
    state.qr = { id: null, url: null, at: 0 };
    return;
  }
  // Baileys rotates the code; fetch it again every 10 s while waiting.
  if (state.qr.id === s.id && Date.now() - state.qr.at < 10_000) return;
  state.qr.at = Date.now();
  const res = await api('GET', `/sessions/${s.id}/qr/`, { accept: 'image/png' });
  if (!res.ok) return;
  const url = URL.createObjectURL(await res.blob());
  if (state.qr.url) URL.revokeObjectURL(state.qr.url);
  state.qr = { id: s.id, url, at: Date.now() };
  const img = $('qr-img');
  if (img) img.src = url;
}

function render() {
  frame = 0;
  renderCounts();
  renderRows();
  renderDetail();
  refreshQr().catch(() => undefined);
}

// Countdowns tick without a full render.
setInterval(() => {
  for (const el of document.querySelectorAll('[data-retry]')) {
    if (el.dataset.retry) el.textContent = countdown(el.dataset.retry);
  }
  if (state.selected) refreshQr().catch(() => undefined);
}, 250);

// ---- wiring ----------------------------------------------------------------------------------

async function start() {
  $('app').hidden = false;
  $('logout').hidden = false;
  $('login').hidden = true;
  if (!state.graph) state.graph = await (await fetch('/ui/machine.json')).json();
  openStream();
  try {
    await loadSessions();
  } catch (err) {
    if (err.message !== 'unauthorized') flash(err.message);
  }
}

function logout(reason) {
  state.stream?.close();
  state.stream = null;
  state.token = '';
  state.sessions.clear();
  state.history.clear();
  sessionStorage.removeItem('wa-token');
  $('app').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('live').textContent = 'offline';
  $('live').className = 'live off';
  if (reason) flash(reason);
}

document.addEventListener('DOMContentLoaded', () => {
  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('token')
      .value.trim()
      .replace(/^Bearer\s+/i, '');
    if (!token) return;
    $('token').value = '';
    state.token = token;
    sessionStorage.setItem('wa-token', token);
    start();
  });
  $('logout').addEventListener('click', () => logout('Token forgotten'));
  $('search').addEventListener('input', (e) => {
    state.query = e.target.value;
    state.page = 1;
    schedule();
  });
  $('prev').addEventListener('click', () => {
    state.page--;
    schedule();
  });
  $('next').addEventListener('click', () => {
    state.page++;
    schedule();
  });
  $('counts').addEventListener('click', (e) => {
    const b = e.target.closest('[data-filter]');
    if (!b) return;
    state.filter = b.dataset.filter;
    state.page = 1;
    schedule();
  });
  document.body.addEventListener('click', (e) => {
    const button = e.target.closest('button[data-act]');
    if (button) {
      e.stopPropagation();
      act(Number(button.dataset.id), button.dataset.act).catch((err) => flash(err.message));
      return;
    }
    const row = e.target.closest('tr.row');
    if (row) {
      state.selected = Number(row.dataset.id);
      loadHistory(state.selected).catch(() => undefined);
      schedule();
    }
  });
  if (state.token) start();
});
