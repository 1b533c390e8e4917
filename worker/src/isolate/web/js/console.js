// The console methods beyond log/info/warn/error/debug (which are native):
// dir, dirxml, trace, assert, count, countReset, time, timeLog, timeEnd,
// group, groupCollapsed, groupEnd and table, printed as Node prints them.
// Counters and timers live in this closure (in a session, they carry over
// to the next run); the group indentation is per run.

{
  const con = global.console;
  const LOG = 0, WARN = 2, ERROR = 3;
  const counts = new Map();
  const timers = new Map();
  const method = (name, fn) => defineProperty(con, name, { value: fn, writable: true, configurable: true, enumerable: true });
  const label = (l) => (l === undefined ? 'default' : `${l}`);

  const pad = (n) => String(n).padStart(2, '0');
  function formatTime(ms) {
    let hours = 0, minutes = 0, seconds = 0;
    if (ms >= 1000) {
      if (ms >= 60000) {
        if (ms >= 3600000) { hours = Math.floor(ms / 3600000); ms %= 3600000; }
        minutes = Math.floor(ms / 60000);
        ms %= 60000;
      }
      seconds = ms / 1000;
    }
    if (hours !== 0 || minutes !== 0) {
      const [s, frac] = seconds.toFixed(3).split('.');
      const res = hours !== 0 ? `${hours}:${pad(minutes)}` : minutes;
      return `${res}:${pad(s)}.${frac} (${hours !== 0 ? 'h:m' : ''}m:ss.mmm)`;
    }
    if (seconds !== 0) return `${seconds.toFixed(3)}s`;
    return `${Number(ms.toFixed(3))}ms`;
  }
  function timeLog(name, l, data) {
    const start = timers.get(l);
    if (start === undefined) {
      ops.print(WARN, `Warning: No such label '${l}' for console.${name}()`);
      return false;
    }
    const text = `${l}: ${formatTime(ops.now() + ops.timeOrigin() - start)}`;
    ops.print(LOG, data.length ? `${text} ${ops.format(...data)}` : text);
    return true;
  }

  method('dir', function dir(obj, options = undefined) {
    const depth = options?.depth;
    ops.print(LOG, ops.inspect(obj, depth === undefined ? 2 : depth === null ? null : Number(depth)));
  });
  method('dirxml', function dirxml(...data) { ops.print(LOG, ops.format(...data)); });
  method('trace', function trace(...data) {
    const err = { name: 'Trace', message: ops.format(...data) };
    Error.captureStackTrace(err, trace);
    ops.print(ERROR, err.stack);
  });
  method('assert', function assert(condition = false, ...data) {
    if (condition) return;
    // Node 20: the first argument is converted to a string in the prefix.
    if (data.length === 0) data.push('Assertion failed');
    else data[0] = `Assertion failed: ${data[0]}`;
    ops.print(WARN, ops.format(...data));
  });
  method('count', function count(l = undefined) {
    l = label(l);
    const n = (counts.get(l) ?? 0) + 1;
    counts.set(l, n);
    ops.print(LOG, `${l}: ${n}`);
  });
  method('countReset', function countReset(l = undefined) {
    l = label(l);
    if (!counts.has(l)) ops.print(WARN, `Warning: Count for '${l}' does not exist`);
    else counts.set(l, 0);
  });
  method('time', function time(l = undefined) {
    l = label(l);
    if (timers.has(l)) { ops.print(WARN, `Warning: Label '${l}' already exists for console.time()`); return; }
    timers.set(l, ops.now() + ops.timeOrigin());
  });
  method('timeLog', function timeLogMethod(l = undefined, ...data) { timeLog('timeLog', label(l), data); });
  method('timeEnd', function timeEnd(l = undefined) {
    l = label(l);
    if (timeLog('timeEnd', l, [])) timers.delete(l);
  });
  method('group', function group(...data) {
    if (data.length) ops.print(LOG, ops.format(...data));
    ops.group(1);
  });
  method('groupCollapsed', function groupCollapsed(...data) {
    if (data.length) ops.print(LOG, ops.format(...data));
    ops.group(1);
  });
  method('groupEnd', function groupEnd() { ops.group(-1); });

  // console.table: Node 20's layout (lib/internal/cli_table.js), cells
  // left-aligned.
  const cell = (v) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 2) {
      return Object.getPrototypeOf(v) === null ? '[Object: null prototype]' : `[${v.constructor?.name ?? 'Object'}]`;
    }
    return ops.inspect(v, 0);
  };
  const width = (s) => [...s].length;
  function render(head, columns) {
    const widths = head.map(width);
    const longest = Math.max(0, ...columns.map((c) => c.length));
    const rows = [];
    for (let i = 0; i < head.length; i++) {
      for (let j = 0; j < longest; j++) {
        rows[j] ??= [];
        const v = rows[j][i] = Object.hasOwn(columns[i], j) ? columns[i][j] : '';
        widths[i] = Math.max(widths[i] || 0, width(v));
      }
    }
    const row = (r) => {
      let out = '│ ';
      for (let i = 0; i < r.length; i++) {
        out += r[i] + ' '.repeat(widths[i] - width(r[i]));
        if (i !== r.length - 1) out += ' │ ';
      }
      return `${out} │`;
    };
    const divider = widths.map((w) => '─'.repeat(w + 2));
    let out = `┌${divider.join('┬')}┐\n${row(head)}\n├${divider.join('┼')}┤\n`;
    for (const r of rows) out += `${row(r)}\n`;
    return `${out}└${divider.join('┴')}┘`;
  }
  method('table', function table(data, properties = undefined) {
    if (properties !== undefined && !Array.isArray(properties)) {
      throw new TypeError('The "properties" argument must be an instance of Array');
    }
    if (data === null || typeof data !== 'object') { ops.print(LOG, ops.format(data)); return; }
    const indexes = (n) => Array.from({ length: n }, (_, i) => cell(i));
    if (data instanceof Map) {
      const keys = [], values = [];
      for (const [k, v] of data) { keys.push(cell(k)); values.push(cell(v)); }
      ops.print(LOG, render(['(iteration index)', 'Key', 'Values'], [indexes(keys.length), keys, values]));
      return;
    }
    if (data instanceof Set) {
      const values = [...data].map(cell);
      ops.print(LOG, render(['(iteration index)', 'Values'], [indexes(values.length), values]));
      return;
    }
    const map = Object.create(null);
    let hasPrimitives = false;
    const primitives = [];
    const indexKeys = Object.keys(data);
    for (let i = 0; i < indexKeys.length; i++) {
      const item = data[indexKeys[i]];
      const primitive = item === null || (typeof item !== 'function' && typeof item !== 'object');
      if (properties === undefined && primitive) {
        hasPrimitives = true;
        primitives[i] = cell(item);
      } else {
        for (const key of properties || Object.keys(item)) {
          map[key] ??= [];
          map[key][i] = (primitive && properties) || !Object.hasOwn(item, key) ? '' : cell(item[key]);
        }
      }
    }
    const keys = Object.keys(map);
    const values = Object.values(map);
    if (hasPrimitives) { keys.push('Values'); values.push(primitives); }
    keys.unshift('(index)');
    values.unshift(indexKeys);
    ops.print(LOG, render(keys, values));
  });
}
