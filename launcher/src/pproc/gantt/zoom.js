// scope's zoomable Gantt chart (see html.rs for the data). Per view and lane: the calls that
// overlap the view (binary search on the starts and on the running maximum of the ends) are
// bars when at least one pixel wide, at their nesting depth; shorter ones are counted per
// (pixel column, region) and drawn as marks below the deepest bar of their column, adjacent
// columns of one region and depth merged — the static SVG's rules, at every zoom level.
(function () {
  'use strict';
  const G = SCOPE_GANTT;
  const LABEL_W = 170, CHAR_W = 6.6, ROW_H = 14, LANE_GAP = 8, TOP = 56, RIGHT = 20;
  const R = G.regions.length;
  const canvas = document.getElementById('gantt');
  const ctx = canvas.getContext('2d');
  const tip = document.getElementById('tip');
  const status = document.getElementById('status');

  function fmt(ns) {
    if (!isFinite(ns)) return '-';
    const sign = ns < 0 ? '-' : '';
    ns = Math.abs(ns);
    if (Math.round(ns) < 1000) return sign + ns.toFixed(0) + ' ns';
    const units = [[1e3, 'µs'], [1e6, 'ms'], [1e9, 's']];
    for (const [scale, unit] of units) {
      const v = ns / scale;
      const d = v >= 99.95 ? 0 : v >= 9.995 ? 1 : 2;
      const shown = v.toFixed(d);
      if (parseFloat(shown) < 1000 || unit === 's') return sign + shown + ' ' + unit;
    }
  }
  function tickStep(span, n) {
    const raw = Math.max(span / n, 1);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
    return 10 * mag;
  }

  // Decode each lane: calls sorted by (start, longer first), their nesting depth, and the
  // running maximum of the ends.
  function decode(k, info) {
    const text = atob(document.getElementById('lane-' + k).textContent.trim());
    const n = info.calls;
    let st = new Float64Array(n), en = new Float64Array(n), rg = new Uint32Array(n);
    let pos = 0, i = 0;
    const rv = () => {
      let v = 0, mul = 1, b;
      do { b = text.charCodeAt(pos++); v += (b & 127) * mul; mul *= 128; } while (b & 128);
      return v;
    };
    while (pos < text.length) {
      const region = rv(), m = rv();
      let prev = 0;
      for (let j = 0; j < m; j++, i++) {
        const z = rv();
        prev += z % 2 === 0 ? z / 2 : -(z + 1) / 2;
        st[i] = prev; en[i] = prev + rv(); rg[i] = region;
      }
    }
    // Order (start, longer first): a natural merge sort of the runs already in order (each
    // region's calls usually are), so a lane of 10^6 calls in a few regions sorts in O(n log k).
    const before = (a, b) => st[a] < st[b] || (st[a] === st[b] && en[a] - st[a] >= en[b] - st[b]);
    let runs = [0];
    for (let j = 1; j < n; j++) if (!before(j - 1, j)) runs.push(j);
    if (runs.length > 1) {
      let idx = new Uint32Array(n), tmp = new Uint32Array(n);
      for (let j = 0; j < n; j++) idx[j] = j;
      runs.push(n);
      while (runs.length > 2) {
        const next = [0];
        for (let r = 0; r + 1 < runs.length; r += 2) {
          const a0 = runs[r], a1 = runs[r + 1], b1 = r + 2 < runs.length ? runs[r + 2] : a1;
          let p = a0, q = a1, o = a0;
          while (p < a1 && q < b1) tmp[o++] = before(idx[p], idx[q]) ? idx[p++] : idx[q++];
          while (p < a1) tmp[o++] = idx[p++];
          while (q < b1) tmp[o++] = idx[q++];
          next.push(b1);
        }
        runs = next;
        [idx, tmp] = [tmp, idx];
      }
      const s2 = new Float64Array(n), e2 = new Float64Array(n), r2 = new Uint32Array(n);
      for (let j = 0; j < n; j++) { s2[j] = st[idx[j]]; e2[j] = en[idx[j]]; r2[j] = rg[idx[j]]; }
      st = s2; en = e2; rg = r2;
    }
    const depth = new Uint16Array(n), maxEnd = new Float64Array(n);
    const open = [];
    let mx = -Infinity;
    for (let j = 0; j < n; j++) {
      while (open.length && open[open.length - 1] <= st[j]) open.pop();
      depth[j] = Math.min(open.length, 65535);
      open.push(en[j]);
      mx = Math.max(mx, en[j]);
      maxEnd[j] = mx;
    }
    return { label: info.label, base: info.rows, st, en, rg, depth, maxEnd, n };
  }
  const t = performance.now();
  const lanes = G.lanes.map((l, k) => decode(k, l));
  const decodeMs = performance.now() - t;
  const longest = Math.max(0, ...lanes.map((l) => [...l.label].length));
  const labelW = Math.max(LABEL_W, Math.ceil(longest * CHAR_W + 16));

  let v0 = 0, v1 = G.span, W = 0, drawMs = 0, layout = [];
  let cells = null, cellsFor = -1;
  const minSpan = () => Math.max(W * 0.02, 10);

  // Lays out one lane for the view: bars (indices), marks, rows.
  function lay(l) {
    const npp = (v1 - v0) / W;
    // First call whose running-max end reaches v0; first call starting after v1.
    let a = 0, b = l.n;
    while (a < b) { const m = (a + b) >> 1; if (l.maxEnd[m] < v0) a = m + 1; else b = m; }
    const lo = a;
    a = lo; b = l.n;
    while (a < b) { const m = (a + b) >> 1; if (l.st[m] <= v1) a = m + 1; else b = m; }
    const hi = a;
    if (cellsFor !== W) { cells = W * R <= (1 << 22) ? new Float64Array(W * R) : new Map(); cellsFor = W; }
    const touched = [];
    const bars = [];
    const cover = new Uint32Array(W);
    let rows = 1, aggregated = 0;
    for (let i = lo; i < hi; i++) {
      const e = l.en[i];
      if (e < v0) continue;
      const x0 = (l.st[i] - v0) / npp, x1 = (e - v0) / npp;
      if (x1 - x0 >= 1) {
        bars.push(i);
        const d = l.depth[i];
        if (d + 1 > rows) rows = d + 1;
        const c1 = Math.min(Math.ceil(x1), W);
        for (let c = Math.max(Math.floor(x0), 0); c < c1; c++) if (cover[c] < d + 1) cover[c] = d + 1;
      } else {
        const col = Math.min(Math.max(Math.floor(x0), 0), W - 1);
        const key = col * R + l.rg[i];
        if (cells instanceof Map) {
          const v = cells.get(key);
          if (v === undefined) { cells.set(key, 1); touched.push(key); } else cells.set(key, v + 1);
        } else {
          if (cells[key] === 0) touched.push(key);
          cells[key]++;
        }
        aggregated++;
      }
    }
    touched.sort((p, q) => p - q);
    const placed = [];
    let k = 0;
    for (let j = 0; j < touched.length; j++) {
      const key = touched[j], col = Math.floor(key / R), region = key - col * R;
      const count = cells instanceof Map ? cells.get(key) : cells[key];
      if (cells instanceof Map) cells.delete(key); else cells[key] = 0;
      k = j > 0 && Math.floor(touched[j - 1] / R) === col ? k + 1 : 0;
      const depth = cover[col] + k;
      if (depth + 1 > rows) rows = depth + 1;
      placed.push([col, 1, depth, region, count]);
    }
    placed.sort((p, q) => p[3] - q[3] || p[2] - q[2] || p[0] - q[0]);
    const marks = [];
    for (const m of placed) {
      const last = marks[marks.length - 1];
      if (last && last[3] === m[3] && last[2] === m[2] && last[0] + last[1] === m[0]) {
        last[1]++; last[4] += m[4];
      } else marks.push(m);
    }
    return { bars, marks, rows: Math.max(rows, l.base), aggregated, npp };
  }

  function draw() {
    const t0 = performance.now();
    const cssW = Math.max(canvas.clientWidth || document.body.clientWidth, labelW + RIGHT + 100);
    W = Math.floor(cssW - labelW - RIGHT);
    layout = lanes.map(lay);
    const lanesH = layout.reduce((h, L) => h + L.rows * ROW_H + LANE_GAP, 0);
    const H = TOP + lanesH + 4;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(H * dpr)) {
      canvas.width = Math.round(cssW * dpr);
      canvas.height = Math.round(H * dpr);
      canvas.style.height = H + 'px';
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, cssW, H);
    ctx.font = '11px "DejaVu Sans", Arial, sans-serif';
    const npp = (v1 - v0) / W;
    // Axis.
    const step = tickStep(v1 - v0, 10);
    ctx.textAlign = 'center';
    ctx.strokeStyle = '#d0d4d8';
    ctx.lineWidth = 0.6;
    for (let tk = Math.ceil(v0 / step) * step; tk <= v1 + 0.5; tk += step) {
      const x = labelW + (tk - v0) / npp;
      ctx.beginPath(); ctx.moveTo(x, TOP - 8); ctx.lineTo(x, TOP + lanesH); ctx.stroke();
      ctx.fillStyle = '#333';
      ctx.fillText(fmt(tk), x, TOP - 12);
    }
    ctx.textAlign = 'left';
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, labelW - 4, TOP - 1);
    ctx.fillStyle = '#555';
    ctx.fillText('time since first call', 8, TOP - 12);
    let y = TOP;
    layout.forEach((L, i) => {
      const l = lanes[i];
      L.y = y;
      const h = L.rows * ROW_H;
      ctx.fillStyle = i % 2 === 0 ? '#f4f6f8' : '#ffffff';
      ctx.fillRect(labelW, y, W, h);
      ctx.fillStyle = '#222';
      ctx.fillText(l.label, 8, y + ROW_H - 3);
      ctx.save();
      ctx.beginPath(); ctx.rect(labelW, y, W, h); ctx.clip();
      for (const j of L.bars) {
        const x0 = Math.max((l.st[j] - v0) / npp, -2), x1 = Math.min((l.en[j] - v0) / npp, W + 2);
        ctx.fillStyle = G.colours[l.rg[j]];
        ctx.fillRect(labelW + x0, y + l.depth[j] * ROW_H, x1 - x0, ROW_H - 1);
        if (x1 - x0 > 2) {
          ctx.fillStyle = 'rgba(255,255,255,0.8)';
          ctx.fillRect(labelW + x1 - 0.3, y + l.depth[j] * ROW_H, 0.3, ROW_H - 1);
        }
      }
      ctx.globalAlpha = 0.8;
      for (const m of L.marks) {
        ctx.fillStyle = G.colours[m[3]];
        ctx.fillRect(labelW + m[0], y + m[2] * ROW_H, m[1], ROW_H - 1);
      }
      ctx.globalAlpha = 1;
      ctx.restore();
      y += h + LANE_GAP;
    });
    drawMs = performance.now() - t0;
    const bars = layout.reduce((s, L) => s + L.bars.length, 0);
    const agg = layout.reduce((s, L) => s + L.aggregated, 0);
    status.textContent = `view ${fmt(v0)} – ${fmt(v1)} (${fmt(v1 - v0)} of ${fmt(G.span)}); ` +
      `${bars} calls drawn individually, ${agg} aggregated (shorter than ${fmt(npp)}); ` +
      `drawn in ${drawMs.toFixed(1)} ms`;
  }

  let pending = false;
  function redraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  }
  function setView(a, b) {
    const span = G.span;
    let w = Math.min(Math.max(b - a, minSpan()), span);
    a = Math.min(Math.max(a, 0), span - w);
    v0 = a; v1 = a + w;
  }
  function zoomAt(x, factor) {
    const f = Math.min(Math.max((x - labelW) / W, 0), 1);
    const at = v0 + f * (v1 - v0);
    const w = Math.min(Math.max((v1 - v0) * factor, minSpan()), G.span);
    setView(at - f * w, at - f * w + w);
  }
  const localX = (e) => e.clientX - canvas.getBoundingClientRect().left;

  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    const d = e.deltaMode === 1 ? e.deltaY * 40 : e.deltaMode === 2 ? e.deltaY * 800 : e.deltaY;
    zoomAt(localX(e), Math.exp(Math.max(Math.min(d, 500), -500) * 0.002));
    redraw();
  }, { passive: false });

  let drag = null;
  canvas.addEventListener('pointerdown', (e) => {
    drag = { x: localX(e), v0, v1, brush: e.shiftKey, moved: false };
    canvas.setPointerCapture(e.pointerId);
    canvas.style.cursor = drag.brush ? 'col-resize' : 'grabbing';
  });
  canvas.addEventListener('pointermove', (e) => {
    const x = localX(e);
    if (!drag) return hover(e, x);
    tip.style.display = 'none';
    drag.moved = drag.moved || Math.abs(x - drag.x) > 2;
    if (drag.brush) {
      draw();
      const a = Math.min(Math.max(Math.min(x, drag.x), labelW), labelW + W);
      const b = Math.min(Math.max(Math.max(x, drag.x), labelW), labelW + W);
      ctx.fillStyle = 'rgba(78,121,167,0.2)';
      ctx.fillRect(a, TOP - 8, b - a, canvas.clientHeight - TOP + 8);
    } else {
      const npp = (drag.v1 - drag.v0) / W;
      setView(drag.v0 - (x - drag.x) * npp, drag.v1 - (x - drag.x) * npp);
      redraw();
    }
  });
  canvas.addEventListener('pointerup', (e) => {
    if (drag && drag.brush && drag.moved) {
      const npp = (v1 - v0) / W;
      const a = Math.min(localX(e), drag.x) - labelW, b = Math.max(localX(e), drag.x) - labelW;
      setView(v0 + Math.max(a, 0) * npp, v0 + Math.min(b, W) * npp);
    }
    drag = null;
    canvas.style.cursor = 'grab';
    redraw();
  });
  canvas.addEventListener('pointerleave', () => { tip.style.display = 'none'; });

  function hover(e, x) {
    const r = canvas.getBoundingClientRect();
    const yy = e.clientY - r.top, px = x - labelW;
    let text = null;
    layout.forEach((L, i) => {
      if (text || yy < L.y || yy >= L.y + L.rows * ROW_H || px < 0 || px >= W) return;
      const l = lanes[i], row = Math.floor((yy - L.y) / ROW_H);
      for (const m of L.marks) {
        if (m[2] === row && px >= m[0] && px < m[0] + m[1]) {
          text = `${G.regions[m[3]]} · ${l.label} · ${m[4]} calls shorter than ${fmt(L.npp)}`;
          return;
        }
      }
      for (const j of L.bars) {
        const x0 = (l.st[j] - v0) / L.npp, x1 = (l.en[j] - v0) / L.npp;
        if (l.depth[j] === row && px >= x0 && px < x1) {
          text = `${G.regions[l.rg[j]]} · ${l.label} · ${fmt(l.en[j] - l.st[j])}`;
        }
      }
    });
    if (!text) { tip.style.display = 'none'; return; }
    tip.textContent = text;
    tip.style.left = (e.clientX + 12) + 'px';
    tip.style.top = (e.clientY + 12) + 'px';
    tip.style.display = 'block';
  }

  function reset() { v0 = 0; v1 = G.span; draw(); }
  document.getElementById('reset').addEventListener('click', reset);
  window.addEventListener('keydown', (e) => {
    const w = v1 - v0;
    if (e.key === '0' || e.key === 'Escape') reset();
    else if (e.key === '+' || e.key === '=') { zoomAt(labelW + W / 2, 0.5); redraw(); }
    else if (e.key === '-' || e.key === '_') { zoomAt(labelW + W / 2, 2); redraw(); }
    else if (e.key === 'ArrowLeft') { setView(v0 - w / 4, v1 - w / 4); redraw(); }
    else if (e.key === 'ArrowRight') { setView(v0 + w / 4, v1 + w / 4); redraw(); }
  });
  window.addEventListener('resize', redraw);

  // The legend: other regions, then the MPI entry and the MPI calls (as the SVG's).
  const legend = document.getElementById('legend');
  const entry = (swatches, name, cls) => {
    const s = document.createElement('span');
    if (cls) s.className = cls;
    for (const [c, w] of swatches) {
      const i = document.createElement('i');
      i.style.background = c;
      i.style.width = w + 'px';
      if (swatches.length > 1) i.style.marginRight = '0';
      s.appendChild(i);
    }
    s.appendChild(document.createTextNode((swatches.length > 1 ? '\u00a0' : '') + name));
    legend.appendChild(s);
  };
  const group = (m) => G.regions.map((_, i) => i).filter((i) => G.mpi[i] === m);
  for (const i of group(false)) entry([[G.colours[i], 12]], G.regions[i], '');
  if (G.mpi.includes(true)) {
    entry(G.mpi_swatch.map((c) => [c, 4]), G.mpi_legend, 'mpi');
    for (const i of group(true)) entry([[G.colours[i], 12]], G.regions[i], '');
  }

  // For tests and scripts: set the view (ns since the first call), see what is drawn.
  window.scopeGantt = {
    t0: G.t0, span: G.span, decodeMs, labelW,
    width: () => W,
    view(a, b) { if (a === undefined) return [v0, v1]; setView(a, b); draw(); return drawMs; },
    reset() { reset(); return drawMs; },
    drawMs: () => drawMs,
    // Per lane: bars [start, end, region, depth] (ns since the first call), marks
    // [column, width, depth, region, calls], the number of bars and of aggregated calls.
    drawn(detail = true) {
      return layout.map((L, i) => {
        const l = lanes[i];
        return {
          label: l.label, rows: L.rows, individual: L.bars.length, aggregated: L.aggregated,
          blocks: L.marks.length,
          bars: detail ? L.bars.map((j) => [l.st[j], l.en[j], G.regions[l.rg[j]], l.depth[j]]) : null,
          marks: detail ? L.marks.map((m) => [m[0], m[1], m[2], G.regions[m[3]], m[4]]) : null,
        };
      });
    },
  };
  draw();
})();
