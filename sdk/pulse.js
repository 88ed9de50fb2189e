/* pulse.js 1.0.0: first-party tracking for Pulse. Sends Segment-shaped events to
   POST {host}/v1/batch. No dependencies, no build step. */
(function (w) {
  'use strict';
  if (w.pulse && w.pulse.VERSION) return; // included twice: keep the first copy

  const VERSION = '1.0.0';
  const K_ANON = 'pulse_anon_id', K_USER = 'pulse_user_id', K_CONSENT = 'pulse_consent', K_QUEUE = 'pulse_queue';
  const CT = 'text/plain;charset=UTF-8'; // a CORS "simple" type: no preflight round trip
  const MAX_EVENT = 32 * 1024, MAX_BATCH = 450 * 1024, MAX_COUNT = 500, MAX_KEPT = 1000;
  const BEACON_MAX = 60 * 1024; // browsers allow ~64 KB of beacon/keepalive bodies in flight
  const BASE = 500, CAP = 30000;
  const doc = w.document || {}, nav = w.navigator || {};
  const script = doc.currentScript; // only set while this file first runs

  let cfg = null, url = '', writeKey = '', consent = null, ident = null;
  let timer = null, running = false, draining = null, warned = false;
  let queue = [];      // waiting to be sent
  let inflight = [];   // batches being sent or retried (persisted until settled)
  const early = [], listeners = [];

  // Storage access can throw (privacy modes, sandboxed frames): every touch is guarded.
  function ls(k, v) {
    try {
      const s = w.localStorage;
      if (v === undefined) return s.getItem(k);
      if (v === null) s.removeItem(k); else s.setItem(k, v);
    } catch (e) { return null; }
  }
  function cookie(k, v) {
    try {
      if (v === undefined) {
        const m = ('; ' + doc.cookie).split('; ' + k + '=')[1];
        return m ? decodeURIComponent(m.split(';')[0]) : null;
      }
      doc.cookie = k + '=' + encodeURIComponent(v) + '; path=/; max-age=31536000; SameSite=Lax' +
        ((w.location || {}).protocol === 'https:' ? '; Secure' : '');
    } catch (e) { return null; }
  }
  const parse = (s) => { try { return JSON.parse(s); } catch (e) { return null; } };
  const obj = (x) => (x && typeof x === 'object' ? x : {});
  const now = () => new Date().toISOString();
  const bytes = (s) => (w.TextEncoder ? new w.TextEncoder().encode(s).length : unescape(encodeURIComponent(s)).length);

  function uuid() {
    const c = w.crypto;
    if (c && c.randomUUID) return c.randomUUID(); // absent outside secure contexts
    const b = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (let i = 0; i < 16; i++) b[i] = Math.random() * 256;
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128; // version 4, RFC 4122 variant
    const h = Array.from(b, (x) => (x + 256).toString(16).slice(1)).join('');
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join('-');
  }

  // Identity: the cookie survives localStorage clears and vice versa; read either, write both.
  function ids() {
    if (!ident) {
      ident = { anonymousId: cookie(K_ANON) || ls(K_ANON) || uuid(), userId: ls(K_USER) || null };
      saveIds();
    }
    return ident;
  }
  function saveIds() {
    cookie(K_ANON, ident.anonymousId); ls(K_ANON, ident.anonymousId); ls(K_USER, ident.userId);
  }

  function emit(kind, detail) {
    listeners.slice().forEach((fn) => { try { fn(kind, detail); } catch (e) { /* not ours */ } });
  }
  function warn(name, e) {
    if (warned || !w.console) return;
    warned = true; // once: a broken call in a loop must not flood the console
    w.console.warn('[pulse] ' + name + ' ignored: ' + ((e && e.message) || e));
  }

  // Unsent and in-retry events go to localStorage so a reload does not lose them.
  function persist() {
    const all = [].concat.apply([], inflight).concat(queue).slice(-MAX_KEPT);
    ls(K_QUEUE, all.length ? JSON.stringify(all) : null);
  }
  function settled(batch) { inflight = inflight.filter((b) => b !== batch); persist(); }
  const retryable = (status) => !status || status === 429 || status >= 500;

  function pageInfo() {
    const l = w.location || {};
    return { path: l.pathname, url: String(l.href || '').split('#')[0], title: doc.title, referrer: doc.referrer, search: l.search };
  }

  function record(type, fields, timestamp) {
    const id = ids(), s = w.screen || {};
    let tz;
    try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { /* old engine */ }
    const e = Object.assign({ type, messageId: uuid(), anonymousId: id.anonymousId }, id.userId ? { userId: id.userId } : {}, fields, {
      timestamp,
      context: {
        library: { name: 'pulse.js', version: VERSION }, page: pageInfo(), userAgent: nav.userAgent,
        locale: nav.language, timezone: tz, screen: { width: s.width, height: s.height },
      },
    });
    if (consent) e.context.consent = { categoryPreferences: consent };
    const json = JSON.stringify(e); // also a deep copy: later edits by the page cannot change it
    const size = bytes(json);
    if (size > MAX_EVENT) { // the gateway would refuse it; tell the page instead of retrying
      return emit('dropped', { count: 1, status: 413, error: 'event is ' + size + ' bytes; the limit is 32 KB' });
    }
    if (queue.length >= MAX_KEPT) emit('dropped', { count: queue.splice(0, 1).length, status: 0, error: 'queue full' });
    queue.push(JSON.parse(json));
    persist();
    schedule();
  }

  const canSend = () => !!cfg && (!cfg.requireConsent || !!consent);
  function schedule() {
    if (!canSend() || !queue.length) return;
    if (queue.length >= cfg.flushAt) flush();
    else if (!timer) timer = setTimeout(() => { timer = null; flush(); }, cfg.flushInterval);
  }

  // Takes the oldest events that fit one request (count and bytes).
  function take(limit) {
    const batch = [];
    let size = 100 + bytes(writeKey); // envelope: {"batch":[],"sentAt":...,"writeKey":...}
    while (queue.length && batch.length < MAX_COUNT) {
      const n = bytes(JSON.stringify(queue[0])) + 1;
      if (batch.length && size + n > limit) break;
      size += n; batch.push(queue.shift());
    }
    return batch;
  }
  const body = (batch) => JSON.stringify({ batch, sentAt: now(), writeKey });
  const post = (data, keepalive) => w.fetch(url, { method: 'POST', headers: { 'Content-Type': CT }, body: data, keepalive });
  const reply = (res) => Promise.resolve().then(() => res.json()).then(obj, () => ({}));

  function flush() {
    if (!canSend()) return Promise.resolve();
    if (!running) draining = drain(); // a running drain picks up newly queued events itself
    return draining;
  }
  async function drain() {
    running = true; // set and cleared synchronously: no window where new events are missed
    clearTimeout(timer); timer = null;
    try {
      while (queue.length && canSend()) await deliver(take(MAX_BATCH));
    } catch (e) { warn('flush', e); } finally { running = false; }
  }

  // One batch at a time, in order; the same events (same messageIds) on every attempt, so
  // the gateway can deduplicate a batch whose first answer got lost.
  async function deliver(batch) {
    inflight.push(batch); persist();
    for (let attempt = 0; ; attempt++) {
      let status = 0, error = '', wait = 0;
      try {
        const res = await post(body(batch), false); // sentAt fresh each time: the gateway corrects clock skew with it
        status = res.status;
        const r = await reply(res);
        if (res.ok) {
          settled(batch);
          return emit('sent', { count: batch.length, accepted: r.accepted, quarantined: r.quarantined });
        }
        error = r.error || res.statusText || 'HTTP ' + status;
        const after = (status === 429 || status === 503) && res.headers && res.headers.get('Retry-After');
        if (after) wait = isNaN(after) ? Date.parse(after) - Date.now() : after * 1000;
      } catch (e) {
        error = String((e && e.message) || e); // network error (or CORS refusal)
      }
      if (!retryable(status) || attempt >= cfg.maxRetries) {
        settled(batch);
        return emit('dropped', { count: batch.length, status, error });
      }
      // Exponential backoff with full jitter, unless the gateway said when.
      const delayMs = wait > 0 ? Math.ceil(wait) : Math.floor(Math.random() * Math.min(CAP, BASE * 2 ** attempt));
      emit('retry', { attempt: attempt + 1, delayMs, status });
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }

  // Page is going away (or to the background): hand what is queued to the browser.
  function unload() {
    if (!canSend() || !queue.length) return;
    clearTimeout(timer); timer = null;
    while (queue.length) {
      const batch = take(BEACON_MAX), data = body(batch);
      let ok = false;
      try { ok = nav.sendBeacon(url, new Blob([data], { type: CT })); } catch (e) { /* unsupported */ }
      if (ok) emit('sent', { count: batch.length, beacon: true });
      else keepalive(batch, data);
    }
    persist();
  }
  function keepalive(batch, data) {
    inflight.push(batch); // kept in storage until the gateway confirms
    const fail = () => { settled(batch); queue = batch.concat(queue); persist(); schedule(); };
    try {
      post(data, true).then((res) => {
        if (res.ok) { settled(batch); emit('sent', { count: batch.length }); }
        else if (!retryable(res.status)) {
          settled(batch);
          return reply(res).then((r) => emit('dropped', { count: batch.length, status: res.status, error: r.error || 'HTTP ' + res.status }));
        } else fail();
      }, fail);
    } catch (e) { fail(); }
  }

  function load(key, o) {
    if (cfg) return; // already loaded
    if (!key || typeof key !== 'string') throw new TypeError('load needs a write key');
    o = obj(o);
    const num = (v, d) => (typeof v === 'number' && v >= 0 ? v : d);
    const m = /^[a-z][\w+.-]*:\/\/[^/?#]+/i.exec((script && script.src) || '');
    const host = String(o.host || (m ? m[0] : (w.location || {}).origin || '')).replace(/\/+$/, '');
    cfg = {
      flushAt: Math.min(Math.max(1, num(o.flushAt, 20)), MAX_COUNT),
      flushInterval: num(o.flushInterval, 2000),
      requireConsent: !!o.requireConsent,
      maxRetries: num(o.maxRetries, 10),
    };
    writeKey = key; url = host + '/v1/batch';
    ids();
    const c = parse(ls(K_CONSENT));
    consent = c && typeof c === 'object' ? c : null;
    const saved = parse(ls(K_QUEUE));
    queue = (Array.isArray(saved) ? saved : []).concat(queue);
    if (doc.addEventListener) doc.addEventListener('visibilitychange', () => { if (doc.visibilityState === 'hidden') safeUnload(); });
    if (w.addEventListener) w.addEventListener('pagehide', safeUnload);
    flush(); // events saved by an earlier page go out first, in their own batch
    early.splice(0).forEach((c) => { try { run(c[0], c[1], c[2]); } catch (e) { warn(c[0], e); } });
  }
  function safeUnload() { try { unload(); } catch (e) { warn('unload', e); } }

  const impl = {
    page(a, ts) {
      let [name, props] = a;
      if (name && typeof name === 'object') { props = name; name = null; }
      record('page', Object.assign(name != null ? { name: String(name) } : {}, { properties: Object.assign(pageInfo(), obj(props)) }), ts);
    },
    track(a, ts) {
      if (typeof a[0] !== 'string' || !a[0].trim()) throw new TypeError('track needs an event name');
      record('track', { event: a[0], properties: obj(a[1]) }, ts);
    },
    identify(a, ts) {
      let [userId, traits] = a;
      if (userId && typeof userId === 'object') { traits = userId; userId = null; }
      if (userId != null && userId !== '') { ids().userId = String(userId); saveIds(); }
      record('identify', { traits: obj(traits) }, ts);
    },
    reset() { ident = { anonymousId: uuid(), userId: null }; saveIds(); },
    consent(a) {
      if (!a[0] || typeof a[0] !== 'object') throw new TypeError('consent needs an object like {analytics: true}');
      consent = JSON.parse(JSON.stringify(a[0]));
      ls(K_CONSENT, JSON.stringify(consent));
      // Events held for consent carry the decision they were waiting for.
      queue.forEach((e) => { e.context = obj(e.context); if (!e.context.consent) e.context.consent = { categoryPreferences: consent }; });
      persist();
      schedule();
    },
  };
  const run = (name, args, ts) => impl[name](args, ts);

  // Public API: never throws into the host page.
  const api = { VERSION };
  function guard(name, fn, fallback) {
    api[name] = function () {
      try { return fn.apply(null, arguments); } catch (e) { warn(name, e); return fallback; }
    };
  }
  ['page', 'track', 'identify', 'reset', 'consent'].forEach((name) => guard(name, function () {
    const args = [].slice.call(arguments), ts = now();
    if (cfg) run(name, args, ts);
    else if (early.length < MAX_KEPT) early.push([name, args, ts]); // replayed by load()
  }));
  guard('load', load);
  guard('flush', flush, Promise.resolve());
  guard('user', () => { const i = ids(); return { anonymousId: i.anonymousId, userId: i.userId }; });
  guard('on', (fn) => {
    if (typeof fn === 'function') listeners.push(fn);
    return () => { const i = listeners.indexOf(fn); if (i >= 0) listeners.splice(i, 1); };
  });

  // Stub pattern: the page may have queued calls as `window.pulse = [['track', ...], ...]`.
  const stub = w.pulse;
  w.pulse = api;
  if (Array.isArray(stub)) {
    stub.forEach((c) => { if (c && typeof api[c[0]] === 'function') api[c[0]].apply(null, [].slice.call(c, 1)); });
  }
  // Auto-load: <script src=".../pulse.js" data-write-key="wk_..." data-auto-page="true">
  const attr = (n) => (script && script.getAttribute ? script.getAttribute(n) : null);
  if (attr('data-write-key') && !cfg) {
    api.load(attr('data-write-key'), { host: attr('data-host') || undefined, requireConsent: attr('data-require-consent') === 'true' });
    if (attr('data-auto-page') === 'true') api.page();
  }
})(window);
